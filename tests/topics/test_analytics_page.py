"""The CRM analytics tab's top topics: calls by topic for the period against the previous one (read from the
aggregates the topic choice recounts); a manager sees only his calls; an unknown period is refused in Russian."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from b24app.calls import store
from b24app.extensions import db
from b24app.models_base import utcnow
from b24app.portals.models import Portal
from b24app.topics.models import CallTopic, Topic

from ..platform.helpers import open_placement


def _seed(live_app, installed):
    """Calls whose topic the popup saved before CALLEND: two «Претензия» of user 3 and one «Консультация» of
    user 4 this month, one «Претензия» 40 days ago (the previous 30 days)."""
    with live_app.ctx():
        pid = db.session.scalar(select(Portal.id).where(Portal.member_id == installed.member_id))
        topics = {t.name: t.id for t in db.session.scalars(select(Topic).where(Topic.portal_id == pid))}
        now = utcnow().replace(microsecond=0)
        plan = [("Претензия", 3, 2), ("Претензия", 3, 1), ("Консультация", 4, 2), ("Претензия", 3, 40)]
        rows = []
        for n, (name, user, days_ago) in enumerate(plan):
            cid = f"analytics-{n}"
            db.session.add(CallTopic(portal_id=pid, call_id=cid, topic_id=topics[name], chosen_by=user))
            rows.append({"call_id": cid, "call_type": 1, "failed_code": "200", "duration": 60,
                         "portal_user_id": user, "phone_number": f"+7999000{n:04d}",
                         "call_start_date": now - timedelta(days=days_ago), "ended": True})
        db.session.commit()
        store.upsert(pid, rows, update=("call_type", "failed_code", "duration", "portal_user_id", "phone_number",
                                        "call_start_date", "ended"), source="event")


def _rows(html: str) -> list[str]:
    return [r.split("</tr>")[0] for r in html.split('data-testid="topic-row"')[1:]]


def _cell(row: str, cls: str) -> str:
    return row.split(f'class="num {cls}">')[1].split("</td>")[0].strip()


def test_the_director_sees_top_topics_with_the_previous_period(installed, live_app):
    _seed(live_app, installed)
    r = open_placement(installed, live_app, "/b24/reports", user_id=1, placement="CRM_ANALYTICS_MENU")
    assert r.status_code == 200
    rows = _rows(r.text)
    assert len(rows) == 2
    assert "Претензия" in rows[0] and _cell(rows[0], "calls") == "2" and _cell(rows[0], "before") == "1"
    assert "Консультация" in rows[1] and _cell(rows[1], "calls") == "1" and _cell(rows[1], "before") == "0"
    assert _cell(rows[0], "share") == "66,7 %"


def test_a_manager_sees_only_his_own_calls(installed, live_app):
    _seed(live_app, installed)
    r = open_placement(installed, live_app, "/b24/reports", user_id=4, placement="CRM_ANALYTICS_MENU")
    assert r.status_code == 200 and "Вы видите только свои звонки" in r.text
    rows = _rows(r.text)
    assert len(rows) == 1 and "Консультация" in rows[0]


def test_an_unknown_period_is_refused_in_russian(installed, live_app):
    r = open_placement(installed, live_app, "/b24/reports?period=12d", user_id=1, placement="CRM_ANALYTICS_MENU")
    assert r.status_code == 400 and "Такого периода нет" in r.text
