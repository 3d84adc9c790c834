"""The one look of every sheet the app writes (the report workbook and «Выгрузить в Excel»): a title block with
the period and build time, a bold frozen header with an autofilter, number formats by column kind, widths that
fit, bad values marked — streamed in openpyxl's write-only mode, so a sheet of 100 000 calls stays small in memory.

Write-only sheets take their widths and frozen rows before the first row, so `TableSheet` measures the header and
the first rows it is given (a sample) and fixes the widths then; later rows only stream.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import islice

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

# Column kinds → Excel number formats. Shares are stored as 0..1 and shown as percents; durations as
# seconds or minutes (numbers, so they sum and sort), or as a [h]:mm:ss time where a clock reads better.
FORMATS = {
    "text": "General",
    "int": "#,##0",
    "float": "#,##0.0",
    "percent": "0.0%",
    "seconds": "#,##0",
    "minutes": "#,##0.0",
    "hours": "#,##0.0",
    "duration": "[h]:mm:ss",        # value: seconds (converted to a day fraction here)
    "datetime": "DD.MM.YYYY HH:MM",
    "date": "DD.MM.YYYY",
    "link": "General",              # value: (text, url) → a HYPERLINK formula
}
NUMERIC = {"int", "float", "percent", "seconds", "minutes", "hours", "duration"}
TITLE_FONT = Font(bold=True, size=13)
NOTE_FONT = Font(italic=True, color="666666")
HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDE6F0")
LINK_FONT = Font(color="0563C1", underline="single")
BAD_FILL = PatternFill("solid", fgColor="FFC7CE")
BAD_FONT = Font(color="9C0006")
GOOD_FILL = PatternFill("solid", fgColor="C6EFCE")
GOOD_FONT = Font(color="006100")
SAMPLE_ROWS = 200
MAX_WIDTH = 60
SHEET_TITLE_MAX = 31  # Excel's limit on a sheet's name


def new_workbook() -> Workbook:
    return Workbook(write_only=True)


@dataclass(frozen=True)
class Column:
    title: str
    kind: str = "text"               # a key of FORMATS
    width: int | None = None         # characters; None: fit the header and the sample
    bad_above: float | None = None   # mark values above (shares as 0..1) in red
    bad_below: float | None = None   # mark values below in red


def _excel_text(value) -> str:
    return "" if value is None else str(value)


def _display_len(value, kind: str) -> int:
    if value is None:
        return 0
    if kind == "link" and isinstance(value, tuple):
        return len(_excel_text(value[0]))
    if kind == "datetime":
        return 16
    if kind == "date":
        return 10
    if kind == "percent" and isinstance(value, (int, float)):
        return 7
    if isinstance(value, float):
        return len(f"{value:,.1f}")
    if isinstance(value, int):
        return len(f"{value:,}")
    return max((len(part) for part in _excel_text(value).split("\n")), default=0)


def _quote(text: str) -> str:
    return text.replace('"', '""')


class TableSheet:
    """One sheet: title block (title, period, build time, an optional note), then one table.

    `rows` are sequences of plain values in the columns' order: None is an empty cell (no data, never 0);
    a "link" column takes (text, url) or None; datetimes must already be in the portal's time zone (naive
    or aware — Excel has no zones, so the zone's name goes into the title block).
    """

    def __init__(self, wb: Workbook, title: str, columns: Sequence[Column], *, heading: str, period: str,
                 built: str, note: str = "", sample: Sequence[Sequence] = ()):
        self.ws = wb.create_sheet(title[:SHEET_TITLE_MAX])
        self.columns = list(columns)
        self.header_row = 5 if note else 4
        self.rows = 0
        for i, col in enumerate(self.columns, start=1):
            width = col.width or min(MAX_WIDTH, max([len(col.title)] + [
                _display_len(r[i - 1], col.kind) for r in islice(sample, SAMPLE_ROWS) if i - 1 < len(r)]) + 2)
            self.ws.column_dimensions[get_column_letter(i)].width = max(8, width)
        self.ws.freeze_panes = f"A{self.header_row + 1}"
        self._cell_row([(heading, TITLE_FONT)])
        self._cell_row([(period, None)])
        self._cell_row([(built, NOTE_FONT)])
        if note:
            self._cell_row([(note, NOTE_FONT)])
        header = []
        for col in self.columns:
            c = WriteOnlyCell(self.ws, value=col.title)
            c.font, c.fill = HEADER_FONT, HEADER_FILL
            c.alignment = Alignment(wrap_text=True, vertical="top")
            header.append(c)
        self.ws.append(header)

    def _cell_row(self, values: list[tuple]) -> None:
        cells = []
        for value, font in values:
            c = WriteOnlyCell(self.ws, value=value)
            if font is not None:
                c.font = font
            cells.append(c)
        self.ws.append(cells)

    def cell(self, value, kind: str):
        c = WriteOnlyCell(self.ws)
        if value is None:
            return c
        if kind == "link":
            text, url = value if isinstance(value, tuple) else (value, None)
            if url:
                c.value = f'=HYPERLINK("{_quote(str(url))}","{_quote(_excel_text(text))}")'
                c.font = LINK_FONT
            else:
                c.value = _excel_text(text)
            return c
        if kind == "duration" and isinstance(value, (int, float)):
            value = value / 86400
        if isinstance(value, datetime) and value.tzinfo is not None:
            value = value.replace(tzinfo=None)
        c.value = value
        if isinstance(value, str) and value.startswith("="):
            c.data_type = "s"  # a name or comment typed by someone is text, never a formula
        if kind in FORMATS and kind not in ("text", "link"):
            c.number_format = FORMATS[kind]
        return c

    def append(self, row: Sequence) -> None:
        self.ws.append([self.cell(v, col.kind) for v, col in zip(row, self.columns, strict=False)])
        self.rows += 1

    def extend(self, rows: Iterable[Sequence]) -> None:
        for row in rows:
            self.append(row)

    @property
    def first_data_row(self) -> int:
        return self.header_row + 1

    @property
    def last_row(self) -> int:
        return self.header_row + self.rows

    def column_range(self, index: int) -> str:
        """"C6:C105": a data column's cells (index from 0)."""
        letter = get_column_letter(index + 1)
        return f"{letter}{self.first_data_row}:{letter}{max(self.first_data_row, self.last_row)}"

    def finish(self, autofilter: bool = True) -> None:
        """Autofilter over the table and the bad-value marks; call after the last row."""
        if autofilter and self.columns:
            last = get_column_letter(len(self.columns))
            self.ws.auto_filter.ref = f"A{self.header_row}:{last}{max(self.header_row, self.last_row)}"
        if not self.rows:
            return
        for i, col in enumerate(self.columns):
            top = f"{get_column_letter(i + 1)}{self.first_data_row}"
            for op, limit in ((">", col.bad_above), ("<", col.bad_below)):
                if limit is not None:
                    # ISNUMBER: an empty cell (no data) is not a zero and is never marked
                    self.ws.conditional_formatting.add(self.column_range(i), FormulaRule(
                        formula=[f"AND(ISNUMBER({top}),{top}{op}{float(limit)!r})"], fill=BAD_FILL, font=BAD_FONT))


def sheet_dates(first: date, last: date) -> str:
    return f"{first:%d.%m.%Y} — {last:%d.%m.%Y}"
