"""The pivot (REQUIREMENTS C7): any two dimensions of the cube as rows and columns and one key figure as
the measure, with totals per row, per column and overall.

Every cell, row total, column total and the grand total is a `Figures` of summed counts, and the measure
is read from it — so a share (service level, missed %) of a total is the share of the summed calls,
never a sum or mean of the cells' shares. A department is the sum of its members' calls (with its
sub-departments): a user in two departments is in both rows, while the totals count each call once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date

from . import cube
from .metrics import Figures
from .summary import KEY_FIGURES, KeyFigure
from .view import ViewError

DIMENSIONS = ("manager", "department", "line", "direction", "scenario", "topic", "day", "weekday", "month")
_CUBE = {"manager": "user", "department": "user", "line": "line", "direction": "direction",
         "scenario": "scenario", "topic": "topic", "day": "day", "weekday": "weekday", "month": "month"}
TIME = ("day", "weekday", "month")
CODED = ("direction", "scenario")        # few fixed values, shown in their own order
MEASURES: dict[str, KeyFigure] = {k.key: k for k in KEY_FIGURES}
MAX_ROWS, MAX_COLS = 100, 40             # a year of days × every manager stays a page, not a spreadsheet
NONE = "none"                            # cols:none — one column, the row totals


@dataclass(frozen=True)
class Spec:
    rows: str
    cols: str            # a dimension, or NONE
    measure: str

    @property
    def text(self) -> str:
        """The URL state `group=` (ViewState allows letters, digits, «_», «.» and «:»)."""
        return f"rows:{self.rows}.cols:{self.cols}.measure:{self.measure}"


DEFAULT = Spec("manager", "direction", "incoming")


def parse_spec(raw: str) -> Spec:
    """`rows:<dim>.cols:<dim|none>.measure:<key>` (parts in any order, missing ones default); anything
    unknown, repeated or rows equal to columns is a ViewError (400)."""
    if not raw:
        return DEFAULT
    parts: dict[str, str] = {}
    for piece in raw.split("."):
        name, sep, value = piece.partition(":")
        if not sep or name not in ("rows", "cols", "measure") or name in parts:
            raise ViewError("analytics.pivot_bad_group")
        parts[name] = value
    return checked(parts.get("rows", DEFAULT.rows), parts.get("cols", DEFAULT.cols),
                   parts.get("measure", DEFAULT.measure))


def checked(rows: str, cols: str, measure: str) -> Spec:
    if rows not in DIMENSIONS or (cols not in DIMENSIONS and cols != NONE):
        raise ViewError("analytics.pivot_bad_dimension")
    if measure not in MEASURES:
        raise ViewError("analytics.pivot_bad_measure")
    if rows == cols:
        raise ViewError("analytics.pivot_same_dimension")
    return Spec(rows, cols, measure)


@dataclass
class Pivot:
    spec: Spec
    rows: list                                   # row keys shown, in order
    cols: list                                   # column keys shown (one `None` for cols:none)
    cells: dict = field(default_factory=dict)    # (row key, col key) → Figures
    row_totals: dict = field(default_factory=dict)
    col_totals: dict = field(default_factory=dict)
    total: Figures = field(default_factory=Figures)
    rows_all: int = 0                            # before the cap
    cols_all: int = 0

    @property
    def measure(self) -> KeyFigure:
        return MEASURES[self.spec.measure]

    def value(self, f: Figures | None):
        return self.measure.value(f if f is not None else Figures())

    @property
    def truncated(self) -> bool:
        return self.rows_all > len(self.rows) or self.cols_all > len(self.cols)


def _sum(into: dict, key, f: Figures) -> None:
    into.setdefault(key, Figures()).add(f)


def build(q: cube.Query, spec: Spec, *, departments: Mapping[int, frozenset[int]] | None = None,
          now=None, settings=None) -> Pivot:
    """The pivot of `q`; `departments` (id → its users) is needed when a side is «department»."""
    one_col = spec.cols == NONE
    dims = (spec.rows,) if one_col else (spec.rows, spec.cols)
    raw = cube.figures(q, tuple(_CUBE[d] for d in dims), now=now, settings=settings)
    cells: dict = {}
    row_totals: dict = {}
    col_totals: dict = {}
    total = Figures()
    dept_at = dims.index("department") if "department" in dims else None
    members: dict[int, list[int]] = {}
    for did, users in (departments or {}).items():
        for u in users:
            members.setdefault(u, []).append(did)
    for key, f in raw.items():
        r, c = (key[0], None) if one_col else key
        total.add(f)
        # The other side's total takes the call once, whatever departments its manager is in.
        if dept_at != 0:
            _sum(row_totals, r, f)
        if dept_at != 1:
            _sum(col_totals, c, f)
        if dept_at is None:
            _sum(cells, (r, c), f)
            continue
        for did in members.get(key[dept_at], ()):
            rr, cc = (did, c) if dept_at == 0 else (r, did)
            _sum(cells, (rr, cc), f)
            _sum(row_totals if dept_at == 0 else col_totals, did, f)
    p = Pivot(spec, [], [], cells, row_totals, col_totals, total)
    p.rows, p.rows_all = _ordered(spec.rows, row_totals, p.value, MAX_ROWS)
    if one_col:
        p.cols, p.cols_all, p.col_totals = [None], 1, {None: total}
    else:
        p.cols, p.cols_all = _ordered(spec.cols, col_totals, p.value, MAX_COLS)
    return p


def _ordered(dim: str, totals: dict, value: Callable, cap: int) -> tuple[list, int]:
    """Time in its order (the latest `cap` when cut), coded values in code order (other directions
    last), the rest by the measure, largest first, «нет данных» last."""
    keys = list(totals)
    if dim in TIME:
        keys.sort()
        return keys[-cap:], len(keys)
    if dim in CODED:
        keys.sort(key=lambda k: (k == 0, k))
    else:
        def rank(k):
            v = value(totals[k])
            return (v is None, -(v or 0), k == 0, str(k))
        keys.sort(key=rank)
    return keys[:cap], len(keys)


# --- labels -------------------------------------------------------------------------------------------

def key_json(key):
    return key.isoformat() if isinstance(key, date) else key

