"""The topic catalogue as the admin edits it: parse and validate forms, then save in one commit.

Plain functions over the database, no Flask: every check runs before the first change, so a refused
form leaves the catalogue exactly as it was. Topics once chosen for a call are archived, never deleted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import func, select

from ..extensions import db
from ..qa.checklists import checklist, checklists
from .models import CallTopic, Topic
from .service import catalogue, settings_for, topic

NAME_MAX = GROUP_MAX = 80
DEFAULT_COLOR = "#2fc6f6"
# Close to the colours Bitrix24 offers for stages and tags.
PALETTE = ("#2fc6f6", "#55d0e0", "#47e4c2", "#9dcf00", "#fff55a", "#ffa900", "#ff5752",
           "#f7a700", "#e89b06", "#ace5ec", "#1eae43", "#00a64c", "#d3d7dc", "#a8adb4", "#333333")
ORDERS = ("usage", "manual")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


class CatalogueInvalid(ValueError):
    """A refused change: `keys` are messages.py keys (first is the headline), `status` the HTTP answer."""

    def __init__(self, keys: list[str], status: int = 400):
        self.keys, self.status = keys, status
        super().__init__(", ".join(keys))


@dataclass(frozen=True)
class TopicData:
    name: str
    group: str
    color: str
    checklist_id: int | None


@dataclass(frozen=True)
class SettingsData:
    order_by: str
    prompt_enabled: bool
    reminder_minutes: int
    digest_hour: int | None


def _clean(value: str | None) -> str:
    return " ".join((value or "").split())


def _key(name: str) -> str:
    """Names compare without case, in Python: SQLite's lower() leaves Cyrillic as it is."""
    return _clean(name).casefold()


def parse_topic(form, portal_id: int, current: Topic | None = None) -> TopicData:
    """A topic form → TopicData; raises CatalogueInvalid naming every bad field (409 for a taken name)."""
    problems: list[str] = []
    name, group = _clean(form.get("name")), _clean(form.get("group"))
    if not name:
        problems.append("catalogue.name_empty")
    elif len(name) > NAME_MAX:
        problems.append("catalogue.name_long")
    if len(group) > GROUP_MAX:
        problems.append("catalogue.group_long")
    color = (form.get("color") or "").strip() or (current.color if current else DEFAULT_COLOR)
    if not _COLOR.match(color):
        problems.append("catalogue.bad_color")
    raw = (form.get("checklist_id") or "").strip()
    checklist_id = None
    if raw:
        found = checklist(portal_id, int(raw)) if raw.isdigit() and len(raw) < 10 else None
        # An archived checklist may stay on a topic that already has it, but is not offered anew.
        if found is None or (found.archived and (current is None or current.checklist_id != found.id)):
            problems.append("catalogue.bad_checklist")
        else:
            checklist_id = found.id
    if name and len(name) <= NAME_MAX and (current is None or not current.archived) \
            and name_taken(portal_id, name, except_id=current.id if current else None):
        problems.append("catalogue.name_taken")
    if problems:
        raise CatalogueInvalid(problems, 409 if problems == ["catalogue.name_taken"] else 400)
    # «продажи» joins the existing group «Продажи» instead of starting a second one
    group = next((t.group for t in catalogue(portal_id) if t.group and _key(t.group) == _key(group)), group)
    return TopicData(name, group, color.lower(), checklist_id)


def name_taken(portal_id: int, name: str, except_id: int | None = None) -> bool:
    return any(_key(t.name) == _key(name) and t.id != except_id for t in catalogue(portal_id))


def parse_settings(form) -> SettingsData:
    problems: list[str] = []
    order_by = form.get("order_by") or ""
    if order_by not in ORDERS:
        problems.append("catalogue.bad_order_by")
    raw = (form.get("reminder_minutes") or "").strip()
    if not raw.isdigit() or int(raw) > 1440:
        problems.append("catalogue.bad_reminder")
    hour_raw = (form.get("digest_hour") or "").strip()
    digest_hour = None
    if hour_raw not in ("", "off"):
        if not hour_raw.isdigit() or int(hour_raw) > 23:
            problems.append("catalogue.bad_digest_hour")
        else:
            digest_hour = int(hour_raw)
    if problems:
        raise CatalogueInvalid(problems)
    return SettingsData(order_by, form.get("prompt_enabled") == "1", int(raw), digest_hour)


def _found(portal_id: int, topic_id: int) -> Topic:
    t = topic(portal_id, topic_id)
    if t is None:
        raise CatalogueInvalid(["catalogue.not_found"], 404)
    return t


def grouped(topics: list[Topic]) -> list[tuple[str, list[Topic]]]:
    """Topics by group, groups in the order of their first topic; the order the page and the popup show."""
    groups: dict[str, list[Topic]] = {}
    for t in topics:
        groups.setdefault(t.group, []).append(t)
    return list(groups.items())


