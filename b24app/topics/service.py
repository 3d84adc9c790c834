"""Topic rules: the catalogue a manager picks from, choosing a call's topic, and carrying it to the QA card.

Plain functions over the database; the popup, the chat bot and the settings page all call `choose`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ..calls.models import Call
from ..extensions import db
from ..jobs import app_task
from ..models_base import row_for_portal, utcnow
from ..qa.checklists import checklist
from ..qa.checklists import ensure_defaults as ensure_checklists
from .models import CallTopic, Topic, TopicSettings

log = logging.getLogger(__name__)

# name, group, colour, default checklist key (qa.checklists.DEFAULTS)
DEFAULT_TOPICS = (
    ("Новый клиент", "Продажи", "#2fc6f6", "sales"),
    ("Повторная продажа", "Продажи", "#9dcf00", "sales"),
    ("Претензия", "Сервис", "#ff5752", "complaint"),
    ("Консультация", "Сервис", "#ffa900", "general"),
    ("Другое", "", "#a8adb4", "general"),
)
USAGE_DAYS = 90
SOURCES = ("card", "chat", "settings")

# Called (portal_id, call_id, call_topic) in a job after a topic is set, e.g. to close a chat prompt.
on_topic_set: list[Callable[[int, str, CallTopic], None]] = []


class TopicRefused(Exception):
    """A choice the rules do not allow; `key` is a messages.py key, `status` the HTTP answer."""

    def __init__(self, key: str, status: int = 409):
        super().__init__(key)
        self.key, self.status = key, status


def settings_for(portal_id: int) -> TopicSettings:
    return row_for_portal(TopicSettings, portal_id)


def ensure_defaults(portal_id: int) -> list[Topic]:
    """Give a new portal a starting catalogue; a portal with any topic (even archived) keeps its own."""
    if db.session.scalar(select(func.count()).select_from(Topic).where(Topic.portal_id == portal_id)):
        return []
    lists = ensure_checklists(portal_id)
    made = [Topic(portal_id=portal_id, name=name, group=group, color=color,
                  checklist_id=lists[key].id if key in lists else None, position=i * 10)
            for i, (name, group, color, key) in enumerate(DEFAULT_TOPICS)]
    db.session.add_all(made)
    db.session.commit()
    return made


def topic(portal_id: int, topic_id: int) -> Topic | None:
    return db.session.scalar(select(Topic).where(Topic.portal_id == portal_id, Topic.id == topic_id))


def catalogue(portal_id: int, include_archived: bool = False) -> list[Topic]:
    q = select(Topic).where(Topic.portal_id == portal_id)
    if not include_archived:
        q = q.where(Topic.archived.is_(False))
    return list(db.session.scalars(q.order_by(Topic.archived, Topic.position, Topic.id)))


def usage(portal_id: int, user_id: int | None = None, days: int = USAGE_DAYS) -> dict[int, int]:
    """How often each topic was chosen lately (by one user when given)."""
    q = (select(CallTopic.topic_id, func.count()).where(CallTopic.portal_id == portal_id,
                                                        CallTopic.chosen_at >= utcnow() - timedelta(days=days))
         .group_by(CallTopic.topic_id))
    if user_id is not None:
        q = q.where(CallTopic.chosen_by == user_id)
    return dict(db.session.execute(q).all())


def ranked_for(portal_id: int, user_id: int | None) -> list[Topic]:
    """Active topics in the order the popup shows them: the manager's most used first (or the admin's order)."""
    topics = catalogue(portal_id)
    if settings_for(portal_id).order_by != "usage":
        return topics
    mine = usage(portal_id, user_id) if user_id is not None else {}
    everyone = usage(portal_id) if len(mine) < len(topics) else {}
    return sorted(topics, key=lambda t: (-mine.get(t.id, 0), -everyone.get(t.id, 0), t.position, t.id))


def topic_of(portal_id: int, call_id: str) -> CallTopic | None:
    return db.session.scalar(select(CallTopic).where(CallTopic.portal_id == portal_id, CallTopic.call_id == call_id))


# Called with (portal_id, call_id) after a call's topic changed and was committed (the analytics
# aggregates count calls by topic; registered by b24app.analytics.recount).
TOPIC_CHANGED: list = []


def choose(portal_id: int, call_id: str, topic_id: int, user_id: int | None, source: str,
           *, privileged: bool = False) -> tuple[CallTopic, bool]:
    """Set the topic of a call; return (choice, changed). Same topic again changes nothing.

    Refused: an unknown or archived topic, a call already scored, and a call of another manager
    unless `privileged` (admin or QA reviewer). The call row may not exist yet (popup during ringing).
    """
    call_id = (call_id or "").strip()
    if not call_id or len(call_id) > 128:
        raise TopicRefused("topics.bad_call", 400)
    chosen = topic(portal_id, topic_id)
    if chosen is None:
        raise TopicRefused("topics.unknown", 404)
    call = db.session.scalar(select(Call).where(Call.portal_id == portal_id, Call.call_id == call_id))
    if call is not None:
        if call.scored_at is not None:
            raise TopicRefused("topics.locked")
        if not privileged and call.portal_user_id and user_id != call.portal_user_id:
            raise TopicRefused("topics.not_yours", 403)
    current = topic_of(portal_id, call_id)
    if current is not None and current.topic_id == chosen.id:
        return current, False
    if chosen.archived:
        raise TopicRefused("topics.archived")
    if current is None:
        current = CallTopic(portal_id=portal_id, call_id=call_id, topic_id=chosen.id, chosen_by=user_id, source=source)
        db.session.add(current)
        try:
            db.session.commit()
        except IntegrityError:  # a second click raced the first: the row exists now, update it
            db.session.rollback()
            current = topic_of(portal_id, call_id)
    if current.topic_id != chosen.id or current.chosen_by != user_id:
        current.topic_id, current.chosen_by, current.source, current.chosen_at = chosen.id, user_id, source, utcnow()
        db.session.commit()
    for fn in TOPIC_CHANGED:
        fn(portal_id, call_id)
    apply_topic(portal_id, call_id)
    return current, True


def card_values(portal_id: int, call_id: str) -> tuple[str, str] | None:
    """(topic name, checklist name) for the QA card of a call, or None without a topic."""
    ct = topic_of(portal_id, call_id)
    if ct is None:
        return None
    t = db.session.get(Topic, ct.topic_id)
    cl = checklist(portal_id, t.checklist_id) if t else None
    return (t.name if t else ""), (cl.name if cl else "")


class CardBusy(Exception):
    """The QA card is being created right now; try again after it has an ID."""


@app_task(retries=8, retry_delay=15)
def apply_topic(portal_id: int, call_id: str) -> str:
    """Carry a call's topic (and the topic's checklist) to its QA card; then run the `on_topic_set` hooks."""
    from ..portals.models import Portal
    from ..portals.rest import client_for
    from ..qa.bootstrap import setup_for
    from ..qa.cards import CLAIMED

    ct = topic_of(portal_id, call_id)
    if ct is None:
        return "no topic"
    call = db.session.scalar(select(Call).where(Call.portal_id == portal_id, Call.call_id == call_id))
    outcome = "no card"
    if call is not None and call.qa_item_id == CLAIMED:
        raise CardBusy(call_id)
    if call is not None and call.qa_item_id:
        setup, portal = setup_for(portal_id), db.session.get(Portal, portal_id)
        name, list_name = card_values(portal_id, call_id)
        client_for(portal.member_id).call("crm.item.update", {
            "entityTypeId": setup.entity_type_id, "id": call.qa_item_id, "useOriginalUfNames": "Y",
            "fields": {setup.fields["topic"]: name, setup.fields["checklist"]: list_name}})
        outcome = "card updated"
    for hook in on_topic_set:
        hook(portal_id, call_id, ct)
    return outcome
