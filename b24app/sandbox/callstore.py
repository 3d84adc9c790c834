"""The statistics table in memory: ID, date and hash-order indexes over immutable snapshots, and the
query planner statistic.get uses (index slice, lazy walk or cached match list)."""

from __future__ import annotations

import bisect
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timezone
from typing import Any

from .calldata import COLUMNS, HKEY, ID, JSON, PAGE, START, Operator, complete_row, generate_rows, row_tuple


class _Snapshot:
    """One immutable version of the table; adding rows builds a new one (readers never lock)."""

    def __init__(self, by_id: list[tuple], by_hash: list[tuple], version: int):
        self.by_id = by_id
        self.ids = [r[ID] for r in by_id]
        self.by_hash = by_hash
        self.version = version
        self._by_date: list[tuple] | None = None
        self._dates: list[float] | None = None
        self._lock = threading.Lock()

    def by_date(self) -> tuple[list[tuple], list[float]]:
        if self._by_date is None:
            with self._lock:
                if self._by_date is None:
                    rows = sorted(self.by_id, key=lambda r: (r[START], r[ID]))
                    self._dates = [r[START] for r in rows]
                    self._by_date = rows
        return self._by_date, self._dates  # type: ignore[return-value]


@dataclass
class Query:
    """What statistic.get asks the store for. Ranges are pre-filters; `predicate` decides."""

    predicate: Callable[[tuple], bool] | None = None
    id_range: tuple[float, float] | None = None  # inclusive
    date_range: tuple[float, float] | None = None  # inclusive
    exact_ranges: bool = False  # True when `id_range` alone is the whole filter (no per-row check needed)
    order: tuple[str, bool] | None = None  # (column, descending); None = the stable hash order
    order_key: Callable[[tuple], Any] | None = None  # for columns outside the tuple
    offset: int = 0
    count: bool = True
    signature: str = ""  # canonical text of the filter, for the match-list cache


@dataclass
class QueryResult:
    rows: list[tuple]
    total: int | None
    matched: int  # rows counted (0 without COUNT)