def _renumber(ordered: list[Topic]) -> None:
    flat = [t for _, ts in grouped(ordered) for t in ts]
    for i, t in enumerate(flat):
        if t.position != i * 10:
            t.position = i * 10


def _normalise(portal_id: int) -> None:
    """Keep each group's topics together in the stored order (positions 0, 10, 20 … of active topics)."""
    db.session.flush()
    _renumber(catalogue(portal_id))


def _end(portal_id: int) -> int:
    return (db.session.scalar(select(func.max(Topic.position)).where(Topic.portal_id == portal_id)) or 0) + 10


def add(portal_id: int, form) -> Topic:
    data = parse_topic(form, portal_id)
    t = Topic(portal_id=portal_id, name=data.name, group=data.group, color=data.color,
              checklist_id=data.checklist_id, position=_end(portal_id))
    db.session.add(t)
    _normalise(portal_id)
    db.session.commit()
    return t


def update(portal_id: int, topic_id: int, form) -> Topic:
    t = _found(portal_id, topic_id)
    data = parse_topic(form, portal_id, current=t)
    t.name, t.group, t.color, t.checklist_id = data.name, data.group, data.color, data.checklist_id
    _normalise(portal_id)
    db.session.commit()
    return t


def archive(portal_id: int, topic_id: int) -> Topic:
    """Out of the pickers; calls that have it keep it (and their cards keep its name)."""
    t = _found(portal_id, topic_id)
    if not t.archived:
        t.archived = True
        _normalise(portal_id)
        db.session.commit()
    return t


def restore(portal_id: int, topic_id: int) -> Topic:
    t = _found(portal_id, topic_id)
    if t.archived:
        if name_taken(portal_id, t.name, except_id=t.id):
            raise CatalogueInvalid(["catalogue.restore_taken"], 409)
        t.archived, t.position = False, _end(portal_id)
        _normalise(portal_id)
        db.session.commit()
    return t


def used_ids(portal_id: int) -> set[int]:
    """Topics chosen for any call, ever: these are never deleted."""
    return set(db.session.scalars(select(CallTopic.topic_id).where(CallTopic.portal_id == portal_id).distinct()))


def delete(portal_id: int, topic_id: int) -> None:
    t = _found(portal_id, topic_id)
    if db.session.scalar(select(func.count()).select_from(CallTopic).where(
            CallTopic.portal_id == portal_id, CallTopic.topic_id == t.id)):
        raise CatalogueInvalid(["catalogue.used"], 409)
    db.session.delete(t)
    db.session.commit()


def reorder(portal_id: int, raw_ids: list[str]) -> list[Topic]:
    """Save the admin's order: `raw_ids` must name each active topic of the portal exactly once."""
    ids = [x.strip() for part in raw_ids for x in (part or "").split(",") if x.strip()]
    topics = {t.id: t for t in catalogue(portal_id)}
    if any(not x.isdigit() for x in ids) or len(set(ids)) != len(ids) or {int(x) for x in ids} != set(topics):
        raise CatalogueInvalid(["catalogue.bad_order"], 409)
    ordered = [topics[int(x)] for x in ids]
    _renumber(ordered)
    db.session.commit()
    return catalogue(portal_id)


def move(portal_id: int, topic_id: int, step: int) -> None:
    """One place up (-1) or down (+1) inside its group; the buttons that work without drag and drop."""
    t = _found(portal_id, topic_id)
    if t.archived:
        raise CatalogueInvalid(["catalogue.not_found"], 404)
    order = [x for _, ts in grouped(catalogue(portal_id)) for x in ts]
    mates = [x for x in order if x.group == t.group]
    i = mates.index(t)
    if 0 <= i + step < len(mates):
        a, b = order.index(t), order.index(mates[i + step])
        order[a], order[b] = order[b], order[a]
        _renumber(order)
        db.session.commit()


def move_group(portal_id: int, group: str, step: int) -> None:
    """A whole group one place up (-1) or down (+1)."""
    groups = grouped(catalogue(portal_id))
    names = [name for name, _ in groups]
    if group not in names:
        raise CatalogueInvalid(["catalogue.not_found"], 404)
    i = names.index(group)
    if 0 <= i + step < len(groups):
        groups[i], groups[i + step] = groups[i + step], groups[i]
        _renumber([t for _, ts in groups for t in ts])
        db.session.commit()


def save_settings(portal_id: int, form) -> None:
    data = parse_settings(form)
    row = settings_for(portal_id)
    row.order_by, row.prompt_enabled = data.order_by, data.prompt_enabled
    row.reminder_minutes, row.digest_hour = data.reminder_minutes, data.digest_hour
    db.session.commit()


def checklist_summary(portal_id: int) -> list[tuple[str, int]]:
    """(name, number of items) of the portal's active checklists, for the read-only list."""
    return [(c.name, sum(len(s.get("items") or []) for s in c.sections or [])) for c in checklists(portal_id)]
