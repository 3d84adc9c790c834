"""The analytics tables over real HTTP against an installed sandbox portal: the employees table is the cube's
and the raw calls' figures, every column sorts, minutes switch to hours, heads and managers see their own
rows, departments sum their people, lines split by direction, clients' talk time is their calls', and bad
input is a Russian 400."""

from __future__ import annotations

import math
from datetime import datetime, time, timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from babel.numbers import format_decimal
from sqlalchemy import select, update

from b24app.analytics import cube, metrics, tables
from b24app.analytics.recount import day_bounds, portal_tz
from b24app.analytics.settings import load
from b24app.calls.models import Call
from b24app.calls.rules import ANSWERED_CODE, INCOMING_TYPES, OUTGOING_TYPES
from b24app.extensions import db
from b24app.models_base import utcnow
from b24app.portals.models import Portal, PortalUser

from ..calls.test_intake import add_stat_row, callend, fire
from ..platform.helpers import frame_token_from, open_placement

CALL_CENTRE = {5, 6, 7, 9}
KINDS = ("employees", "departments", "lines", "clients")


class Cells(HTMLParser):
    """An analytics table as the viewer sees it: rows (row-<key>, total) in order, each with its data-href
    and cells by data-col (text, classes, data-value); the headings' text and sort links."""

    def __init__(self, html: str):
        super().__init__()
        self.rows: dict[str, dict] = {}
        self.order: list[str] = []
        self.headings: dict[str, str] = {}
        self.sort_links: dict[str, str] = {}
        self._row = self._cell = self._th = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        testid = a.get("data-testid") or ""
        if tag == "tr" and (testid.startswith("row-") or testid == "total"):
            self._row = testid
            self.rows[testid] = {"href": a.get("data-href"), "cells": {}}
            self.order.append(testid)
        elif tag == "td" and self._row and "data-col" in a:
            self._cell = {"text": "", "class": (a.get("class") or "").split(), "value": a.get("data-value")}
            self.rows[self._row]["cells"][a["data-col"]] = self._cell
        elif tag == "th" and "data-col" in a:
            self._th = a["data-col"]
            self.headings[self._th] = ""
        elif tag == "a" and self._th and testid.startswith("sort-"):
            self.sort_links[self._th] = a["href"]

    def handle_endtag(self, tag):
        if tag == "td":
            self._cell = None
        elif tag == "tr":
            self._row = None
        elif tag == "th":
            self._th = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data
        if self._th:
            self.headings[self._th] += data

    def text(self, row: str, col: str) -> str:
        return " ".join(self.rows[row]["cells"][col]["text"].split())

    def heading(self, col: str) -> str:
        return " ".join(self.headings[col].replace("\u00a0", " ").split())


def _pid(live_app, sandbox) -> int:
    with live_app.ctx():
        return db.session.scalar(select(Portal.id).where(Portal.member_id == sandbox.member_id))


def _token(installed, live_app, user_id: int) -> str:
    r = open_placement(installed, live_app, "/b24/analytics/employees", user_id=user_id, placement="CRM_ANALYTICS_MENU")
    assert r.status_code == 200, r.text[:500]
    return frame_token_from(r.text)


def _period(live_app, pid: int):
    """Days 40..3 before today: every missed call's callback window has closed, so «lost» is settled."""
    with live_app.ctx():
        today = utcnow().astimezone(portal_tz(pid)).date()
    first, last = today - timedelta(days=40), today - timedelta(days=3)
    return first, last, {"period": "custom", "from": first.isoformat(), "to": last.isoformat()}


def _get(live_app, kind: str, ft: str, **args) -> requests.Response:
    return requests.get(f"{live_app.url}/b24/analytics/{kind}", params={"ft": ft, **args}, timeout=30)


def _json(live_app, kind: str, ft: str, **args) -> dict:
    r = _get(live_app, kind, ft, format="json", **args)
    assert r.status_code == 200, r.text[:500]
    return r.json()


def _same(values: dict, f: metrics.Figures) -> None:
    for col in tables.FIGURE_COLUMNS:
        want, got = col.value(f), values[col.key]
        assert (got is None) == (want is None), (col.key, got, want)
        if want is not None:
            assert got == pytest.approx(want, rel=1e-9, abs=1e-9), (col.key, got, want)