class CallStore:
    """The statistics table. Thread-safe: queries read a snapshot; writers swap it under a lock."""

    def __init__(self, tz: timezone, seed: int = 1):
        self.tz = tz
        self.seed = seed
        self._write = threading.Lock()
        self._snap = _Snapshot([], [], 0)
        self._cache: OrderedDict[tuple, list[tuple]] = OrderedDict()
        self._cache_lock = threading.Lock()

    # --- reading -----------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._snap.by_id)

    @property
    def max_id(self) -> int:
        ids = self._snap.ids
        return ids[-1] if ids else 0

    def ids(self) -> list[int]:
        return list(self._snap.ids)

    def get(self, row_id: int) -> dict | None:
        snap = self._snap
        i = bisect.bisect_left(snap.ids, row_id)
        if i < len(snap.ids) and snap.ids[i] == row_id:
            return snap.by_id[i][JSON].data
        return None

    def query(self, q: Query, limit: int = PAGE) -> QueryResult:
        snap = self._snap
        offset = q.offset
        source, lo, hi, kind = self._source(snap, q)
        # Exact ID ranges need no per-row check once the slice is cut from the ID index.
        predicate = None if (q.exact_ranges and kind in ("id", "all")) else q.predicate
        order = q.order

        # Ordered by the index we are walking: lazily, stopping early when no COUNT is needed.
        if order is not None and order[0] in ("ID", "CALL_START_DATE") and (
                kind == ("id" if order[0] == "ID" else "date") or kind == "all"):
            if kind == "all" and order[0] == "CALL_START_DATE":
                source, dates = snap.by_date()
                lo, hi = 0, len(source)
            idx = range(hi - 1, lo - 1, -1) if order[1] else range(lo, hi)
            if predicate is None:
                total = hi - lo
                page = [source[i] for i in idx[offset:offset + limit]]
                return QueryResult(page, total if q.count else None, total if q.count else 0)
            return self._walk((source[i] for i in idx), predicate, offset, limit, q.count)

        if order is None and kind == "all":
            rows = snap.by_hash
            if predicate is None:
                return QueryResult(rows[offset:offset + limit], len(rows) if q.count else None,
                                   len(rows) if q.count else 0)
            if not q.count:
                return self._walk(iter(rows), predicate, offset, limit, False)

        if order is None and kind != "all" and hi - lo > 20000 and not q.count:
            # A wide range in hash order: walking the global hash order finds 50 matches quickly.
            return self._walk(iter(snap.by_hash), q.predicate, offset, limit, False)

        matches = self._matches(snap, q, source, lo, hi, predicate)
        total = len(matches)
        return QueryResult(matches[offset:offset + limit], total if q.count else None, total if q.count else 0)

    def _source(self, snap: _Snapshot, q: Query) -> tuple[list[tuple], int, int, str]:
        """The smallest index slice that holds every possible match."""
        best = (snap.by_id, 0, len(snap.by_id), "all")
        if q.id_range is not None:
            lo = bisect.bisect_left(snap.ids, q.id_range[0])
            hi = bisect.bisect_right(snap.ids, q.id_range[1])
            best = (snap.by_id, lo, max(lo, hi), "id")
        if q.date_range is not None:
            rows, dates = snap.by_date()
            lo = bisect.bisect_left(dates, q.date_range[0])
            hi = max(lo, bisect.bisect_right(dates, q.date_range[1]))
            if hi - lo < best[2] - best[1]:
                best = (rows, lo, hi, "date")
        return best

    def _matches(self, snap, q: Query, source, lo, hi, predicate) -> list[tuple]:
        key = (snap.version, q.signature, q.order)
        if q.signature:
            with self._cache_lock:
                hit = self._cache.get(key)
                if hit is not None:
                    self._cache.move_to_end(key)
                    return hit
        rows = source[lo:hi] if predicate is None else [r for r in source[lo:hi] if predicate(r)]
        if q.order is None:
            rows.sort(key=lambda r: r[HKEY])
        else:
            column, desc = q.order
            if q.order_key is not None:
                get = q.order_key
            else:
                index = COLUMNS[column]
                def get(r, index=index):  # noqa: E306
                    return r[index]
            # Ties fall back to the hash order, as a database gives no promise about them.
            rows.sort(key=lambda r: r[HKEY])
            rows.sort(key=lambda r: _sortable(get(r)), reverse=desc)
        if q.signature:
            with self._cache_lock:
                self._cache[key] = rows
                while len(self._cache) > 8:
                    self._cache.popitem(last=False)
        return rows

    @staticmethod
    def _walk(rows: Iterator[tuple], predicate, offset: int, limit: int, count: bool) -> QueryResult:
        page: list[tuple] = []
        matched = 0
        want = offset + limit
        for row in rows:
            if predicate is not None and not predicate(row):
                continue
            if offset <= matched < want:
                page.append(row)
            matched += 1
            if not count and matched >= want:
                break
        return QueryResult(page, matched if count else None, matched if count else 0)

    # --- writing -----------------------------------------------------------------------------------

    def replace(self, rows: list[tuple]) -> None:
        rows = sorted(rows, key=lambda r: r[ID])
        snap = _Snapshot(rows, sorted(rows, key=lambda r: r[HKEY]), self._snap.version + 1)
        snap.by_date()  # built now, so the first date-filtered call is not the one that pays for it
        with self._write:
            self._snap = snap
        with self._cache_lock:
            self._cache.clear()

    def add(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Write one row (as a finished call would); missing fields get defaults. Returns the row."""
        return self.add_many([fields])[0]

    def add_many(self, items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        with self._write:
            snap = self._snap
            by_id, by_hash, ids = list(snap.by_id), list(snap.by_hash), list(snap.ids)
            out, new_rows = [], []
            for fields in items:
                row_id = int(fields.get("ID") or 0) or (ids[-1] + 1 if ids else 1)
                i = bisect.bisect_left(ids, row_id)
                if i < len(ids) and ids[i] == row_id:
                    raise ValueError(f"row ID {row_id} already exists")
                data = complete_row(row_id, fields, self.tz)
                row = row_tuple(data, self.tz, self.seed)
                ids.insert(i, row_id)
                by_id.insert(i, row)
                bisect.insort(by_hash, row, key=lambda r: r[HKEY])
                new_rows.append(row)
                out.append(data)
            fresh = _Snapshot(by_id, by_hash, snap.version + 1)
            if snap._by_date is not None:  # keep the date index warm: insert instead of re-sorting
                by_date, dates = list(snap._by_date), list(snap._dates or [])
                for row in new_rows:
                    j = bisect.bisect_right(dates, row[START])
                    by_date.insert(j, row)
                    dates.insert(j, row[START])
                fresh._by_date, fresh._dates = by_date, dates
            self._snap = fresh
        with self._cache_lock:
            self._cache.clear()
        return out

    def update(self, row_id: int, fields: dict[str, Any]) -> dict[str, Any] | None:
        """Change fields of a stored row, as the portal does when a recording is attached later."""
        with self._write:
            snap = self._snap
            i = bisect.bisect_left(snap.ids, row_id)
            if i >= len(snap.ids) or snap.ids[i] != row_id:
                return None
            old = snap.by_id[i]
            current = old[JSON].data
            data = complete_row(row_id, {**(json.loads(current) if isinstance(current, (bytes, str)) else current),
                                         **fields}, self.tz)
            fresh = row_tuple(data, self.tz, self.seed)
            fresh = fresh + tuple(old[len(fresh):])  # extra slots (e.g. the demo's ring wait) stay
            rows = [fresh if r[ID] == row_id else r for r in snap.by_id]
        self.replace(rows)
        return data

    def generate(self, n: int, operators: list[Operator], until: float, days: int = 90) -> None:
        """Replace the table with `n` deterministic rows over the `days` before `until`."""
        self.replace(generate_rows(n, operators, until, days, self.seed, self.tz))


def _sortable(value: Any) -> tuple:
    # NULLs first in ascending order, numbers before text, like a SQL ORDER BY would give.
    if value is None:
        return (0, 0, "")
    if isinstance(value, (int, float)):
        return (1, value, "")
    try:
        return (1, float(value), "")
    except (TypeError, ValueError):
        return (2, 0, str(value).lower())
