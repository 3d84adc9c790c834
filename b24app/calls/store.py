"""Writing call facts: one upsert keyed by (portal, CALL_ID), so any number of deliveries make one row."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from ..extensions import db
from ..portals.models import PortalUser
from . import bulk, facts
from .models import Call, CallSettings
from .rules import CallFacts, Rules, classify

# What a statistics row fills, in the order `statistics_rows` returns it.
IMPORT_COLUMNS = facts.STAT_ROW + ("ended", "enriched", "conversation", "selection")
# Columns a statistics row overwrites (event-only ones, like ring and answer times, are kept).
STAT_UPDATE = IMPORT_COLUMNS[1:]
ROBOT_REASONS = ("voicemail", "автоответчик", "robot", "робот", "ivr")
_NO_DEPARTMENTS: frozenset[int] = frozenset()
_ROBOT: dict[str, bool] = {}  # CALL_FAILED_REASON texts repeat: a handful per portal
START = IMPORT_COLUMNS.index("call_start_date")

# Who must know that calls changed (the analytics aggregates, registered by b24app.analytics.recount):
# `CHANGED` hooks run in the writing transaction with (portal_id, call_ids, starts, conn) and return
# whether the `COMMITTED` hooks should run, with (portal_id), once that transaction has committed.
CHANGED: list = []
COMMITTED: list = []


def changed(portal_id: int, *, call_ids=(), starts=(), conn=None) -> bool:
    return any([fn(portal_id, call_ids=call_ids, starts=starts, conn=conn) for fn in CHANGED])


def committed(portal_id: int) -> None:
    for fn in COMMITTED:
        fn(portal_id)


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


def answered_by_robot(reason: str | None) -> bool:
    if not reason:
        return False
    robot = _ROBOT.get(reason)
    if robot is None:
        low = reason.lower()
        robot = _ROBOT[reason] = any(w in low for w in ROBOT_REASONS)
        if len(_ROBOT) > 10_000:  # free text on some PBXs: keep the memo bounded
            _ROBOT.clear()
    return robot


def _decision(call_type, duration, failed_code, line, user_id, reason, rules: Rules,
              departments: dict[int, set[int]]) -> tuple[int, str]:
    call = CallFacts(call_type, duration or 0, failed_code or "", line or "", user_id, answered_by_robot(reason))
    d = classify(call, rules, departments.get(user_id or 0, _NO_DEPARTMENTS))
    return d.conversation, d.outcome


def decide(values: dict, rules: Rules, departments: dict[int, set[int]]) -> None:
    """Fill `conversation` and `selection` for a row that has its final facts."""
    if values.get("call_type") is None:
        return
    values["conversation"], values["selection"] = _decision(
        values["call_type"], values.get("duration"), values.get("failed_code"), values.get("portal_number"),
        values.get("portal_user_id"), values.get("failed_reason"), rules, departments)


def statistics_rows(rows: list[dict], rules: Rules, departments: dict[int, set[int]]) -> list[tuple]:
    """voximplant.statistic.get rows → complete, classified values in `IMPORT_COLUMNS` order (no CALL_ID: dropped)."""
    out = []
    row_of = facts.statistic_row
    for r in rows:
        t = row_of(r)
        if not t[0]:
            continue
        # call_type, duration, failed_code, portal_number, portal_user_id, failed_reason by STAT_ROW position
        if t[2] is None:
            out.append(t + (True, True, None, ""))
        else:
            out.append(t + (True, True) + _decision(t[2], t[7], t[8], t[4], t[5], t[9], rules, departments))
    return out


def statistics_values(rows: list[dict], rules: Rules, departments: dict[int, set[int]]) -> list[dict]:
    """The same as `statistics_rows`, by column name."""
    return [dict(zip(IMPORT_COLUMNS, t, strict=True)) for t in statistics_rows(rows, rules, departments)]


def save_statistics(portal_id: int, rows: list[dict], source: str, rules: Rules,
                    departments: dict[int, set[int]], commit: bool = True) -> list[dict]:
    """Store voximplant.statistic.get rows as complete, classified calls; return their column values."""
    values = statistics_rows(rows, rules, departments)
    if values:
        conn = db.session.connection()
        writer = bulk.CallWriter(conn.dialect.name, portal_id, IMPORT_COLUMNS, update=STAT_UPDATE, source=source)
        writer.add(conn, values)
        writer.flush(conn)
        kick = changed(portal_id, starts=[t[START] for t in values], conn=conn)
        if commit:
            db.session.commit()
            if kick:
                committed(portal_id)
    return [dict(zip(IMPORT_COLUMNS, t, strict=True)) for t in values]


def upsert(portal_id: int, rows: list[dict], *, update: tuple[str, ...], source: str, commit: bool = True) -> None:
    """Insert or update a few calls by CALL_ID (events); only the `update` columns of an existing row change."""
    if not rows:
        return
    conn = db.session.connection()
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(Call).values([{**r, "portal_id": portal_id, "source": source} for r in rows])
    stmt = stmt.on_conflict_do_update(index_elements=["portal_id", "call_id"],
                                      set_={c: stmt.excluded[c] for c in (*update, "updated_at")})
    conn.execute(stmt)
    kick = changed(portal_id, call_ids=[r["call_id"] for r in rows], conn=conn)
    if commit:
        db.session.commit()
        if kick:
            committed(portal_id)


def call_by_call_id(portal_id: int, call_id: str) -> Call | None:
    return db.session.scalar(select(Call).where(Call.portal_id == portal_id, Call.call_id == call_id))