def _ru(value: float) -> str:
    return format_decimal(value, format="#,##0.0", locale="ru").replace("\u00a0", " ")


def test_employee_rows_and_totals_are_the_cube_and_the_raw_calls(installed, live_app):
    pid = _pid(live_app, installed)
    first, last, period = _period(live_app, pid)
    ft = _token(installed, live_app, 1)
    data = _json(live_app, "employees", ft, **period)
    with live_app.ctx():
        q = cube.Query(pid, first, last)
        by_user, total = cube.figures(q, ("user",)), cube.total(q)
        tz = portal_tz(pid)
        start, end = day_bounds(first, tz)[0], day_bounds(last, tz)[1]
        raw = metrics.figures(pid, metrics.Period(start, end), group_by="user", settings=load(pid).metrics)
        names = dict(db.session.execute(select(PortalUser.user_id, PortalUser.name)
                                        .where(PortalUser.portal_id == pid)).all())
    rows = {r["key"]: r["values"] for r in data["rows"]}
    assert len(rows) >= 5 and set(rows) == {str(u) for (u,) in by_user} == {str(u or 0) for u in raw}
    for (uid,), f in by_user.items():
        _same(rows[str(uid)], f)
        _same(rows[str(uid)], raw[uid or None])
        assert rows[str(uid)]["name"] == names[uid]
    _same(data["total"]["values"], total)
    assert total.incoming > 0 and total.talk_seconds > 0

    html = Cells(_get(live_app, "employees", ft, **period).text)
    assert html.order[-1] == "total" and len(html.order) == len(rows) + 1
    for key, values in rows.items():
        cells = html.rows[f"row-{key}"]["cells"]
        for col in ("incoming", "accepted", "missed", "lost", "outgoing", "talk_minutes"):
            assert float(cells[col]["value"]) == pytest.approx(values[col])
        assert html.text(f"row-{key}", "name") == values["name"]
        # Imported history has no ring times: the wait is unknown, not zero.
        assert cells["asa"]["value"] is None and html.text(f"row-{key}", "asa") == "нет данных"
    assert html.text("total", "incoming") == str(total.incoming)
    # A click on a manager's row opens his calls over the same period.
    href = html.rows["row-3"]["href"]
    url = urlsplit(href)
    assert url.path == "/b24/analytics/calls"
    assert parse_qs(url.query)["user"] == ["3"] and parse_qs(url.query)["from"] == [first.isoformat()]
    # The worst and best of a column with a direction are marked; a column without one is not.
    missed = {k: v["missed_share"] for k, v in rows.items() if v["missed_share"] is not None}
    worst = [k for k, v in missed.items() if v == max(missed.values())]
    assert all("worst" in html.rows[f"row-{k}"]["cells"]["missed_share"]["class"] for k in worst)
    assert not any(c in html.rows[f"row-{k}"]["cells"]["incoming"]["class"] for k in rows for c in ("worst", "best"))


@pytest.mark.parametrize("kind", KINDS)
def test_every_column_sorts_both_ways(installed, live_app, kind):
    pid = _pid(live_app, installed)
    _, _, period = _period(live_app, pid)
    ft = _token(installed, live_app, 1)
    columns = _json(live_app, kind, ft, **period)["columns"]
    assert len(columns) >= 7
    moved = 0
    for col in columns:
        orders = []
        for sort in (col["key"], "-" + col["key"]):
            data = _json(live_app, kind, ft, sort=sort, **period)
            assert data["sort"] == sort
            values = [r["values"][col["key"]] for r in data["rows"]]
            known = [v for v in values if v is not None]
            assert values[:len(known)] == known, f"{sort}: «нет данных» goes last"
            key = (lambda v: v.casefold()) if col["unit"] == "text" else (lambda v: v)
            assert known == sorted(known, key=key, reverse=sort.startswith("-")), sort
            orders.append([r["key"] for r in data["rows"]])
        moved += orders[0] != orders[1]
    assert moved >= 3  # the columns really reorder the rows
    # Without JS: the headings are links; the sorted column's link flips it, another starts largest first.
    html = Cells(_get(live_app, kind, ft, sort="-talk_minutes", **period).text)
    assert parse_qs(urlsplit(html.sort_links["talk_minutes"]).query)["sort"] == ["talk_minutes"]
    assert parse_qs(urlsplit(html.sort_links["incoming"]).query)["sort"] == ["-incoming"]
    assert html.heading("talk_minutes").endswith("↓")
    data = _json(live_app, kind, ft, sort="-talk_minutes", **period)
    assert html.order[:-1] == [f"row-{r['key']}" for r in data["rows"]]


