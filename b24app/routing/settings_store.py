"""The «Распределение звонков» rules as the admin posts them: the portal's funnels and stages, each field
checked against what the portal and its directory hold, and the compare-and-set save of RoutingSettings."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import g
from sqlalchemy import select

from ..extensions import db
from ..models_base import store_if_unchanged, utcnow
from ..portals.models import Portal, PortalUser
from ..portals.rest import client_for
from .models import ON_EXCLUDED, WINNERS, RoutingSettings

HOURS_MIN, HOURS_MAX = 1, 72
QUEUE_MAX = 64
DEFAULT_CATEGORY = 0   # crm.deal.category.list leaves out the default funnel; it always exists
FALLBACKS = ("none", "user", "queue")


class SettingsInvalid(Exception):
    def __init__(self, keys: list[str], status: int = 400):
        super().__init__(keys[0])
        self.keys, self.status = keys, status


@dataclass
class Values:
    enabled: bool = False
    categories: list[int] = field(default_factory=list)
    stages: list[str] = field(default_factory=list)
    winner: str = "modified"
    companies: bool = False
    excluded_users: list[int] = field(default_factory=list)
    on_excluded: str = "keep"
    notify: bool = True
    fallback_user_id: int | None = None
    fallback_queue: str = ""
    callback_tasks: bool = False
    callback_hours: int = 2


def stored(portal_id: int) -> RoutingSettings:
    """The portal's rules, or the defaults (unsaved, version 0) when it has none: reading never writes."""
    row = db.session.scalar(select(RoutingSettings).where(RoutingSettings.portal_id == portal_id))
    if row is not None:
        return row
    return RoutingSettings(portal_id=portal_id, enabled=False, categories=[], stages=[], winner="modified",
                           companies=False, excluded_users=[], on_excluded="keep", notify=True,
                           fallback_user_id=None, fallback_queue="", pbx_key_hash="", callback_tasks=False,
                           callback_hours=2, version=0)


# --- the portal's funnels and stages ------------------------------------------------------------------

def _stage_entity(category_id: int) -> str:
    return "DEAL_STAGE" if category_id == DEFAULT_CATEGORY else f"DEAL_STAGE_{category_id}"


def funnels(portal: Portal) -> list[dict]:
    """The portal's deal funnels, each with its stages: [{"id", "name", "stages": [{"id", "name"}]}].

    Read once per request (the page and the save it checks both ask): a settings page opened by several
    sections or a form checked field by field must not read the portal twice. BitrixError goes up."""
    cache = g.setdefault("routing_funnels", {})
    if portal.id in cache:
        return cache[portal.id]
    client = client_for(portal.member_id, max_attempts=1)
    cats = [{"id": DEFAULT_CATEGORY, "name": "Общая"}]
    for row in client.list_pages("crm.deal.category.list", {"order": {"SORT": "ASC"}}):
        try:
            cid = int(row.get("ID"))
        except (TypeError, ValueError):
            continue
        if cid != DEFAULT_CATEGORY:
            cats.append({"id": cid, "name": str(row.get("NAME") or cid)})
    calls = [("crm.status.list", {"filter": {"ENTITY_ID": _stage_entity(c["id"])}, "order": {"SORT": "ASC"}})
             for c in cats]
    stages: dict[int, list[dict]] = {}
    for batch in client.iter_batches(calls):  # keys are c<index into calls>, across every batch
        batch.raise_first()
        for key, result in batch.results.items():
            stages[int(key[1:])] = [{"id": str(s.get("STATUS_ID")), "name": str(s.get("NAME") or s.get("STATUS_ID"))}
                                    for s in result or [] if isinstance(s, dict) and s.get("STATUS_ID")]
    out = [{**c, "stages": stages.get(i, [])} for i, c in enumerate(cats)]
    cache[portal.id] = out
    return out


def active_users(portal_id: int) -> list[PortalUser]:
    """Who the pickers offer: the portal's active employees (the fired never receive contacts anyway)."""
    return list(db.session.scalars(select(PortalUser).where(PortalUser.portal_id == portal_id,
                                                            PortalUser.active.is_(True))
                                   .order_by(PortalUser.name, PortalUser.user_id)))


# --- the form -----------------------------------------------------------------------------------------

def _flag(form, name: str, problems: list[str]) -> bool:
    raw = form.get(name, "")
    if raw not in ("", "1", "on"):
        problems.append("routing_settings.bad_flag")
    return raw in ("1", "on")


def _ints(values: list[str]) -> list[int] | None:
    if not all(v.strip().isdigit() and len(v.strip()) < 10 for v in values):
        return None
    return sorted({int(v) for v in values})


def _known_users(portal_id: int, ids: list[int]) -> bool:
    if not ids:
        return True
    found = db.session.scalars(select(PortalUser.user_id).where(PortalUser.portal_id == portal_id,
                                                                PortalUser.active.is_(True),
                                                                PortalUser.user_id.in_(ids))).all()
    return len(set(found)) == len(set(ids))


