"""Writing many calls at once, the cheapest way each database allows: COPY through a staging table on
PostgreSQL, multi-row upserts on SQLite. Rows are tuples in a fixed column order, keyed by CALL_ID."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from itertools import chain

from sqlalchemy import BigInteger, Boolean, Float, Integer, String, Text

from ..models_base import UtcDateTime, utcnow
from .models import Call

ROWS_PER_STATEMENT = 500  # SQLite: × ~20 parameters stays well under its 32 766
STAGE = "calls_stage"
_TABLE = Call.__table__
# Driver SQL skips the model's Python defaults, so a new row takes them from here.
_DEFAULTS = {c.name: c.default.arg for c in _TABLE.c
             if c.default is not None and c.default.is_scalar and not c.nullable}


def _pg_type(col) -> str:
    t = col.type
    if isinstance(t, UtcDateTime):
        return "timestamptz"
    if isinstance(t, Boolean):
        return "bool"
    if isinstance(t, Float):
        return "float8"
    if isinstance(t, BigInteger):
        return "int8"
    if isinstance(t, Integer):
        return "int4"
    if isinstance(t, String | Text):
        return "text"
    raise TypeError(f"no COPY type for {col.name}")


_MMSS = [f"{m:02d}:{s:02d}" for m in range(60) for s in range(60)]
_HOURS: dict[int, str] = {}  # UTC hour since the epoch → "YYYY-MM-DD HH:"


def sqlite_datetime(value: datetime) -> str:
    """What SQLAlchemy stores for a DateTime in SQLite (UTC digits, microseconds always), cheaply.

    The import writes one per call: whole seconds (all the portal sends) are put together from a
    cached hour and a table of minutes and seconds, at a fifth of the cost of datetime arithmetic
    and isoformat().
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # naive values are UTC digits already (models_base.UtcDateTime)
    if value.microsecond:
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    ts = int(value.timestamp())  # exact for whole seconds
    hour, rest = divmod(ts, 3600)
    prefix = _HOURS.get(hour)
    if prefix is None:
        if len(_HOURS) > 200_000:
            _HOURS.clear()
        prefix = _HOURS[hour] = datetime.fromtimestamp(hour * 3600, UTC).strftime("%Y-%m-%d %H:")
    return prefix + _MMSS[rest] + ".000000"