def test_minutes_switch_to_hours(installed, live_app):
    pid = _pid(live_app, installed)
    first, last, period = _period(live_app, pid)
    ft = _token(installed, live_app, 1)
    with live_app.ctx():
        total = cube.total(cube.Query(pid, first, last))
        mine = cube.total(cube.Query(pid, first, last, users=frozenset({3})))
    minutes = Cells(_get(live_app, "employees", ft, **period).text)
    assert minutes.heading("talk_minutes") == "Время разговоров, мин"
    assert minutes.text("total", "talk_minutes") == _ru(total.talk_seconds / 60)
    r = _get(live_app, "employees", ft, unit="h", **period)
    hours = Cells(r.text)
    assert hours.heading("talk_minutes") == "Время разговоров, ч"
    assert hours.heading("callback_minutes") == "Среднее время до перезвона, ч"
    assert hours.text("total", "talk_minutes") == _ru(total.talk_seconds / 3600)
    assert hours.text("row-3", "talk_minutes") == _ru(mine.talk_seconds / 3600)
    assert total.talk_seconds / 3600 < total.talk_seconds / 60 - 1  # the two really differ
    # The state rides along: a sort link keeps the hours, the drill-down keeps the period.
    assert "unit=h" in hours.sort_links["incoming"] and 'data-testid="unit-h"' in r.text
    # The live refresh asks for the page's own block: the same table without the tabs around it.
    partial = _get(live_app, "employees", ft, unit="h", partial="1", **period)
    assert partial.status_code == 200 and 'data-testid="row-3"' in partial.text
    assert 'data-testid="analytics-tabs"' not in partial.text
    # An English portal reads the same table in English.
    r = open_placement(installed, live_app, "/b24/analytics/employees", user_id=1, placement="CRM_ANALYTICS_MENU",
                       lang="en")
    english = Cells(_get(live_app, "employees", frame_token_from(r.text), unit="h", **period).text)
    assert english.heading("csat") == "CSAT, %" and english.heading("talk_minutes").endswith(", h")
    assert english.text("total", "name") == "Total"
    # Clients read the same switch.
    clients = Cells(_get(live_app, "clients", ft, unit="h", **period).text)
    assert clients.heading("talk_minutes") == "Время разговоров, ч ↓"  # the default order
    assert clients.text("total", "talk_minutes") == _ru(total.talk_seconds / 3600)


def test_departments_sum_their_people_and_a_head_sees_only_his(installed, live_app):
    pid = _pid(live_app, installed)
    first, last, period = _period(live_app, pid)
    director = _token(installed, live_app, 1)
    with live_app.ctx():
        by_user = cube.figures(cube.Query(pid, first, last), ("user",))
        total = cube.total(cube.Query(pid, first, last))

    def dept(users) -> metrics.Figures:
        return tables.summed(f for (u,), f in by_user.items() if u in users)

    data = _json(live_app, "departments", director, **period)
    rows = {r["key"]: r["values"] for r in data["rows"]}
    assert set(rows) == {"1", "2", "3"} and data["idle"] == [4]  # Бухгалтерия makes no calls
    _same(rows["2"], dept({2, 3, 4}))
    _same(rows["3"], dept(CALL_CENTRE))
    _same(rows["1"], dept(set(range(1, 10))))  # the company's root holds every department
    _same(data["total"]["values"], total)
    html = _get(live_app, "departments", director, **period)
    assert "учитывается в каждом из них" in html.text
    cells = Cells(html.text)
    href = urlsplit(cells.rows["row-3"]["href"])
    assert href.path == "/b24/analytics/employees" and parse_qs(href.query)["dept"] == ["3"]
    # The drill-down: the employees of the department.
    people = _json(live_app, "employees", director, dept="3", **period)
    assert {r["key"] for r in people["rows"]} == {str(u) for (u,) in by_user if u in CALL_CENTRE}

    # A manager in two departments counts in both; the totals count his calls once.
    with live_app.ctx():
        db.session.execute(update(PortalUser).where(PortalUser.portal_id == pid, PortalUser.user_id == 4)
                           .values(departments=[2, 3]))
        db.session.commit()
    data = _json(live_app, "departments", director, **period)
    rows = {r["key"]: r["values"] for r in data["rows"]}
    _same(rows["3"], dept(CALL_CENTRE | {4}))
    _same(rows["2"], dept({2, 3, 4}))
    _same(data["total"]["values"], total)
    assert rows["2"]["incoming"] + rows["3"]["incoming"] > data["total"]["values"]["incoming"]

    head = _token(installed, live_app, 5)
    data = _json(live_app, "departments", head, **period)
    assert [r["key"] for r in data["rows"]] == ["3"]
    with live_app.ctx():
        scoped = cube.Query(pid, first, last, users=frozenset(CALL_CENTRE | {4}))
        _same(data["total"]["values"], cube.total(scoped))
    people = _json(live_app, "employees", head, **period)
    assert {r["key"] for r in people["rows"]} <= {str(u) for u in CALL_CENTRE | {4}}
    assert {"5", "6", "7"} <= {r["key"] for r in people["rows"]}
    assert _get(live_app, "departments", head, dept="2", **period).status_code == 403


