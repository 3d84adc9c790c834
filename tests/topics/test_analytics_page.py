"""The CRM analytics tab: top call topics for a period against the previous one; a manager sees only his calls."""

from __future__ import annotations

import re
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


def _figure_cells(html: str, key: str) -> list[str]:
    row = html.split(f'data-testid="figure-{key}"')[1].split("</tr>")[0]
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def _pid(live_app, installed) -> int:
    with live_app.ctx():
        return db.session.scalar(select(Portal.id).where(Portal.member_id == installed.member_id))


def _incoming(live_app, pid, days, user_ids=None) -> int:
    from b24app.analytics import metrics

    with live_app.ctx():
        end = utcnow()
        return metrics.total(pid, metrics.Period(end - timedelta(days=days), end), user_ids=user_ids).incoming


def test_the_key_figures_are_the_metrics_of_the_period_and_the_one_before(installed, live_app):
    pid = _pid(live_app, installed)
    with live_app.ctx():  # a missed call an hour ago: no callback yet, so it is awaiting one, not lost
        db.session.add(Call(portal_id=pid, call_id="kpi-missed", call_type=2, failed_code="304", duration=0,
                            phone_number="+79990001122", portal_user_id=4, ended=True,
                            call_start_date=utcnow() - timedelta(hours=1)))
        db.session.commit()
    before = _incoming(live_app, pid, 30)
    r = open_placement(installed, live_app, "/b24/reports?days=30", user_id=1, placement="CRM_ANALYTICS_MENU")
    after = _incoming(live_app, pid, 30)
    assert r.status_code == 200
    cells = _figure_cells(r.text, "incoming")
    assert cells[1].replace("\xa0", "").replace(" ", "") in {str(before), str(after)} and before > 0
    assert cells[0] == "Входящие"
    assert int(_figure_cells(r.text, "awaiting_callback")[1]) >= 1
    # imported history has no ring times: the average wait is "no data", not 0
    assert "нет данных" in _figure_cells(r.text, "asa")[1]


def test_a_manager_sees_his_own_figures_and_english_follows_the_portal(installed, live_app):
    pid = _pid(live_app, installed)
    mine = _incoming(live_app, pid, 7, user_ids=[4])
    everyone = _incoming(live_app, pid, 7)
    r = open_placement(installed, live_app, "/b24/reports?days=7", user_id=4, placement="CRM_ANALYTICS_MENU",
                       lang="en")
    assert r.status_code == 200 and "Key figures" in r.text and "Awaiting a callback" in r.text
    shown = int(_figure_cells(r.text, "incoming")[1].replace(",", ""))
    assert shown == mine and mine < everyone
