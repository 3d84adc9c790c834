"""Writing call facts: one upsert keyed by (portal, CALL_ID), so any number of deliveries make one row."""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from sqlalchemy import select

from ..extensions import db
from ..models_base import UtcDateTime, utcnow
from ..portals.models import PortalUser
from . import facts
from .models import Call, CallSettings
from .rules import CallFacts, Rules, classify

# Columns a statistics row overwrites (event-only ones, like ring and answer times, are kept).
STAT_UPDATE = facts.STAT_COLUMNS + ("ended", "enriched", "conversation", "selection")
ROBOT_REASONS = ("voicemail", "автоответчик", "robot", "робот", "ivr")
_NO_DEPARTMENTS: frozenset[int] = frozenset()


def rules_for(portal_id: int) -> Rules:
    row = db.session.scalar(select(CallSettings).where(CallSettings.portal_id == portal_id))
    raw = dict(row.rules) if row and row.rules else {}
    for key in ("directions", "user_ids", "department_ids"):
        if key in raw:
            raw[key] = frozenset(raw[key])
    return Rules(**raw)


def user_departments(portal_id: int) -> dict[int, set[int]]:
    rows = db.session.execute(select(PortalUser.user_id, PortalUser.departments)
                              .where(PortalUser.portal_id == portal_id)).all()
    return {uid: set(deps or []) for uid, deps in rows}


def decide(values: dict, rules: Rules, departments: dict[int, set[int]]) -> None:
    """Fill `conversation` and `selection` for a row that has its final facts."""
    if values.get("call_type") is None:
        return
    reason = (values.get("failed_reason") or "").lower()
    robot = bool(reason) and any(w in reason for w in ROBOT_REASONS)
    facts = CallFacts(call_type=values["call_type"], duration=values.get("duration") or 0,
                      failed_code=values.get("failed_code") or "", line=values.get("portal_number") or "",
                      user_id=values.get("portal_user_id"),
                      answered_by_robot=robot)
    d = classify(facts, rules, departments.get(values.get("portal_user_id") or 0, _NO_DEPARTMENTS))
    values["conversation"], values["selection"] = d.conversation, d.outcome


ROWS_PER_STATEMENT = 500  # × ~30 columns stays under SQLite's 32 766 and PostgreSQL's 65 535 parameters
_SHAPES: dict[tuple, tuple[str, str, list]] = {}
# Driver SQL skips the model's Python defaults, so a new row takes them from here.
_DEFAULTS = {c.name: c.default.arg for c in Call.__table__.c
             if c.default is not None and c.default.is_scalar and c.name not in ("source",)}


def _shape(dialect, columns: tuple[str, ...], update: tuple[str, ...]) -> tuple[str, str, list]:
    """(head, tail, bind processors) of the multi-row upsert for one set of columns, built once."""
    key = (dialect.name, columns, update)
    if key not in _SHAPES:
        table = Call.__table__
        head = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES "
        tail = (" ON CONFLICT (portal_id, call_id) DO UPDATE SET "
                + ", ".join(f"{c} = excluded.{c}" for c in update))
        procs = [_bind_processor(table.c[c].type, dialect) for c in columns]
        _SHAPES[key] = (head, tail, procs)
    return _SHAPES[key]


def _sqlite_datetime(value: datetime) -> str:
    """What SQLAlchemy stores for a DateTime in SQLite, in UTC, at a fraction of its formatter's cost."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")


def _bind_processor(type_, dialect):
    if dialect.name == "sqlite" and isinstance(type_, UtcDateTime):
        return _sqlite_datetime
    return type_._cached_bind_processor(dialect)


@functools.lru_cache(maxsize=64)
def _values_sql(dialect_name: str, width: int, n: int) -> str:
    if dialect_name == "postgresql":  # numbered, for a raw cursor: psycopg would re-parse each long query
        return ", ".join("(" + ", ".join(f"${r * width + c + 1}" for c in range(width)) + ")" for r in range(n))
    return ", ".join(["(" + ", ".join(["?"] * width) + ")"] * n)


def upsert_statements(dialect, portal_id: int, rows: list[dict], *, update: tuple[str, ...],
                      source: str) -> list[tuple[str, tuple, int]]:
    """Driver statements that insert or update `rows` by CALL_ID; only the `update` columns of an existing row change.

    Several hundred rows go in one multi-row statement with flat parameters: the import writes
    millions of rows, and a statement per row (or a Core statement per batch) costs more than the
    database work itself, and hands the GIL back and forth once per row.
    """
    now = utcnow()
    extra = {"portal_id": portal_id, "source": source, "created_at": now, "updated_at": now, **_DEFAULTS}
    columns = tuple(rows[0]) + tuple(k for k in extra if k not in rows[0])
    head, tail, procs = _shape(dialect, columns, tuple(update) + ("updated_at",))
    n_row = len(rows[0])
    fixed = [proc(v) if proc is not None else v
             for v, proc in zip((extra[c] for c in columns[n_row:]), procs[n_row:], strict=True)]
    conv = [(i, p) for i, p in enumerate(procs[:n_row]) if p is not None]
    width = len(columns)
    out = []
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        chunk = rows[start:start + ROWS_PER_STATEMENT]
        flat: list = []
        for r in chunk:
            values = [r[c] for c in columns[:n_row]]
            for i, proc in conv:
                if values[i] is not None:
                    values[i] = proc(values[i])
            flat += values
            flat += fixed
        out.append((head + _values_sql(dialect.name, width, len(chunk)) + tail, tuple(flat), len(chunk)))
    return out


def execute_statement(conn, sql: str, params: tuple) -> None:
    """Run one statement of `upsert_statements` on an SQLAlchemy connection."""
    if conn.dialect.name == "postgresql":
        import psycopg

        with psycopg.RawCursor(conn.connection.driver_connection) as cur:
            cur.execute(sql, params, prepare=True)  # one plan per statement shape, not one per 500 rows
    else:
        conn.exec_driver_sql(sql, params)


def upsert(portal_id: int, rows: list[dict], *, update: tuple[str, ...], source: str, commit: bool = True) -> None:
    """Insert or update calls by CALL_ID; only the `update` columns of an existing row change."""
    if not rows:
        return
    conn = db.session.connection()
    for sql, params, _ in upsert_statements(conn.dialect, portal_id, rows, update=update, source=source):
        execute_statement(conn, sql, params)
    if commit:
        db.session.commit()


def call_by_call_id(portal_id: int, call_id: str) -> Call | None:
    return db.session.scalar(select(Call).where(Call.portal_id == portal_id, Call.call_id == call_id))


def statistics_values(rows: list[dict], rules: Rules, departments: dict[int, set[int]]) -> list[dict]:
    """voximplant.statistic.get rows → complete, classified column values (rows without CALL_ID dropped)."""
    values = []
    for r in rows:
        v = facts.from_statistic(r)
        if not v["call_id"]:
            continue
        v["ended"] = v["enriched"] = True
        decide(v, rules, departments)
        values.append(v)
    return values


def save_statistics(portal_id: int, rows: list[dict], source: str, rules: Rules,
                    departments: dict[int, set[int]], commit: bool = True) -> list[dict]:
    """Store voximplant.statistic.get rows as complete, classified calls; return their column values."""
    values = statistics_values(rows, rules, departments)
    upsert(portal_id, values, update=STAT_UPDATE, source=source, commit=commit)
    return values