def test_a_manager_sees_only_his_own_row(installed, live_app):
    pid = _pid(live_app, installed)
    first, last, period = _period(live_app, pid)
    ft = _token(installed, live_app, 3)
    data = _json(live_app, "employees", ft, **period)
    with live_app.ctx():
        mine = cube.total(cube.Query(pid, first, last, users=frozenset({3})))
    assert [r["key"] for r in data["rows"]] == ["3"] and mine.incoming + mine.outgoing > 0
    _same(data["rows"][0]["values"], mine)
    _same(data["total"]["values"], mine)
    assert _json(live_app, "departments", ft, **period)["rows"] == []
    page = _get(live_app, "departments", ft, **period)
    assert page.status_code == 200 and "Показатели отделов видят руководители отделов" in page.text
    lines = _json(live_app, "lines", ft, **period)
    assert sum(r["values"]["incoming"] for r in lines["rows"]) == mine.incoming
    r = _get(live_app, "employees", ft, user="4", **period)
    assert r.status_code == 403 and "Нет доступа к показателям" in r.text


@pytest.mark.parametrize("kind,args,status,text", [
    ("employees", {"sort": "bogus"}, 400, "Сортировка указана неверно"),
    ("employees", {"sort": "-"}, 400, "Сортировка указана неверно"),
    ("departments", {"sort": "last_call"}, 400, "Сортировка указана неверно"),
    ("clients", {"sort": "aht"}, 400, "Сортировка указана неверно"),
    ("lines", {"sort": "--incoming"}, 400, "Сортировка указана неверно"),
    ("hours", {"sort": "incoming"}, 400, "Сортировка указана неверно"),
    ("employees", {"unit": "days"}, 400, "Время показывается в минутах или в часах"),
    ("clients", {"unit": "sec"}, 400, "Время показывается в минутах или в часах"),
    ("lines", {"group": "topic"}, 400, "Группировка указана неверно"),
    ("employees", {"group": "direction"}, 400, "Группировка указана неверно"),
    ("clients", {"page": "0"}, 400, "Номер страницы указан неверно"),
])
def test_bad_input_is_a_russian_400(installed, live_app, kind, args, status, text):
    ft = _token(installed, live_app, 1)
    r = _get(live_app, kind, ft, **args)
    assert r.status_code == status and text in r.text
    r = _get(live_app, kind, ft, format="json", **args)
    assert r.status_code == status and text in r.json()["error"]


