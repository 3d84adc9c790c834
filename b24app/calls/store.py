"""Writing call facts: one upsert keyed by (portal, CALL_ID), so any number of deliveries make one row."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..extensions import db
from ..models_base import utcnow
from ..portals.models import PortalUser
from . import facts
from .models import Call, CallSettings
from .rules import CallFacts, Rules, classify

# Columns a statistics row overwrites (event-only ones, like ring and answer times, are kept).
STAT_UPDATE = facts.STAT_COLUMNS + ("ended", "enriched", "conversation", "selection")
ROBOT_REASONS = ("voicemail", "автоответчик", "robot", "робот", "ivr")


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
    facts = CallFacts(call_type=values["call_type"], duration=values.get("duration") or 0,
                      failed_code=values.get("failed_code") or "", line=values.get("portal_number") or "",
                      user_id=values.get("portal_user_id"),
                      answered_by_robot=any(w in reason for w in ROBOT_REASONS))
    d = classify(facts, rules, departments.get(values.get("portal_user_id") or 0, set()))
    values["conversation"], values["selection"] = d.conversation, d.outcome


def upsert(portal_id: int, rows: list[dict], *, update: tuple[str, ...], source: str) -> None:
    """Insert or update calls by CALL_ID; only the `update` columns of an existing row change."""
    if not rows:
        return
    now = utcnow()
    payload = [{**r, "portal_id": portal_id, "source": source, "created_at": now, "updated_at": now} for r in rows]
    insert = pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(Call.__table__)
    cols = set(update) | {"updated_at"}
    stmt = stmt.on_conflict_do_update(index_elements=["portal_id", "call_id"],
                                      set_={c: getattr(stmt.excluded, c) for c in cols})
    db.session.execute(stmt, payload)
    db.session.commit()


def call_by_call_id(portal_id: int, call_id: str) -> Call | None:
    return db.session.scalar(select(Call).where(Call.portal_id == portal_id, Call.call_id == call_id))


def save_statistics(portal_id: int, rows: list[dict], source: str, rules: Rules,
                    departments: dict[int, set[int]]) -> list[dict]:
    """Store voximplant.statistic.get rows as complete, classified calls; return their column values."""
    values = []
    for r in rows:
        v = facts.from_statistic(r)
        if not v["call_id"]:
            continue
        v.update(ended=True, enriched=True)
        decide(v, rules, departments)
        values.append(v)
    upsert(portal_id, values, update=STAT_UPDATE, source=source)
    return values
