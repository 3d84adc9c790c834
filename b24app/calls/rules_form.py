"""The selection-rules form: parse and validate what the admin typed, save it, re-apply it to past calls."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta

from sqlalchemy import select

from ..extensions import db
from ..models_base import utcnow
from ..qa.cards import queue_for
from . import store
from .models import Call
from .rules import Rules
from .setup import settings_for


class RulesInvalid(ValueError):
    def __init__(self, keys: list[str]):
        self.keys = keys
        super().__init__(", ".join(keys))


def _int(value: str | None, key: str, problems: list[str], lo: int, hi: int) -> int:
    raw = (value or "").strip()
    if not raw.isdigit() or not lo <= int(raw) <= hi:
        problems.append(key)
        return lo
    return int(raw)


def parse(form) -> Rules:
    """Form fields → Rules; raises RulesInvalid naming every bad field (nothing is saved then)."""
    problems: list[str] = []
    directions = frozenset(d for d in form.getlist("directions") if d in ("incoming", "outgoing"))
    min_s = _int(form.get("min_seconds"), "rules.min_seconds", problems, 0, 3600)
    short_s = _int(form.get("short_max_seconds"), "rules.short_max_seconds", problems, 0, 36000)
    users = [u for u in form.getlist("user_ids") if u]
    deps = [d for d in form.getlist("department_ids") if d]
    if any(not u.isdigit() for u in users) or any(not d.isdigit() for d in deps):
        problems.append("rules.scope")
    greeting: dict[str, int] = {}
    for line, secs in zip(form.getlist("greeting_line"), form.getlist("greeting_seconds"), strict=False):
        line, secs = (line or "").strip(), (secs or "").strip()
        if not line and not secs:
            continue
        if not line or not secs.isdigit() or int(secs) > 600:
            problems.append("rules.greeting_seconds")
            continue
        greeting[line[:128]] = int(secs)
    rules = Rules(directions=directions, min_seconds=min_s, short_max_seconds=short_s,
                  only_answered=form.get("only_answered") == "1", exclude_robot=form.get("exclude_robot") == "1",
                  user_ids=frozenset(int(u) for u in users if u.isdigit()),
                  department_ids=frozenset(int(d) for d in deps if d.isdigit()), greeting_seconds=greeting)
    problems += [p for p in rules.validate() if p not in problems]
    if problems:
        raise RulesInvalid(sorted(set(problems)))
    return rules


def save(portal_id: int, rules: Rules) -> None:
    row = settings_for(portal_id)
    data = asdict(rules)
    for key in ("directions", "user_ids", "department_ids"):
        data[key] = sorted(data[key])
    row.rules = data
    db.session.commit()


def reapply(portal_id: int, days: int) -> dict:
    """Classify the last `days` days again with today's rules and queue cards for newly selected calls.

    Calls that already have a card keep it (a card is never created twice, nor deleted here).
    """
    rules, departments = store.rules_for(portal_id), store.user_departments(portal_id)
    since = utcnow() - timedelta(days=days)
    changed: list[str] = []
    rows = db.session.scalars(select(Call).where(Call.portal_id == portal_id, Call.ended.is_(True),
                                                 Call.call_start_date >= since)).all()
    for call in rows:
        values = {"call_type": call.call_type, "duration": call.duration, "failed_code": call.failed_code,
                  "failed_reason": call.failed_reason, "portal_number": call.portal_number,
                  "portal_user_id": call.portal_user_id}
        store.decide(values, rules, departments)
        if values.get("selection") != call.selection or values.get("conversation") != call.conversation:
            call.selection, call.conversation = values["selection"], values["conversation"]
            changed.append(call.call_id)
    db.session.commit()
    queued = queue_for(portal_id, changed) if changed else 0
    return {"checked": len(rows), "changed": len(changed), "cards_queued": queued}


def current(portal_id: int) -> Rules:
    return store.rules_for(portal_id)


def lines_seen(portal_id: int) -> list[str]:
    return sorted(x for x in db.session.scalars(select(Call.portal_number).where(
        Call.portal_id == portal_id).distinct()).all() if x)