class CallWriter:
    """Upserts rows of `columns` (CALL_ID first) for one portal on one SQLAlchemy connection.

    `add` hands rows over, `flush` makes them visible in the open transaction; the caller commits.
    A CALL_ID seen twice keeps the row added last. On an existing call only `update` columns change.
    """

    def __init__(self, dialect: str, portal_id: int, columns: tuple[str, ...], *, update: tuple[str, ...],
                 source: str):
        if columns[0] != "call_id":
            raise ValueError("call_id comes first")
        self.columns = columns
        now = utcnow()
        fixed = {"portal_id": portal_id, "source": source, "created_at": now, "updated_at": now}
        fixed.update({k: v for k, v in _DEFAULTS.items() if k not in columns and k not in fixed})
        self.fixed = fixed
        self.update = tuple(update) + ("updated_at",)
        self.pg = dialect == "postgresql"
        self.staged = self.pending = False

    # --- PostgreSQL: binary COPY into a temporary table, then one INSERT … SELECT per flush ----------
    def _stage(self, conn, rows: list[tuple]) -> None:
        raw = conn.connection.driver_connection
        with raw.cursor() as cur:
            if not self.staged:
                cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {STAGE} ON COMMIT DELETE ROWS "
                            f"AS SELECT * FROM {_TABLE.name} WITH NO DATA")
                self.staged = True
            with cur.copy(f"COPY {STAGE} ({', '.join(self.columns)}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types([_pg_type(_TABLE.c[c]) for c in self.columns])
                for row in rows:
                    copy.write_row(row)

    def _merge(self, conn) -> None:
        cols = ", ".join(self.columns)
        extra = list(self.fixed)
        sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in self.update)
        # DISTINCT ON keeps one row per call (the later copy: the stage only ever grows until the merge);
        # ON CONFLICT may not touch a row twice in one statement.
        sql = (f"INSERT INTO {_TABLE.name} ({cols}, {', '.join(extra)}) "
               f"SELECT DISTINCT ON (call_id) {cols}, {', '.join(['%s'] * len(extra))} FROM {STAGE} "
               f"ORDER BY call_id, ctid DESC "
               f"ON CONFLICT (portal_id, call_id) DO UPDATE SET {sets}")
        raw = conn.connection.driver_connection
        with raw.cursor() as cur:
            cur.execute(sql, [self.fixed[k] for k in extra])
            cur.execute(f"TRUNCATE {STAGE}")

    # --- SQLite: multi-row upserts, a few hundred rows a statement --------------------------------------
    def _sqlite_statements(self, rows: list[tuple]) -> list[tuple[str, tuple]]:
        width = len(self.columns)
        dt_cols = [i for i, c in enumerate(self.columns) if isinstance(_TABLE.c[c].type, UtcDateTime)]
        extra = tuple(self.fixed)
        fixed = [sqlite_datetime(v) if isinstance(v, datetime) else v for v in self.fixed.values()]
        out = []
        for start, stop in _statement_spans(len(rows)):
            chunk = rows[start:stop]
            flat = list(chain.from_iterable(chunk))
            for i in dt_cols:
                flat[i::width] = [sqlite_datetime(v) if v is not None else None for v in flat[i::width]]
            out.append((_sqlite_sql(self.columns, extra, self.update, len(chunk)), tuple(fixed + flat)))
        return out

    # --- the interface ----------------------------------------------------------------------------------
    def prepare(self, rows: list[tuple]) -> list:
        """The Python half of `add`, which may run on another thread: the writing thread then mostly
        waits on the database, outside the GIL."""
        # The last row of a CALL_ID wins, as it would if the rows were written one by one.
        if len({r[0] for r in rows}) != len(rows):
            rows = list({r[0]: r for r in rows}.values())
        return rows if self.pg else self._sqlite_statements(rows)

    def add(self, conn, rows: list[tuple], prepared: bool = False) -> None:
        """Write `rows` (or what `prepare` made of them) on the SQLAlchemy connection `conn`."""
        if not rows:
            return
        work = rows if prepared else self.prepare(rows)
        if self.pg:
            self._stage(conn, work)
            self.pending = True
        else:
            for sql, params in work:
                conn.exec_driver_sql(sql, params)

    def flush(self, conn) -> None:
        if self.pending:
            self._merge(conn)
            self.pending = False


def _statement_spans(n: int) -> list[tuple[int, int]]:
    """Full statements, then the rest in power-of-two sizes: the driver keeps every distinct statement
    it prepared (a VALUES list this long compiles to megabytes), so only a dozen shapes may exist."""
    spans, start = [], 0
    while n - start >= ROWS_PER_STATEMENT:
        spans.append((start, start + ROWS_PER_STATEMENT))
        start += ROWS_PER_STATEMENT
    size = 1 << (ROWS_PER_STATEMENT.bit_length() - 1)
    while start < n:
        if n - start >= size:
            spans.append((start, start + size))
            start += size
        size >>= 1
    return spans


@functools.lru_cache(maxsize=32)
def _sqlite_sql(columns: tuple[str, ...], extra: tuple[str, ...], update: tuple[str, ...], n: int) -> str:
    values = ", ".join(["(" + ", ".join(["?"] * len(columns)) + ")"] * n)
    fixed = ", ".join(["?"] * len(extra))
    sets = ", ".join(f"{c} = excluded.{c}" for c in update)
    # The constant columns are bound once per statement; `WHERE true` lets SQLite parse the upsert clause.
    return (f"INSERT INTO {_TABLE.name} ({', '.join(columns)}, {', '.join(extra)}) "
            f"SELECT v.*, {fixed} FROM (VALUES {values}) AS v WHERE true "
            f"ON CONFLICT (portal_id, call_id) DO UPDATE SET {sets}")