def test_lines_by_line_and_by_direction(installed, live_app):
    pid = _pid(live_app, installed)
    first, last, period = _period(live_app, pid)
    ft = _token(installed, live_app, 1)
    with live_app.ctx():
        q = cube.Query(pid, first, last)
        by_line, by_both = cube.figures(q, ("line",)), cube.figures(q, ("line", "direction"))
    data = _json(live_app, "lines", ft, **period)
    rows = {r["line"]: r for r in data["rows"]}
    assert len(rows) >= 2 and set(rows) == {line for (line,) in by_line}
    for (line,), f in by_line.items():
        _same(rows[line]["values"], f)
    split = _json(live_app, "lines", ft, group="direction", **period)
    assert {(r["line"], r["direction"]) for r in split["rows"]} == {
        (line, {1: "incoming", 2: "outgoing"}.get(d, "other")) for line, d in by_both}
    for r in split["rows"]:
        code = {"incoming": 1, "outgoing": 2}.get(r["direction"], 0)
        _same(r["values"], by_both[(r["line"], code)])
    incoming = [r for r in split["rows"] if r["direction"] == "incoming"]
    assert incoming and all(r["values"]["outgoing"] == 0 for r in incoming)
    # A line's row opens the employees of that line (and direction).
    line = next(iter(rows))
    cells = Cells(_get(live_app, "lines", ft, group="direction", **period).text)
    href = parse_qs(urlsplit(cells.rows[f"row-{line}:incoming"]["href"]).query)
    assert href["line"] == [line] and href["dir"] == ["incoming"] and "group" not in href
    people = _json(live_app, "employees", ft, line=line, dir="incoming", **period)
    _same(people["total"]["values"], by_both[(line, 1)])


def _client_calls(installed, live_app, pid, day) -> dict:
    """Four calls with one client number in three spellings (two managers), the CRM client on the later ones."""
    with live_app.ctx():
        tz = portal_tz(pid)
    at = [datetime.combine(day, time(h, 0), tz).isoformat() for h in (10, 11, 12, 13)]
    specs = [
        dict(CALL_TYPE="2", PHONE_NUMBER="+79161112233", CALL_DURATION="95", CALL_FAILED_CODE="200",
             PORTAL_USER_ID="3", CALL_START_DATE=at[0], CRM_ENTITY_TYPE="LEAD", CRM_ENTITY_ID="41"),
        dict(CALL_TYPE="1", PHONE_NUMBER="89161112233", CALL_DURATION="200", CALL_FAILED_CODE="200",
             PORTAL_USER_ID="3", CALL_START_DATE=at[1], CRM_ENTITY_TYPE="CONTACT", CRM_ENTITY_ID="4242"),
        dict(CALL_TYPE="2", PHONE_NUMBER="79161112233", CALL_DURATION="0", CALL_FAILED_CODE="304",
             PORTAL_USER_ID="4", CALL_START_DATE=at[2]),
        dict(CALL_TYPE="1", PHONE_NUMBER="+79161112233", CALL_DURATION="61", CALL_FAILED_CODE="200",
             PORTAL_USER_ID="4", CALL_START_DATE=at[3]),
    ]
    for spec in specs:
        row = add_stat_row(installed, **spec)
        fire(installed, "ONVOXIMPLANTCALLEND", callend(row))
    with live_app.ctx():
        calls = db.session.scalars(select(Call).where(Call.portal_id == pid, Call.phone_number.in_(
            ["+79161112233", "89161112233", "79161112233"]))).all()
        assert len(calls) == 4
        for c in calls:
            db.session.expunge(c)
    return {c.phone_number + str(c.portal_user_id) + str(c.call_type): c for c in calls}


def _talk(calls) -> int:
    return sum((c.conversation if c.conversation is not None else c.duration or 0) for c in calls
               if c.failed_code == ANSWERED_CODE and c.call_type in INCOMING_TYPES | OUTGOING_TYPES)