def parse(portal: Portal, form) -> Values:
    """The admin's input checked field by field; SettingsInvalid names every problem. Reads the portal's
    funnels (BitrixError goes up) to check the categories and stages; writes nothing."""
    problems: list[str] = []
    v = Values()
    v.enabled = _flag(form, "enabled", problems)
    v.companies = _flag(form, "companies", problems)
    v.notify = _flag(form, "notify", problems)
    v.callback_tasks = _flag(form, "callback_tasks", problems)

    cats = _ints(form.getlist("categories"))
    raw_stages = sorted({s.strip() for s in form.getlist("stages") if s.strip()})
    if cats is None:
        problems.append("routing_settings.unknown_category")
    elif cats or raw_stages:
        known = {c["id"]: c for c in funnels(portal)}
        if any(c not in known for c in cats):
            problems.append("routing_settings.unknown_category")
        else:
            v.categories = cats
            allowed = {s["id"] for c in (cats or known) for s in known[c]["stages"]}
            if any(s not in allowed for s in raw_stages):
                problems.append("routing_settings.unknown_stage")
            v.stages = raw_stages

    v.winner = form.get("winner") or "modified"
    if v.winner not in WINNERS:
        problems.append("routing_settings.bad_winner")
    v.on_excluded = form.get("on_excluded") or "keep"
    if v.on_excluded not in ON_EXCLUDED:
        problems.append("routing_settings.bad_on_excluded")
    excluded = _ints(form.getlist("excluded_users"))
    if excluded is None or not _known_users(portal.id, excluded):
        problems.append("routing_settings.unknown_user")
    else:
        v.excluded_users = excluded

    mode = form.get("fallback") or "none"
    if mode == "user":
        raw = (form.get("fallback_user_id") or "").strip()
        uid = _ints([raw]) if raw else None
        if not uid or not _known_users(portal.id, uid):
            problems.append("routing_settings.unknown_fallback_user")
        else:
            v.fallback_user_id = uid[0]
    elif mode == "queue":
        queue = " ".join((form.get("fallback_queue") or "").split())
        if not queue or len(queue) > QUEUE_MAX:
            problems.append("routing_settings.bad_queue")
        else:
            v.fallback_queue = queue
    elif mode != "none":
        problems.append("routing_settings.bad_fallback")

    raw_hours = (form.get("callback_hours") or "").strip()
    hours = int(raw_hours) if raw_hours.isdigit() and len(raw_hours) <= 3 else -1
    if not HOURS_MIN <= hours <= HOURS_MAX:
        problems.append("routing_settings.bad_hours")
    v.callback_hours = hours
    if problems:
        raise SettingsInvalid(list(dict.fromkeys(problems)))
    return v


def store(portal_id: int, v: Values, opened: int, user_id: int) -> bool:
    """Write the values if the rules are still at version `opened` (0: never saved); False when not.
    In the caller's transaction."""
    now = utcnow()
    columns = {"enabled": v.enabled, "categories": v.categories, "stages": v.stages, "winner": v.winner,
               "companies": v.companies, "excluded_users": v.excluded_users, "on_excluded": v.on_excluded,
               "notify": v.notify, "fallback_user_id": v.fallback_user_id, "fallback_queue": v.fallback_queue,
               "callback_tasks": v.callback_tasks, "callback_hours": v.callback_hours, "updated_by": user_id,
               "updated_at": now}
    # Callback tasks are made for calls lost after they were switched on, not for the portal's whole past:
    # the moment is kept when they go from off to on.
    if v.callback_tasks and not stored(portal_id).callback_tasks:
        columns["callback_since"] = now
    # Switched on (again): the deal re-check starts from now (its first pass looks a little back), not from
    # where it stopped months ago, which would align everything changed while it was off at once.
    if v.enabled and not stored(portal_id).enabled:
        columns["reconciled_to"] = ""
    return store_if_unchanged(RoutingSettings, portal_id, opened, columns)


def fields_of(s: RoutingSettings) -> dict:
    """The form's values for the stored rules (the same shape as a posted form)."""
    fallback = "user" if s.fallback_user_id else ("queue" if s.fallback_queue else "none")
    return {"enabled": "1" if s.enabled else "", "categories": [str(c) for c in s.categories or []],
            "stages": [str(x) for x in s.stages or []], "winner": s.winner or "modified",
            "companies": "1" if s.companies else "", "excluded_users": [str(u) for u in s.excluded_users or []],
            "on_excluded": s.on_excluded or "keep", "notify": "1" if s.notify else "", "fallback": fallback,
            "fallback_user_id": str(s.fallback_user_id or ""), "fallback_queue": s.fallback_queue or "",
            "callback_tasks": "1" if s.callback_tasks else "", "callback_hours": str(s.callback_hours)}


def posted(form) -> dict:
    """A refused form's values, kept to show them again."""
    return {**form.to_dict(), **{k: form.getlist(k) for k in ("categories", "stages", "excluded_users")}}
