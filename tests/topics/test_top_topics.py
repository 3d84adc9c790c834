"""Calls by topic (the dashboard's top topics): counted over calls started in the period, scoped by portal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from b24app.analytics.topics import top_topics
from b24app.calls.models import Call
from b24app.extensions import db
from b24app.portals.models import Portal
from b24app.topics.models import CallTopic, Topic


def test_top_topics_counts_calls_in_the_period_by_topic(installed, live_app):
    start = datetime(2031, 3, 1, tzinfo=UTC)
    with live_app.ctx():
        pid = db.session.scalar(select(Portal.id).where(Portal.member_id == installed.member_id))
        topics = {t.name: t for t in db.session.scalars(select(Topic).where(Topic.portal_id == pid))}
        plan = [("Претензия", 3, 0), ("Консультация", 1, 0), ("Претензия", 1, 40)]  # name, calls, days after start
        n = 0
        for name, count, day in plan:
            for _ in range(count):
                n += 1
                cid = f"top-topics-{n}"
                db.session.add(Call(portal_id=pid, call_id=cid, call_type=1, portal_user_id=3,
                                    call_start_date=start + timedelta(days=day, hours=n)))
                db.session.add(CallTopic(portal_id=pid, call_id=cid, topic_id=topics[name].id, chosen_by=3))
        db.session.commit()
        ranked, total = top_topics(pid, start, start + timedelta(days=30))
        other_portal, _ = top_topics(pid + 1000, start, start + timedelta(days=30))
    assert total == 4
    assert [(t.name, t.calls) for t in ranked] == [("Претензия", 3), ("Консультация", 1)]
    assert ranked[0].share == 0.75
    assert other_portal == []
