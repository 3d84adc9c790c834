"""Rows of a large sheet (the report's «Звонки»: every call of a quarter) written straight as sheet XML.

openpyxl's write-only mode keeps memory flat but builds an XML element per cell: 100 000 calls × 17 columns
took 9 s here. `stream` writes the same cells — the values, number formats, link formulas and text rules of
`xlsx.TableSheet.cell` — as ready-made XML through the sheet's own writer, about six times faster. It relies
on two internals of openpyxl 3.1 (pinned in requirements.txt): the write-only sheet's row hooks and the
standard-library XML writer's output function; where either is missing (another openpyxl, or lxml
installed, whose writer takes elements only) it falls back to `TableSheet.append`, the same cells slower.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from xml.sax.saxutils import escape

from openpyxl import LXML
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import to_excel

from . import xlsx
from .xlsx import TableSheet


class _Values(tuple):
    """A row for the fast writer: the plain values, one per column."""


_EPOCH = datetime(1899, 12, 30)  # Excel's day 0 (1900 date system), for days after 1 March 1900


def _text(value) -> str:
    s = value if isinstance(value, str) else str(value)
    if not s.isprintable() and ILLEGAL_CHARACTERS_RE.search(s):
        s = ILLEGAL_CHARACTERS_RE.sub("", s)  # control characters are not allowed in the file's XML
    if "&" in s or "<" in s or ">" in s:
        s = escape(s)
    return s


def _inline(ref: str, style: str, value) -> str:
    s = _text(value)
    space = ' xml:space="preserve"' if s[:1].isspace() or s[-1:].isspace() else ""
    return f'<c r="{ref}"{style} t="inlineStr"><is><t{space}>{s}</t></is></c>'


class _Writer:
    def __init__(self, sheet: TableSheet):
        ws = sheet.ws
        self.letters = [get_column_letter(i + 1) for i in range(len(sheet.columns))]
        link = WriteOnlyCell(ws)
        link.font = xlsx.LINK_FONT
        self.link_style = f' s="{link.style_id}"'
        self.epoch = ws.parent.epoch
        self.encoders = []
        for col in sheet.columns:
            style = ""
            if col.kind in xlsx.FORMATS and col.kind not in ("text", "link"):
                c = WriteOnlyCell(ws)
                c.number_format = xlsx.FORMATS[col.kind]
                style = f' s="{c.style_id}"'
            self.encoders.append(self._encoder(col.kind, style))

    def _encoder(self, kind: str, style: str):
        """A function (ref, value) → the cell's XML, the common type of the column tried first."""
        generic = self._generic
        if kind == "link":
            return self._link
        if kind == "datetime" and self.epoch == _EPOCH:
            def moment(ref, value):
                if type(value) is datetime:  # noqa: E721 (a subclass such as pandas' takes the general way)
                    if value.tzinfo is not None:
                        value = value.replace(tzinfo=None)
                    d = value - _EPOCH
                    if d.days > 60:
                        return f'<c r="{ref}"{style}><v>{d.days + d.seconds / 86400 + d.microseconds / 86400e6:.16g}</v></c>'
                return generic(ref, value, kind, style)
            return moment
        if kind == "text":
            def text(ref, value):
                if type(value) is str:  # noqa: E721
                    return _inline(ref, "", value)
                return generic(ref, value, kind, style)
            return text
        return lambda ref, value: generic(ref, value, kind, style)

    def _link(self, ref: str, value) -> str:
        text, url = value if isinstance(value, tuple) else (value, None)
        if url:
            formula = f'HYPERLINK("{xlsx._quote(str(url))}","{xlsx._quote(xlsx._excel_text(text))}")'
            return f'<c r="{ref}"{self.link_style}><f>{_text(formula)}</f></c>'
        return _inline(ref, "", xlsx._excel_text(text))

    def _generic(self, ref: str, value, kind: str, style: str) -> str:
        if isinstance(value, bool):
            return f'<c r="{ref}"{style} t="b"><v>{int(value)}</v></c>'
        if isinstance(value, (int, float)):
            if isinstance(value, float) and not math.isfinite(value):
                return ""
            if kind == "duration":
                value = value / 86400
            text = str(value) if type(value) is int else f"{value:.16g}"  # noqa: E721 (as openpyxl writes numbers)
            return f'<c r="{ref}"{style}><v>{text}</v></c>'
        if isinstance(value, (datetime, date)):
            if isinstance(value, datetime) and value.tzinfo is not None:
                value = value.replace(tzinfo=None)
            return f'<c r="{ref}"{style}><v>{to_excel(value, self.epoch):.16g}</v></c>'
        return _inline(ref, style, value)  # text; a leading "=" stays text, as in TableSheet.cell

    def row(self, values: Sequence, row_idx: int) -> str:
        r = str(row_idx)
        parts = [f'<row r="{r}">']
        for encode, letter, value in zip(self.encoders, self.letters, values):  # noqa: B905 (a short row is fine)
            if value is not None:
                parts.append(encode(letter + r, value))
        parts.append("</row>")
        return "".join(parts)


def _hooked(sheet: TableSheet) -> _Writer | None:
    """Route `_Values` rows of this sheet through the fast writer; None where openpyxl does not allow it."""
    ws = sheet.ws
    writer = getattr(ws, "_writer", None)
    if LXML or writer is None or not hasattr(ws, "_values_to_row") or not hasattr(writer, "write_row"):
        return None
    fast = getattr(ws, "_fast_rows", None)
    if fast is not None:
        return fast
    fast = _Writer(sheet)
    plain_values, plain_write = ws._values_to_row, writer.write_row

    def values_to_row(values, row_idx):
        return values if isinstance(values, _Values) else plain_values(values, row_idx)

    def write_row(xf, row, row_idx):
        out = getattr(xf, "_file", None)
        if not isinstance(row, _Values) or out is None:
            return plain_write(xf, row if not isinstance(row, _Values) else plain_values(
                [sheet.cell(v, c.kind) for v, c in zip(row, sheet.columns, strict=False)], row_idx), row_idx)
        out(fast.row(row, row_idx))

    ws._values_to_row, writer.write_row, ws._fast_rows = values_to_row, write_row, fast
    return fast


def stream(sheet: TableSheet, rows: Iterable[Sequence]) -> int:
    """Append `rows` (plain values in the columns' order, as `TableSheet.append` takes them) to the sheet's
    table; the number of rows written. The sheet must have had its header written (TableSheet does)."""
    fast = _hooked(sheet)
    n = 0
    if fast is None:
        for row in rows:
            sheet.append(row)
            n += 1
        return n
    append = sheet.ws.append
    for row in rows:
        append(_Values(row))
        n += 1
    sheet.rows += n
    return n
