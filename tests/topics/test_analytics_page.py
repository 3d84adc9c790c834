"""The CRM analytics tab: top call topics for a period against the previous one; a manager sees only his calls."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from b24app.calls.models import Call
from b24app.extensions import db
from b24app.models_base import utcnow
from b24app.portals.models import Portal
from b24app.topics.models import CallTopic, Topic

from ..platform.helpers import open_placement


def _seed(live_app, installed):
    with live_app.ctx():
        pid = db.session.scalar(select(Portal.id).where(Portal.member_id == installed.member_id))
        topics = {t.name: t.id for t in db.session.scalars(select(Topic).where(Topic.portal_id == pid))}
        now = utcnow()
        plan = [("Претензия", 3, 2), ("Претензия", 3, 1), ("Консультация", 4, 2), ("Претензия", 3, 40)]
        for n, (name, user, days_ago) in enumerate(plan):
            cid = f"analytics-{n}"
            db.session.add(Call(portal_id=pid, call_id=cid, call_type=1, portal_user_id=user,
                                call_start_date=now - timedelta(days=days_ago)))
            db.session.add(CallTopic(portal_id=pid, call_id=cid, topic_id=topics[name], chosen_by=user))
        db.session.commit()


def _rows(html: str) -> list[str]:
    return [r.split("</tr>")[0] for r in html.split('data-testid="topic-row"')[1:]]


def test_the_director_sees_top_topics_with_the_previous_period(installed, live_app):
    _seed(live_app, installed)
    r = open_placement(installed, live_app, "/b24/reports", user_id=1, placement="CRM_ANALYTICS_MENU")
    assert r.status_code == 200
    rows = _rows(r.text)
    assert "Претензия" in rows[0] and "<td>2</td>" in rows[0] and "<td>1</td>" in rows[0]  # 2 now, 1 before
    assert "Консультация" in rows[1] and "нет данных" in rows[1]


def test_a_manager_sees_only_his_own_calls(installed, live_app):
    _seed(live_app, installed)
    r = open_placement(installed, live_app, "/b24/reports", user_id=4, placement="CRM_ANALYTICS_MENU")
    assert r.status_code == 200 and "Ваши звонки" in r.text
    rows = _rows(r.text)
    assert len(rows) == 1 and "Консультация" in rows[0]


def test_an_unknown_period_is_refused_in_russian(installed, live_app):
    r = open_placement(installed, live_app, "/b24/reports?days=12", user_id=1, placement="CRM_ANALYTICS_MENU")
    assert r.status_code == 400 and "7, 30 или 90 дней" in r.text
