"""The pivot over the installed sandbox portal's calls: its cells and totals are the cube's figures, a ratio's
total is the ratio of the summed calls (never a sum or mean of ratios), departments count their members,
the cap keeps a year of days a page, and a malformed URL state is a Russian 400."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import requests
from sqlalchemy import select

from b24app.analytics import cube, pivot
from b24app.analytics.access import department_users
from b24app.analytics.models import DIR_IN
from b24app.analytics.pivot_views import departments_of
from b24app.analytics.recount import portal_tz
from b24app.extensions import db
from b24app.models_base import utcnow
from b24app.portals.models import Portal, PortalDepartment

from ..platform.helpers import frame_token_from, open_placement


def _pid(live_app, sandbox) -> int:
    with live_app.ctx():
        return db.session.scalar(select(Portal.id).where(Portal.member_id == sandbox.member_id))


def _today(live_app, pid):
    with live_app.ctx():
        return utcnow().astimezone(portal_tz(pid)).date()


def _pivot(installed, live_app, query: str, user_id: int = 1) -> requests.Response:
    return open_placement(installed, live_app, f"/b24/analytics/pivot?{query}", user_id=user_id,
                          placement="CRM_ANALYTICS_MENU")


def _period(first, last) -> str:
    return f"period=custom&from={first.isoformat()}&to={last.isoformat()}"


def test_cells_and_totals_are_the_cube_figures(installed, live_app):
    pid = _pid(live_app, installed)
    last = _today(live_app, pid)
    first = last - timedelta(days=29)
    r = _pivot(installed, live_app, f"{_period(first, last)}&group=rows:manager.cols:direction.measure:incoming"
                                    "&format=json")
    assert r.status_code == 200, r.text[:300]
    data = r.json()
    with live_app.ctx():
        q = cube.Query(pid, first, last)
        cells = cube.figures(q, ("user", "direction"))
        by_user = cube.figures(q, ("user",))
        by_dir = cube.figures(q, ("direction",))
        total = cube.total(q)
    cols = [c["key"] for c in data["cols"]]
    assert set(cols) == {k for (k,) in by_dir} and cols[0] == DIR_IN
    assert {row["key"] for row in data["rows"]} == {k for (k,) in by_user}
    assert len(data["rows"]) > 3 and total.incoming > 0
    for row in data["rows"]:
        for col, cell in zip(cols, row["cells"], strict=True):
            f = cells.get((row["key"], col))
            assert cell["value"] == (f.incoming if f else 0)
        assert row["total"]["value"] == by_user[(row["key"],)].incoming
    for col in data["cols"]:
        assert col["total"]["value"] == by_dir[(col["key"],)].incoming
    assert data["total"]["value"] == total.incoming
    assert [row["total"]["value"] for row in data["rows"]] == sorted((row["total"]["value"] for row in data["rows"]),
                                                                     reverse=True)
    assert data["cols"][0]["label"] == "Входящие" and data["measure"]["label"] == "Входящие"


def _incoming(sandbox, user_id: int, answered: bool) -> None:
    def post(path, body=None):
        r = requests.post(f"{sandbox.url}/_sandbox/phone{path}", json=body or {}, timeout=30)
        r.raise_for_status()
        return r.json()

    call_id = post("/start", {"user_id": user_id, "phone": f"+7999{user_id}{time.time_ns() % 10**6:06d}",
                              "direction": "incoming"})["call_id"]
    if answered:
        post(f"/{call_id}/answer")
        post(f"/{call_id}/hangup", {"talk_seconds": 40})
    else:
        post(f"/{call_id}/miss")


def test_a_ratio_total_is_the_ratio_of_the_summed_calls(installed, live_app):
    pid = _pid(live_app, installed)
    for user, answered in ((3, True), (3, True), (3, False), (4, True)):
        _incoming(installed, user, answered)
    today = _today(live_app, pid)
    q = cube.Query(pid, today, today)
    deadline = time.time() + 20
    while True:
        with live_app.ctx():
            f = cube.total(q)
        if f.rung >= 4 or time.time() > deadline:
            break
        time.sleep(0.1)
    assert (f.rung, f.within_sl) == (4, 3), "the simulator's calls did not reach the aggregates"
    data = _pivot(installed, live_app, "period=today&group=rows:manager.cols:direction.measure:service_level"
                                       "&format=json").json()
    rows = {row["key"]: row for row in data["rows"]}
    assert rows[3]["total"]["value"] == pytest.approx(2 / 3) and rows[4]["total"]["value"] == 1.0
    assert data["total"]["value"] == 0.75                   # 3 of 4, not the mean 0.83 or the sum 1.67
    assert data["total"]["text"] == "75,0"
    incoming = next(c for c in data["cols"] if c["key"] == DIR_IN)
    assert incoming["total"]["value"] == 0.75
    # A cell without calls that rang has no service level: «нет данных», not 0.
    outgoing = [i for i, c in enumerate(data["cols"]) if c["key"] != DIR_IN]
    for i in outgoing:
        assert all(row["cells"][i]["value"] is None for row in data["rows"])
    # One column: the row totals alone.
    one = _pivot(installed, live_app, "period=today&group=rows:manager.cols:none.measure:service_level"
                                      "&format=json").json()
    assert [c["label"] for c in one["cols"]] == ["Итого"] and one["total"]["value"] == 0.75


def test_departments_are_the_sums_of_their_members(installed, live_app):
    pid = _pid(live_app, installed)
    last = _today(live_app, pid)
    first = last - timedelta(days=29)
    with live_app.ctx():
        deps, names = departments_of(pid, None)
        ids = db.session.scalars(select(PortalDepartment.department_id).where(PortalDepartment.portal_id == pid)).all()
        assert {d: department_users(pid, [d]) for d in ids} == deps
        by_user = cube.figures(cube.Query(pid, first, last), ("user", "direction"))
        total = cube.total(cube.Query(pid, first, last))
    data = _pivot(installed, live_app, f"{_period(first, last)}&group=rows:department.cols:direction.measure:outgoing"
                                       "&format=json").json()
    rows = {row["key"]: row for row in data["rows"]}
    assert {2, 3} <= set(rows)
    cols = [c["key"] for c in data["cols"]]
    for did, row in rows.items():
        for col, cell in zip(cols, row["cells"], strict=True):
            assert cell["value"] == sum(f.outgoing for (u, d), f in by_user.items() if u in deps[did] and d == col)
        assert row["label"] == names[did]
    assert data["total"]["value"] == total.outgoing         # each call once, with or without a department
    html = _pivot(installed, live_app, f"{_period(first, last)}&group=rows:direction.cols:department.measure:outgoing")
    assert "Отдел продаж" in html.text and "Сотрудник из нескольких отделов" in html.text


def test_a_year_of_days_is_capped(installed, live_app, monkeypatch):
    monkeypatch.setattr(pivot, "MAX_ROWS", 10)
    pid = _pid(live_app, installed)
    data = _pivot(installed, live_app, "period=year&group=rows:day.cols:manager.measure:talk_minutes"
                                       "&format=json").json()
    assert len(data["rows"]) == 10 and data["rows_all"] > 10 and data["truncated"] is True
    days = [row["key"] for row in data["rows"]]
    assert days == sorted(days) and days[-1] <= _today(live_app, pid).isoformat()
    with live_app.ctx():
        p = _today(live_app, pid)
        year = cube.Query(pid, p.replace(month=1, day=1), p)
        assert data["total"]["value"] == pytest.approx(cube.total(year).talk_minutes)
    html = _pivot(installed, live_app, "period=year&group=rows:day.cols:manager.measure:talk_minutes&unit=h").text
    assert 'data-testid="pivot-truncated"' in html and "Показаны 10 из" in html and "Время разговоров, ч" in html


def test_the_form_becomes_the_url_state(installed, live_app):
    page = _pivot(installed, live_app, "")
    assert page.status_code == 200 and 'data-testid="pivot-table"' in page.text
    assert 'data-testid="tab-pivot"' in page.text and "Сводная" in page.text
    ft = frame_token_from(page.text)
    r = requests.get(f"{live_app.url}/b24/analytics/pivot", params={
        "ft": ft, "period": "week", "dir": "incoming", "rows": "topic", "cols": "weekday", "measure": "csat"},
        allow_redirects=False, timeout=10)
    assert r.status_code == 303
    assert "group=rows:topic.cols:weekday.measure:csat" in requests.utils.unquote(r.headers["Location"])
    assert "period=week" in r.headers["Location"] and "dir=incoming" in r.headers["Location"]
    shown = requests.get(r.headers["Location"] if r.headers["Location"].startswith("http")
                         else live_app.url + r.headers["Location"], timeout=10)
    assert shown.status_code == 200 and 'value="csat" selected' in shown.text
    # Moving the rows onto the columns swaps them.
    r = requests.get(f"{live_app.url}/b24/analytics/pivot", params={
        "ft": ft, "group": "rows:manager.cols:direction.measure:incoming", "rows": "direction", "cols": "direction",
        "measure": "incoming"}, allow_redirects=False, timeout=10)
    assert "group=rows:direction.cols:manager.measure:incoming" in requests.utils.unquote(r.headers["Location"])


@pytest.mark.parametrize(("group", "text"), [
    ("rows:employee.cols:direction.measure:incoming", "Такого разреза"),
    ("rows:manager.cols:direction.measure:profit", "Такого показателя нет"),
    ("rows:manager.cols:manager.measure:incoming", "должны быть разными"),
    ("rows:manager.rows:line", "Настройка сводной таблицы указана неверно"),
    ("rows", "Настройка сводной таблицы указана неверно"),
    ("sort:manager", "Настройка сводной таблицы указана неверно"),
    ("rows:manager,cols:line", "Группировка указана неверно"),
])
def test_a_bad_group_is_a_russian_400(installed, live_app, group, text):
    r = _pivot(installed, live_app, f"group={group}")
    assert r.status_code == 400 and text in r.text, r.text[:300]
    j = _pivot(installed, live_app, f"group={group}&format=json")
    assert j.status_code == 400 and text in j.json()["error"]


def test_a_bad_form_choice_is_a_russian_400(installed, live_app):
    r = _pivot(installed, live_app, "rows=manager&cols=direction&measure=drop")
    assert r.status_code == 400 and "Такого показателя нет" in r.text


def test_a_manager_pivots_only_his_own_calls(installed, live_app):
    data = _pivot(installed, live_app, "group=rows:manager.cols:scenario.measure:outgoing&format=json",
                  user_id=3).json()
    assert [row["key"] for row in data["rows"]] == [3]
    assert data["total"]["value"] == data["rows"][0]["total"]["value"]