def test_clients_talk_time_is_the_sum_of_their_calls(installed, live_app):
    pid = _pid(live_app, installed)
    first, last, period = _period(live_app, pid)
    calls = list(_client_calls(installed, live_app, pid, last - timedelta(days=1)).values())
    ft = _token(installed, live_app, 1)
    data = _json(live_app, "clients", ft, **period)
    row = next(r for r in data["rows"] if r["key"] == "79161112233")
    assert row["talk_seconds"] == _talk(calls) > 0
    assert row["values"]["talk_minutes"] == pytest.approx(_talk(calls) / 60)
    assert (row["values"]["calls"], row["values"]["incoming"], row["values"]["outgoing"],
            row["values"]["missed"]) == (4, 2, 2, 1)
    # The CRM client of the latest call that names one (the LEAD came first, then the CONTACT).
    with live_app.ctx():
        named = sorted((c for c in calls if c.crm_entity_type and c.crm_entity_id), key=lambda c: c.call_start_date)
    assert named and (row["crm_entity_type"], row["crm_entity_id"]) == (named[-1].crm_entity_type,
                                                                        named[-1].crm_entity_id)
    assert row["crm_path"] == f"/crm/{named[-1].crm_entity_type.lower()}/details/{named[-1].crm_entity_id}/"

    # Every client's talk time is his number's connected calls, and the totals are all the period's.
    with live_app.ctx():
        tz = portal_tz(pid)
        start, end = day_bounds(first, tz)[0], day_bounds(last, tz)[1]
        period_calls = db.session.scalars(select(Call).where(
            Call.portal_id == pid, Call.call_start_date >= start, Call.call_start_date < end,
            Call.phone_number != "")).all()
    by_key: dict[str, list] = {}
    for c in period_calls:
        by_key.setdefault(metrics.phone_key(c.phone_number), []).append(c)
    assert data["count"] == len({k for k, cs in by_key.items()
                                 if any(c.call_type in INCOMING_TYPES | OUTGOING_TYPES for c in cs)})
    for r in data["rows"][:30]:
        assert r["talk_seconds"] == _talk(by_key[r["key"]]), r["key"]
    assert data["total"]["talk_seconds"] == _talk(period_calls)
    talks = [r["values"]["talk_minutes"] for r in data["rows"]]
    assert talks == sorted(talks, reverse=True) and len(talks) == min(200, data["count"])

    html = _get(live_app, "clients", ft, **period)
    cells = Cells(html.text)
    number = urlsplit(cells.rows["row-79161112233"]["href"])
    assert number.path == "/b24/analytics/calls" and parse_qs(number.query)["phone"] == ["79161112233"]
    assert 'data-open-path="/crm/' in html.text and "+7 916 111-22-33" in cells.text("row-79161112233", "client")

    # A manager sees his own calls with the client only.
    mine = _json(live_app, "clients", _token(installed, live_app, 3), **period)
    row = next(r for r in mine["rows"] if r["key"] == "79161112233")
    own = [c for c in calls if c.portal_user_id == 3]
    assert row["values"]["calls"] == 2 and row["talk_seconds"] == _talk(own)
    assert math.isclose(mine["total"]["talk_seconds"],
                        _talk([c for c in period_calls if c.portal_user_id == 3]))


def test_by_day_and_hour_by_weekday(installed, live_app):
    pid = _pid(live_app, installed)
    first, last, period = _period(live_app, pid)
    ft = _token(installed, live_app, 1)
    data = _json(live_app, "hours", ft, **period)
    with live_app.ctx():
        q = cube.Query(pid, first, last)
        by_day, cells = cube.figures(q, ("day",)), cube.by_hour(q)
    assert len(data["days"]) == (last - first).days + 1
    for d in data["days"]:
        f = by_day.get((datetime.fromisoformat(d["day"]).date(),)) or metrics.Figures()
        assert (d["incoming"], d["accepted"], d["missed"], d["outgoing"]) == (f.incoming, f.accepted, f.missed,
                                                                              f.outgoing)
    assert {(c["weekday"], c["hour"]): c["calls"] for c in data["heat"]} == {
        k: v["calls"] for k, v in cells.items() if v["calls"]}
    top = max(cells.values(), key=lambda v: v["calls"])["calls"]
    assert data["busiest"]["cells"][0]["calls"] == top
    hour = data["busiest"]["hour"]
    assert hour["calls"] == sum(v["calls"] for (_, h), v in cells.items() if h == hour["hour"])

    page = _get(live_app, "hours", ft, **period)
    assert page.status_code == 200
    assert f"Самый загруженный час — {hour['hour']:02d}:00–{(hour['hour'] + 1) % 24:02d}:00" in page.text
    wd, h = data["busiest"]["cells"][0]["weekday"], data["busiest"]["cells"][0]["hour"]
    assert f'data-testid="heat-{wd}-{h}" data-calls="{top}"' in page.text
    assert 'id="analytics-days-data"' in page.text and 'id="analytics-days-chart"' in page.text
