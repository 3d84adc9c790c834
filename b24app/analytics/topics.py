"""Calls by topic (K4 top topics, Q10 report section): one query, joined on the portal's CALL_ID."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from ..calls.models import Call
from ..extensions import db
from ..topics.models import CallTopic, Topic


@dataclass(frozen=True)
class TopicCount:
    topic_id: int
    name: str
    color: str
    calls: int
    share: float  # of the calls with a topic in the period, 0..1


def top_topics(portal_id: int, start: datetime, end: datetime, limit: int = 7,
               user_ids: list[int] | None = None) -> tuple[list[TopicCount], int]:
    """Topics of calls that started in [start, end), most frequent first; also the number of calls with a topic."""
    q = (select(Topic.id, Topic.name, Topic.color, func.count(Call.id))
         .join(CallTopic, (CallTopic.portal_id == Call.portal_id) & (CallTopic.call_id == Call.call_id))
         .join(Topic, Topic.id == CallTopic.topic_id)
         .where(Call.portal_id == portal_id, Call.call_start_date >= start, Call.call_start_date < end))
    if user_ids:
        q = q.where(Call.portal_user_id.in_(user_ids))
    rows = db.session.execute(q.group_by(Topic.id, Topic.name, Topic.color)).all()
    total = sum(r[3] for r in rows)
    ranked = sorted(rows, key=lambda r: (-r[3], r[1]))[:limit]
    return [TopicCount(r[0], r[1], r[2], r[3], r[3] / total if total else 0.0) for r in ranked], total
