"""The overview (the CRM analytics tab) over real HTTP against a sandbox portal: its tiles are the cube's
figures and the raw definitions for the same period and scope, the period and filters change them, the
comparison period is the one before, a manager and a head of department see their own scope, bad input is
a Russian 4xx, and plan vs fact reads the portal's deals."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
import requests
from sqlalchemy import select

from b24app.analytics import cube, metrics, plan, recount
from b24app.analytics.models import AnalyticsSettings
from b24app.analytics.periods import LocalPeriod
from b24app.analytics.settings import load
from b24app.analytics.summary import FIGURE
from b24app.calls import store
from b24app.calls.models import Call
from b24app.extensions import db
from b24app.models_base import utcnow
from b24app.portals.models import Portal, PortalUser
from b24app.topics.models import CallTopic, Topic

from ..platform.helpers import frame_token_from, open_placement, set_sandbox

CALL_CENTRE = frozenset({5, 6, 7, 9})
CALL_KEYS = ("incoming", "accepted", "missed", "lost", "recovered", "successful_incoming", "successful_outgoing",
             "talk_minutes", "aht", "asa", "service_level", "csat")


def _pid(live_app, sandbox) -> int:
    with live_app.ctx():
        return db.session.scalar(select(Portal.id).where(Portal.member_id == sandbox.member_id))


def _open(installed, live_app, user_id: int = 1, lang: str = "ru") -> str:
    r = open_placement(installed, live_app, "/b24/reports", user_id=user_id, placement="CRM_ANALYTICS_MENU",
                       lang=lang)
    assert r.status_code == 200, r.text[:500]
    return frame_token_from(r.text)


def _get(live_app, token: str, **args) -> requests.Response:
    return requests.get(f"{live_app.url}/b24/reports", params={"ft": token, **args}, timeout=30)


def _json(live_app, token: str, **args) -> dict:
    r = _get(live_app, token, format="json", **args)
    assert r.status_code == 200, r.text[:500]
    return r.json()


def _tiles(data: dict) -> dict:
    return {t["key"]: t for t in data["tiles"]}


def _query(pid: int, data: dict, users=None, previous: bool = False) -> cube.Query:
    p = data["previous" if previous else "period"]
    return cube.Query(pid, date.fromisoformat(p["first"]), date.fromisoformat(p["last"]), users=users)


def _same(value, expected) -> bool:
    if value is None or expected is None:
        return value is None and expected is None
    return value == pytest.approx(expected, rel=1e-9, abs=1e-9)


def _assert_tiles(live_app, pid: int, data: dict, users=None) -> None:
    """Every call tile, now and before, equals the cube for the same query and the raw definitions."""
    now = datetime.fromisoformat(data["now"])
    tiles = _tiles(data)
    with live_app.ctx():
        ms, tz = load(pid).metrics, recount.portal_tz(pid)
        for previous, side in ((False, "now"), (True, "before")):
            q = _query(pid, data, users, previous)
            agg = cube.total(q, now=now)
            p = data["previous" if previous else "period"]
            moments = LocalPeriod("custom", date.fromisoformat(p["first"]), date.fromisoformat(p["last"])).moments(tz)
            raw = metrics.total(pid, moments, settings=ms, user_ids=users, now=now)
            for key in CALL_KEYS:
                fig = FIGURE[key]
                assert _same(tiles[key][side], fig.value(agg)), (key, side, tiles[key][side], fig.value(agg))
                assert _same(tiles[key][side], fig.value(raw)), (key, side, tiles[key][side], fig.value(raw))
            if side == "now":
                assert _same(data["mean_callback_seconds"]["now"], agg.mean_callback_seconds)
                assert data["missed"]["awaiting"] == agg.awaiting_callback == raw.awaiting_callback
    for key in CALL_KEYS:  # the change is now − before, in points for shares
        t = tiles[key]
        if t["now"] is not None and t["before"] is not None:
            assert t["change"] == pytest.approx((t["now"] - t["before"]) * (100 if t["unit"] == "%" else 1))


def _live_calls(live_app, pid: int) -> None:
    """Calls with ring times (the imported history has none): a missed call an hour ago still awaiting its
    callback, one answered after 5 s, one after 40 s, a missed call 3 days ago called back 30 minutes later."""
    now = utcnow().replace(microsecond=0)
    rows = [
        {"call_id": "ov-await", "call_type": 2, "failed_code": "304", "duration": 0, "phone_number": "+79990000001",
         "portal_user_id": 6, "call_start_date": now - timedelta(hours=1), "ring_at": now - timedelta(hours=1)},
        {"call_id": "ov-fast", "call_type": 2, "failed_code": "200", "duration": 95, "conversation": 90,
         "phone_number": "+79990000002", "portal_user_id": 6, "call_start_date": now - timedelta(hours=3),
         "ring_at": now - timedelta(hours=3), "answered_at": now - timedelta(hours=3) + timedelta(seconds=5),
         "vote": 5},
        {"call_id": "ov-slow", "call_type": 2, "failed_code": "200", "duration": 60, "conversation": 20,
         "phone_number": "+79990000003", "portal_user_id": 3, "call_start_date": now - timedelta(hours=5),
         "ring_at": now - timedelta(hours=5), "answered_at": now - timedelta(hours=5) + timedelta(seconds=40),
         "vote": 2},
        {"call_id": "ov-miss", "call_type": 2, "failed_code": "304", "duration": 0, "phone_number": "+79990000004",
         "portal_user_id": 3, "call_start_date": now - timedelta(days=3), "ring_at": now - timedelta(days=3)},
        {"call_id": "ov-back", "call_type": 1, "failed_code": "200", "duration": 120, "conversation": 118,
         "phone_number": "89990000004", "portal_user_id": 3, "call_start_date": now - timedelta(days=3, minutes=-30)},
    ]
    cols = ("call_type", "failed_code", "duration", "conversation", "vote", "phone_number", "portal_user_id",
            "call_start_date", "ring_at", "answered_at", "ended")
    with live_app.ctx():
        store.upsert(pid, [{"conversation": None, "vote": None, "answered_at": None, "ring_at": None,
                            "ended": True, **r} for r in rows], update=cols, source="event")


def test_the_tiles_are_the_cube_and_the_raw_definitions(installed, live_app):
    pid = _pid(live_app, installed)
    _live_calls(live_app, pid)
    token = _open(installed, live_app)
    data = _json(live_app, token)
    assert data["period"]["key"] == "30d" and data["period"]["days"] == 30 and data["previous"]["days"] == 30
    assert date.fromisoformat(data["previous"]["last"]) == date.fromisoformat(data["period"]["first"]) - timedelta(1)
    tiles = _tiles(data)
    assert [t["key"] for t in data["tiles"]] == [*CALL_KEYS, "qa_scored", "qa_mean_score"]
    assert tiles["incoming"]["now"] > 0 and tiles["incoming"]["before"] > 0
    assert tiles["asa"]["now"] > 0 and tiles["service_level"]["now"] is not None  # the calls with ring times
    assert tiles["recovered"]["now"] >= 1 and data["missed"]["awaiting"] >= 1
    _assert_tiles(live_app, pid, data)
    assert data["missed"]["missed"] == data["missed"]["recovered"] + data["missed"]["awaiting"] + data["missed"]["lost"]
    # the chart and the scenario split add up to the tiles
    assert sum(d["accepted"] for d in data["by_day"]) == tiles["accepted"]["now"]
    assert sum(d["recovered"] + d["lost"] + d["awaiting"] for d in data["by_day"]) == tiles["missed"]["now"]
    assert len(data["by_day"]) == 30 and data["by_day"][0]["day"] == data["period"]["first"]
    assert sum(s["incoming"] for s in data["scenarios"]) == tiles["incoming"]["now"]
    assert [s["key"] for s in data["scenarios"]] == ["work", "after_hours", "weekend", "holiday"]
    # nothing scored yet: no QA mean, zero scored
    assert tiles["qa_scored"]["now"] == 0 and tiles["qa_mean_score"]["now"] is None

    html = _get(live_app, token).text
    assert 'data-testid="tile-incoming"' in html and 'id="chart-by-day"' in html
    with live_app.app.test_request_context():
        from b24app.analytics.summary import display

        shown = display(tiles["incoming"]["now"])
    assert _tile_value(html, "incoming") == shown
    assert _tile_value(html, "qa_mean_score") == "нет данных"
    assert "Как считается" in html and "за 24 ч" in html and "дольше 30 с" in html


def _tile_value(html: str, key: str) -> str:
    part = html.split(f'data-testid="tile-{key}"')[1]
    value = part.split('class="value">')[1].split("</div>")[0]
    return re.sub(r"<[^>]+>", "", value).strip()


def test_the_hint_follows_the_settings(installed, live_app):
    pid = _pid(live_app, installed)
    with live_app.ctx():
        db.session.add(AnalyticsSettings(portal_id=pid, callback_hours=8, success_seconds=45,
                                         service_level_seconds=15))
        db.session.commit()
        recount.mark_all(pid)
        db.session.commit()
        recount.refresh(pid)
    token = _open(installed, live_app)
    html = _get(live_app, token).text
    assert "за 8 ч" in html and "дольше 45 с" in html and "через 15 с" in html and "за 24 ч" not in html
    _assert_tiles(live_app, pid, _json(live_app, token))


def test_a_period_switch_changes_the_figures(installed, live_app):
    pid = _pid(live_app, installed)
    token = _open(installed, live_app)
    month = _json(live_app, token)
    week = _json(live_app, token, period="week")
    today = date.fromisoformat(month["period"]["last"])
    assert week["period"]["first"] == (today - timedelta(days=today.weekday())).isoformat()
    assert len(week["by_day"]) == today.weekday() + 1
    _assert_tiles(live_app, pid, week)
    first, last = today - timedelta(days=45), today - timedelta(days=36)
    custom = _json(live_app, token, period="custom", **{"from": first.isoformat(), "to": last.isoformat()})
    assert (custom["period"]["first"], custom["period"]["last"]) == (first.isoformat(), last.isoformat())
    assert custom["previous"]["last"] == (first - timedelta(days=1)).isoformat()
    assert custom["previous"]["first"] == (first - timedelta(days=10)).isoformat()
    _assert_tiles(live_app, pid, custom)
    incoming = {d["period"]["key"]: _tiles(d)["incoming"]["now"] for d in (month, custom)}
    assert incoming["30d"] != incoming["custom"] and incoming["custom"] > 0
    # the previous period's values are the values of that period shown on its own
    before = _json(live_app, token, period="custom", **{"from": custom["previous"]["first"],
                                                        "to": custom["previous"]["last"]})
    assert {k: t["now"] for k, t in _tiles(before).items()} == {k: t["before"] for k, t in _tiles(custom).items()}
    # a filter narrows the figures; the old ?days= is ignored
    only_in = _json(live_app, token, dir="incoming")
    assert _tiles(only_in)["successful_outgoing"]["now"] == 0 < _tiles(month)["successful_outgoing"]["now"]
    assert _json(live_app, token, days="12")["period"]["key"] == "30d"
    hours = _json(live_app, token, unit="h")
    assert _tiles(hours)["talk_hours"]["now"] == pytest.approx(_tiles(month)["talk_minutes"]["now"] / 60)


def test_a_manager_sees_only_his_own_figures(installed, live_app):
    pid = _pid(live_app, installed)
    _live_calls(live_app, pid)
    everyone = _json(live_app, _open(installed, live_app))
    token = _open(installed, live_app, user_id=3)
    mine = _json(live_app, token)
    assert mine["scope"] == "own"
    _assert_tiles(live_app, pid, mine, users=frozenset({3}))
    assert 0 < _tiles(mine)["incoming"]["now"] < _tiles(everyone)["incoming"]["now"]
    r = _get(live_app, token, user="5")
    assert r.status_code == 403 and "Нет доступа к показателям этого сотрудника" in r.text
    html = _get(live_app, token).text
    assert "Вы видите только свои звонки" in html


def test_a_head_of_department_sees_only_his_departments(installed, live_app):
    pid = _pid(live_app, installed)
    token = _open(installed, live_app, user_id=5)
    data = _json(live_app, token)
    assert data["scope"] == "departments"
    _assert_tiles(live_app, pid, data, users=CALL_CENTRE)
    one = _json(live_app, token, user="6")
    _assert_tiles(live_app, pid, one, users=frozenset({6}))
    for args in ({"user": "3"}, {"dept": "2"}):
        r = _get(live_app, token, **args)
        assert r.status_code == 403 and "Нет доступа" in r.text


@pytest.mark.parametrize("args, status, text", [
    ({"period": "decade"}, 400, "Такого периода нет"),
    ({"period": "custom", "from": "2016-01-01", "to": "2026-01-01"}, 400, "не может быть длиннее двух лет"),
    ({"period": "custom", "from": "2026-03-10", "to": "2026-03-01"}, 400, "Начало периода позже его конца"),
    ({"period": "custom", "from": "31.02.2026"}, 400, "Дата периода указана неверно"),
    ({"user": "999"}, 400, "Такого сотрудника нет на портале"),
    ({"user": "abc"}, 400, "Сотрудник в фильтре указан неверно"),
    ({"dir": "sideways"}, 400, "входящие или исходящие"),
    ({"unit": "days"}, 400, "в минутах или в часах"),
    ({"period": ["week", "month"]}, 400, "указан несколько раз"),
])
def test_bad_input_is_a_russian_4xx(installed, live_app, args, status, text):
    token = _open(installed, live_app)
    r = _get(live_app, token, **args)
    assert r.status_code == status and text in r.text, r.text[:300]
    j = _get(live_app, token, format="json", **args)
    assert j.status_code == status and text in j.json()["error"]


def test_a_user_of_another_portal_is_refused(installed, live_app):
    with live_app.ctx():
        other = Portal(member_id="other-portal", domain="other.example", protocol=1, client_endpoint="",
                       server_endpoint="", access_token="", refresh_token="", token_expires_at=0,
                       application_token="t", status="active")
        db.session.add(other)
        db.session.commit()
        db.session.add(PortalUser(portal_id=other.id, user_id=4242, name="Чужой сотрудник"))
        db.session.commit()
    token = _open(installed, live_app)
    r = _get(live_app, token, user="4242")
    assert r.status_code == 400 and "Такого сотрудника нет на портале" in r.text
    r = _get(live_app, token, user="4242", format="json")
    assert r.status_code == 400 and "Такого сотрудника нет на портале" in r.json()["error"]


def test_topics_are_ranked_with_the_previous_period(installed, live_app):
    pid = _pid(live_app, installed)
    token = _open(installed, live_app)
    data = _json(live_app, token)
    first = date.fromisoformat(data["period"]["first"])
    with live_app.ctx():
        tz = recount.portal_tz(pid)
        topics = {t.name: t.id for t in db.session.scalars(select(Topic).where(Topic.portal_id == pid))}
        calls = db.session.scalars(select(Call).where(Call.portal_id == pid, Call.call_type.in_((1, 2)))
                                   .order_by(Call.call_start_date.desc())).all()
        now_calls = [c for c in calls if c.call_start_date.astimezone(tz).date() >= first]
        before_calls = [c for c in calls if c.call_start_date.astimezone(tz).date() < first]
        plan_ = [("Претензия", now_calls[:5]), ("Консультация", now_calls[5:8]), ("Другое", now_calls[8:9]),
                 ("Консультация", before_calls[:4]), ("Претензия", before_calls[4:5])]
        for name, chosen in plan_:
            for c in chosen:
                db.session.add(CallTopic(portal_id=pid, call_id=c.call_id, topic_id=topics[name], chosen_by=1))
        db.session.commit()
        recount.mark_calls(pid, [c.call_id for _, chosen in plan_ for c in chosen])
        db.session.commit()
        recount.refresh(pid)
    data = _json(live_app, token)
    top = [(t["name"], t["calls"], t["before"]) for t in data["topics"]["top"]]
    assert top == [("Претензия", 5, 1), ("Консультация", 3, 4), ("Другое", 1, 0)]
    assert data["topics"]["with_topic"] == 9 and data["topics"]["top"][0]["share"] == pytest.approx(5 / 9)
    calls_now = _tiles(data)["incoming"]["now"] + sum(d["outgoing_connected"] + d["outgoing_failed"]
                                                      for d in data["by_day"])
    assert data["topics"]["no_topic"]["calls"] == calls_now - 9
    html = _get(live_app, token).text
    rows = [r.split("</tr>")[0] for r in html.split('data-testid="topic-row"')[1:]]
    assert len(rows) == 3 and "Претензия" in rows[0] and "Консультация" in rows[1]
    assert "Без темы:" in html
    # a topic filter keeps the topic's calls only
    only = _json(live_app, token, topic=str(topics["Претензия"]))
    assert [t["name"] for t in only["topics"]["top"]] == ["Претензия"]
    assert _tiles(only)["incoming"]["now"] + sum(d["outgoing_connected"] + d["outgoing_failed"]
                                                 for d in only["by_day"]) == 5


def test_english_follows_the_portal(installed, live_app):
    token = _open(installed, live_app, lang="en")
    html = _get(live_app, token).text
    assert "Key figures" in html and "Overview" in html and "How it is counted" in html
    assert "Входящие" not in html.split('data-testid="tiles"')[1].split("</section>")[0]


# --- plan vs fact -----------------------------------------------------------------------------------------

def _deal(sandbox, user: int, at: datetime) -> int:
    return sandbox.state.crm.add_entity("DEAL", {"TITLE": f"Сделка {at:%d.%m %H:%M}", "ASSIGNED_BY_ID": user,
                                                 "DATE_CREATE": at.isoformat(timespec="seconds")}, user)


def _set_plan(live_app, pid: int, value: dict) -> None:
    with live_app.ctx():
        db.session.add(AnalyticsSettings(portal_id=pid, plan=value))
        db.session.commit()


def test_plan_vs_fact_reads_the_portals_deals(installed, live_app):
    pid = _pid(live_app, installed)
    _set_plan(live_app, pid, {"month": 40, "week": 10})
    token = _open(installed, live_app)
    data = _json(live_app, token)
    today = date.fromisoformat(data["period"]["last"])
    with live_app.ctx():
        tz = recount.portal_tz(pid)
    last_month_end = today.replace(day=1) - timedelta(days=1)
    last_month = last_month_end.replace(day=1)

    def at(day: date, hour: int, minute: int = 0) -> datetime:
        return datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)

    # last month: 3 of user 3, 2 of user 4; on its edges, one a minute before it and one at its first minute
    for day, user in ((last_month, 3), (last_month + timedelta(days=3), 3), (last_month_end, 3),
                      (last_month + timedelta(days=5), 4), (last_month + timedelta(days=9), 4)):
        _deal(installed, user, at(day, 10))
    _deal(installed, 4, at(last_month, 0, 0))
    _deal(installed, 3, at(last_month, 0) - timedelta(minutes=1))
    # written in UTC (the day before as text) yet inside the month: compared as a moment
    _deal(installed, 3, at(last_month, 1).astimezone(UTC))
    got = _json(live_app, token, period="last_month")["plan"]
    assert got["plan"] == 40 and got["basis"] == "month" and got["fact"] == 7
    assert got["done"] == pytest.approx(7 / 40)
    html = _get(live_app, token, period="last_month").text
    assert _text(html, "plan-fact") == "7" and _text(html, "plan-value") == "40"
    assert _text(html, "plan-done") == "17,5 %" and "Период — целый месяц: план на месяц." in html

    # a whole Monday–Sunday week takes the week plan; 10 days of a month the month plan prorated
    week = _json(live_app, token, period="last_week")["plan"]
    assert week["plan"] == 10 and week["basis"] == "week"
    first = last_month + timedelta(days=1)
    ten = _json(live_app, token, period="custom", **{"from": first.isoformat(),
                                                    "to": (first + timedelta(days=9)).isoformat()})["plan"]
    days_in = (last_month_end - last_month).days + 1
    assert ten["basis"] == "month_days" and ten["plan"] == pytest.approx(40 * 10 / days_in)
    assert ten["fact"] == 3  # days 4, 6 and 10 of the month (1st excluded)

    # a manager's fact is his own deals
    mine = _json(live_app, _open(installed, live_app, user_id=3), period="last_month")["plan"]
    assert mine["fact"] == 4
    # a user filter narrows it too
    assert _json(live_app, token, period="last_month", user="4")["plan"]["fact"] == 3


def _text(html: str, testid: str) -> str:
    part = html.split(f'data-testid="{testid}"')[1].split("</span>")[0]
    return re.sub(r"<[^>]+>", "", part.split(">", 1)[1]).strip()


def test_the_fact_is_cached_for_a_minute_and_a_portal_failure_is_no_data(installed, live_app):
    pid = _pid(live_app, installed)
    token = _open(installed, live_app)
    today = date.fromisoformat(_json(live_app, token)["period"]["last"])
    with live_app.ctx():
        tz = recount.portal_tz(pid)
    yesterday = today - timedelta(days=1)
    _deal(installed, 3, datetime(yesterday.year, yesterday.month, yesterday.day, 12, tzinfo=tz))
    args = {"period": "yesterday"}
    assert _json(live_app, token, **args)["plan"] == {"plan": None, "basis": "", "fact": 1, "done": None}
    _deal(installed, 3, datetime(yesterday.year, yesterday.month, yesterday.day, 13, tzinfo=tz))
    assert _json(live_app, token, **args)["plan"]["fact"] == 1  # the same question within a minute: no request
    assert _json(live_app, token, user="3", **args)["plan"]["fact"] == 2  # another one: asked
    with live_app.ctx():
        live_app.app.extensions["analytics_deals_created"].clear()
    assert _json(live_app, token, **args)["plan"]["fact"] == 2
    html = _get(live_app, token, **args).text
    assert "План не задан" in html

    set_sandbox(installed, fail_503_share=1.0)
    try:
        with live_app.ctx():
            live_app.app.extensions["analytics_deals_created"].clear()
        r = _get(live_app, token, format="json", **args)
        assert r.status_code == 200 and r.json()["plan"]["fact"] is None
        html = _get(live_app, token, **args).text
        assert _text(html, "plan-fact") == "нет данных" and "Портал не ответил" in html
    finally:
        set_sandbox(installed, fail_503_share=0.0)


def test_the_plan_for_a_period():
    p = {"month": 31, "week": 7}
    assert plan.target(p, date(2026, 1, 1), date(2026, 1, 31)) == plan.Target(31, "month")
    assert plan.target(p, date(2026, 3, 2), date(2026, 3, 8)) == plan.Target(7, "week")      # Monday–Sunday
    assert plan.target(p, date(2026, 3, 3), date(2026, 3, 9)).basis == "month_days"          # Tuesday–Monday
    assert plan.target(p, date(2026, 1, 1), date(2026, 1, 10)).value == pytest.approx(10)
    # across months: each month's days against that month's length; a quarter is three months' plans
    assert plan.target(p, date(2026, 1, 22), date(2026, 2, 14)).value == pytest.approx(31 * 10 / 31 + 31 * 14 / 28)
    assert plan.target(p, date(2026, 1, 1), date(2026, 3, 31)).value == pytest.approx(93)
    assert plan.target({"week": 7}, date(2026, 1, 1), date(2026, 1, 31)) == plan.Target(31, "week_days")
    assert plan.target({}, date(2026, 1, 1), date(2026, 1, 31)) == plan.Target(None, "")
    assert plan.target({"month": "x", "week": -1}, date(2026, 1, 1), date(2026, 1, 31)) == plan.Target(None, "")
    assert plan.PlanFact(40, "month", 10).done == 0.25 and plan.PlanFact(None, "", 3).done is None


def test_the_qa_tiles_are_the_quality_figures(installed, live_app):
    from b24app.analytics import qa_figures

    from .test_qa_figures import World

    world = World(live_app, installed)  # three scores this month, one older, drafts and calibrations
    token = _open(installed, live_app)
    data = _json(live_app, token)
    tiles = _tiles(data)
    with live_app.ctx():
        now, before = (qa_figures.summary(_query(world.pid, data, previous=p)) for p in (False, True))
    assert tiles["qa_scored"]["now"] == now.scored == 3 and tiles["qa_scored"]["before"] == before.scored
    assert tiles["qa_mean_score"]["now"] == pytest.approx(now.mean_score) == pytest.approx(57.8)
    assert _same(tiles["qa_mean_score"]["before"], before.mean_score)
    assert tiles["qa_scored"]["verdict"] == ("good" if before.scored < 3 else "")
    mine = _tiles(_json(live_app, _open(installed, live_app, user_id=4)))
    assert mine["qa_scored"]["now"] == 1
    html = _get(live_app, token).text
    assert _tile_value(html, "qa_scored") == "3"
