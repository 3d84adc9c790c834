"""Column helpers every feature model uses: moments come back aware in UTC on every database; one row per portal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import select, text

from b24app.extensions import db
from b24app.models_base import row_for_portal
from b24app.portals.models import Portal
from b24app.topics.models import CallTopic, Topic, TopicSettings


def test_a_moment_is_stored_in_utc_and_read_back_aware(installed, live_app):
    moscow = datetime(2031, 5, 6, 12, 30, tzinfo=timezone(timedelta(hours=3)))
    with live_app.ctx():
        pid = db.session.scalar(select(Portal.id).where(Portal.member_id == installed.member_id))
        topic_id = db.session.scalar(select(Topic.id).where(Topic.portal_id == pid))
        db.session.add(CallTopic(portal_id=pid, call_id="tz-check", topic_id=topic_id, chosen_at=moscow))
        db.session.commit()
        db.session.expire_all()
        back = db.session.scalar(select(CallTopic.chosen_at).where(CallTopic.call_id == "tz-check"))
        raw = db.session.execute(text("SELECT chosen_at FROM call_topics WHERE call_id = 'tz-check'")).scalar()
    assert back.tzinfo is not None and back == moscow and back.utcoffset() == timedelta(0)
    assert "09:30" in str(raw)  # the database holds the UTC digits


def test_row_for_portal_makes_the_row_once(installed, live_app):
    with live_app.ctx():
        pid = db.session.scalar(select(Portal.id).where(Portal.member_id == installed.member_id))
        first, again = row_for_portal(TopicSettings, pid), row_for_portal(TopicSettings, pid)
        count = len(db.session.scalars(select(TopicSettings).where(TopicSettings.portal_id == pid)).all())
    assert first.id == again.id and count == 1
    assert first.updated_at.tzinfo == UTC or first.updated_at.utcoffset() == timedelta(0)
