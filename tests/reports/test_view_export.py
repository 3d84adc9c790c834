"""«Выгрузить в Excel» on every analytics view over real HTTP against an installed sandbox portal: each view's
`?format=xlsx` is a workbook download (Russian name, xlsx type, no-store) that opens with openpyxl, has Russian
headers and a title block with the period, the filters in words, the build time and the portal's zone; its cells
are the page's JSON for the same state (shares 0..1, time in the page's unit, empty for no data, the page's
worst/best marks, totals last); the call list holds every call, not one page; a manager's export holds his calls
only; a bad state is the page's Russian 4xx."""

from __future__ import annotations

import io
import re
from datetime import date, datetime, time, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import requests
from openpyxl import load_workbook
from sqlalchemy import select

from b24app.analytics import call_list, cube
from b24app.analytics.recount import portal_tz
from b24app.analytics.settings import load
from b24app.calls.rules import INCOMING_TYPES
from b24app.extensions import db
from b24app.models_base import utcnow
from b24app.portals.models import PortalUser

from ..analytics.test_qa_figures import World
from ..analytics.test_tables import Cells
from ..platform.helpers import analytics_token, frame_token_from, open_placement, portal_id

CYRILLIC = re.compile("[а-яА-ЯёЁ]")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BAD, GOOD = "FFC7CE", "C6EFCE"
HEADER = 5  # title, period, build time, filters: the header is the fifth row
VIEWS = {
    "/b24/reports": ("Обзор", ["Показатели", "По дням", "Темы", "Время звонка"]),
    "/b24/analytics/employees": ("Сотрудники", ["Сотрудники"]),
    "/b24/analytics/departments": ("Отделы", ["Отделы"]),
    "/b24/analytics/lines": ("Линии", ["Линии"]),
    "/b24/analytics/clients": ("Клиенты", ["Клиенты"]),
    "/b24/analytics/hours": ("По часам", ["По дням", "По часам"]),
    "/b24/analytics/calls": ("Звонки", ["Звонки"]),
    "/b24/analytics/missed": ("Пропущенные", ["Пропущенные", "Не перезвонили"]),
    "/b24/analytics/quality": ("Качество", ["Качество", "По сотрудникам", "По темам", "По чек-листам",
                                            "По контролёрам", "Провалы по пунктам", "Разобрать на планёрке"]),
    "/b24/analytics/pivot": ("Сводная", ["Сводная"]),
}


# --- helpers -------------------------------------------------------------------------------------------------



def _period(live_app, pid: int) -> tuple[date, date, dict]:
    """Days 40..3 before today: the callback windows have closed, so «lost» does not move during the test."""
    with live_app.ctx():
        today = utcnow().astimezone(portal_tz(pid)).date()
    first, last = today - timedelta(days=40), today - timedelta(days=3)
    return first, last, {"period": "custom", "from": first.isoformat(), "to": last.isoformat()}


def _get(live_app, path: str, ft: str, **args) -> requests.Response:
    return requests.get(live_app.url + path, params={"ft": ft, **args}, timeout=60)


def _json(live_app, path: str, ft: str, **args) -> dict:
    r = _get(live_app, path, ft, format="json", **args)
    assert r.status_code == 200, r.text[:500]
    return r.json()


def _workbook(r: requests.Response):
    assert r.status_code == 200, r.text[:800]
    assert r.headers["Content-Type"] == XLSX
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["Content-Disposition"].startswith("attachment;")
    return load_workbook(io.BytesIO(r.content))


def _xlsx(live_app, path: str, ft: str, **args):
    return _workbook(_get(live_app, path, ft, format="xlsx", **args))


def _file_name(r: requests.Response) -> str:
    m = re.search(r"filename\*=UTF-8''(\S+)", r.headers["Content-Disposition"])
    assert m, r.headers["Content-Disposition"]
    return unquote(m.group(1))


class Sheet:
    """A sheet as written: the title block, the header, the data rows (values and cells)."""

    def __init__(self, ws):
        self.ws = ws
        rows = list(ws.iter_rows())
        self.title = [r[0].value for r in rows[:HEADER - 1]]
        self.header = [c.value for c in rows[HEADER - 1]]
        self.cells = rows[HEADER:]
        self.values = [[c.value for c in r] for r in self.cells]

    def fill(self, row: int, col: int) -> str:
        c = self.cells[row][col]
        return (c.fill.fgColor.rgb or "")[-6:] if c.fill and c.fill.fill_type == "solid" else ""

    def bold(self, row: int) -> bool:
        return bool(self.cells[row][0].font and self.cells[row][0].font.b)


def _approx(got, want, what=""):
    if want is None:
        assert got is None, (what, got)
    elif isinstance(want, str):
        assert got == want, (what, got, want)
    else:
        assert got == pytest.approx(want, rel=1e-9, abs=1e-9), (what, got, want)


def _seconds(v):
    """A duration cell read back (openpyxl turns [h]:mm:ss into a timedelta or a time)."""
    if v is None:
        return None
    if isinstance(v, timedelta):
        return v.total_seconds()
    if isinstance(v, time):
        return v.hour * 3600 + v.minute * 60 + v.second + v.microsecond / 1e6
    return float(v) * 86400


def _moment(iso: str) -> datetime:
    return datetime.fromisoformat(iso).replace(tzinfo=None)


def _same_moment(got: datetime, want: datetime) -> None:
    assert abs((got - want).total_seconds()) < 1, (got, want)


# --- every view ----------------------------------------------------------------------------------------------

def test_every_view_downloads_a_russian_workbook_of_its_state(installed, live_app):
    pid = portal_id(live_app, installed)
    first, last, period = _period(live_app, pid)
    ft = analytics_token(installed, live_app)
    state = {**period, "dir": "incoming", "unit": "h"}
    for path, (label, sheets) in VIEWS.items():
        # The page's button is a link to the download of this very state, frame token included.
        html = _get(live_app, path, ft, **state)
        assert html.status_code == 200, (path, html.text[:500])
        m = re.search(r'<a class="btn a-export" href="([^"]+)"[^>]*data-testid="export-xlsx"', html.text)
        assert m and "Выгрузить в Excel" in html.text[m.start():m.end() + 400], path
        href = m.group(1).replace("&amp;", "&")
        args = parse_qs(urlsplit(href).query)
        assert urlsplit(href).path == path and args["format"] == ["xlsx"] and args["ft"][0]
        assert args["from"] == [first.isoformat()] and args["dir"] == ["incoming"] and args["unit"] == ["h"]
        r = requests.get(live_app.url + href, timeout=60)
        wb = _workbook(r)
        name = _file_name(r)
        assert name.startswith(label + " ") and name.endswith(".xlsx"), name
        if path != "/b24/analytics/missed":  # the board is always this week
            assert f"{first:%d.%m.%Y}–{last:%d.%m.%Y}" in name
            assert f'filename="{path.split("/")[-1] if path != "/b24/reports" else "reports"}-{first}-{last}.xlsx"' \
                in r.headers["Content-Disposition"]
        assert wb.sheetnames == sheets, path
        for ws in wb.worksheets:
            s = Sheet(ws)
            assert s.header and all(CYRILLIC.search(str(h)) or re.fullmatch(r"\d\d", str(h)) or h == "CSAT, %"
                                    for h in s.header), (path, ws.title, s.header)
            assert ws.freeze_panes == f"A{HEADER + 1}"
            heading, when, built, filters = s.title
            assert CYRILLIC.search(heading)
            if path == "/b24/analytics/missed":
                assert when.startswith("Эта неделя:")
            else:
                assert when.startswith(f"Период: {first:%d.%m.%Y} — {last:%d.%m.%Y}"), when
            assert re.fullmatch(r"Сформировано \d\d\.\d\d\.\d{4} \d\d:\d\d по времени портала \(UTC\+03:00\)", built)
            assert filters.startswith("Фильтры: направление: Входящие") and "Звонки всех сотрудников." in filters
    # A tab of the frame that is no table (the report builder) offers no such button.
    from b24app.analytics.page import TABS

    rules = {r.endpoint: r.rule for r in live_app.app.url_map.iter_rules()}
    assert {rules[e] for e, _label in TABS} >= set(VIEWS)
    for rule in (rules[e] for e, _label in TABS if rules[e] not in VIEWS):
        html = _get(live_app, rule, ft, **state)
        assert html.status_code == 200 and 'data-testid="export-xlsx"' not in html.text, rule


def test_tables_are_the_pages_rows_in_its_order_with_its_marks(installed, live_app):
    pid = portal_id(live_app, installed)
    _first, _last, period = _period(live_app, pid)
    ft = analytics_token(installed, live_app)
    cases = [("employees", {"sort": "-missed_share", "unit": "h"}, 0),
             ("departments", {"sort": "talk_minutes"}, 1),
             ("lines", {"group": "direction", "sort": "-incoming"}, 0),
             ("clients", {"sort": "-calls"}, 1)]
    for kind, args, extras in cases:
        path = f"/b24/analytics/{kind}"
        data = _json(live_app, path, ft, **period, **args)
        rows = list(data["rows"])
        page = 1
        while len(rows) < data["count"]:  # the clients page holds 200; the download every one of them
            page += 1
            rows += _json(live_app, path, ft, **period, **args, page=str(page))["rows"]
        assert rows, kind
        s = Sheet(_xlsx(live_app, path, ft, **period, **args)[dict(VIEWS)[path][1][0]])
        columns = data["columns"]
        unit = args.get("unit", "min")
        assert s.header[0] == columns[0]["label"]
        for j, col in enumerate(columns[1:]):
            want = col["label"] if not (unit == "h" and col["unit"] == "time") else col["label"].replace(", мин", ", ч")
            assert s.header[1 + extras + j] == want, (kind, s.header)
        assert len(s.values) == len(rows) + 1 and s.bold(len(rows))
        assert s.ws.auto_filter.ref.endswith(str(HEADER + len(rows)))  # the totals row stays out of the filter
        for i, (row, got) in enumerate(zip([*rows, data["total"]], s.values, strict=True)):
            first_col = columns[0]["key"]
            name = row["values"][first_col] if kind != "clients" or row is data["total"] else row["spelled"]
            assert got[0] == name, (kind, i)
            for j, col in enumerate(columns[1:]):
                want = row["values"][col["key"]]
                cell = got[1 + extras + j]
                if want is not None and col["unit"] == "time" and unit == "h":
                    want = want / 60
                if want is not None and col["unit"] == "moment":
                    _same_moment(cell, datetime.fromisoformat(want).astimezone(portal_tz_of(live_app, pid))
                                 .replace(tzinfo=None))
                    continue
                _approx(cell, want, (kind, row["key"], col["key"]))
        if kind == "clients":
            # every client in one table: the most missed calls is the worst cell of them all (the page marks its 200)
            links = [v for v in (r[1] for r in s.values) if v]
            assert links and all(v.startswith('=HYPERLINK("http') for v in links)
            at = 1 + extras + [c["key"] for c in columns[1:]].index("missed")
            top = max(r["values"]["missed"] for r in rows)
            worst = [i for i, r in enumerate(rows) if r["values"]["missed"] == top]
            assert len(worst) * 2 <= len(rows) and top > min(r["values"]["missed"] for r in rows)
            assert [i for i in range(len(rows)) if s.fill(i, at) == BAD] == worst
            continue
        # Worst and best: the page's cells, the same cells in the sheet
        html = Cells(_get(live_app, path, ft, **period, **args).text)
        marked = 0
        for i, row in enumerate(data["rows"]):
            for j, col in enumerate(columns[1:]):
                classes = html.rows[f"row-{row['key']}"]["cells"][col["key"]]["class"]
                want = BAD if "worst" in classes else GOOD if "best" in classes else ""
                assert s.fill(i, 1 + extras + j) == want, (kind, row["key"], col["key"])
                marked += bool(want)
        assert marked, kind


def portal_tz_of(live_app, pid):
    with live_app.ctx():
        return portal_tz(pid)


def _choose_topics(live_app, pid: int, first: date, last: date) -> None:
    """Topics on a dozen calls of the period (the imported history has none): the overview's top topics."""
    from b24app.analytics.recount import day_bounds
    from b24app.calls.models import Call
    from b24app.topics import service as topics
    from b24app.topics.models import Topic

    with live_app.ctx():
        tz = portal_tz(pid)
        ids = db.session.scalars(select(Topic.id).where(Topic.portal_id == pid).order_by(Topic.id).limit(3)).all()
        calls = db.session.execute(select(Call.call_id, Call.portal_user_id).where(
            Call.portal_id == pid, Call.call_start_date >= day_bounds(first, tz)[0],
            Call.call_start_date < day_bounds(last, tz)[1], Call.portal_user_id.isnot(None),
            Call.call_type.in_(sorted(INCOMING_TYPES))).order_by(Call.call_start_date).limit(12)).all()
        assert len(ids) == 3 and len(calls) == 12
        for i, (call_id, user) in enumerate(calls):
            topics.choose(pid, call_id, ids[min(i // 3, 2)], user, "card", privileged=True)
        db.session.commit()


def test_overview_hours_board_and_pivot_are_the_pages_figures(installed, live_app):
    pid = portal_id(live_app, installed)
    first, last, period = _period(live_app, pid)
    _choose_topics(live_app, pid, first, last)
    ft = analytics_token(installed, live_app)

    data = _json(live_app, "/b24/reports", ft, **period, unit="h")
    wb = _xlsx(live_app, "/b24/reports", ft, **period, unit="h")
    s = Sheet(wb["Показатели"])
    assert s.header[:4] == ["Показатель", "Период", "Предыдущий период", "Изменение"]
    assert "предыдущий период:" in s.title[1]
    for i, tile in enumerate(data["tiles"]):
        label, now, before, change, note = s.values[i][:5]
        assert label == tile["label"]
        _approx(now, tile["now"], tile["key"])
        _approx(before, tile["before"], tile["key"])
        _approx(change, tile["change"], tile["key"])
        assert note == tile["note"]
        assert s.fill(i, 3) == {"good": GOOD, "bad": BAD, "": ""}[tile["verdict"]], tile["key"]
        if tile["unit"] == "%" and now is not None:
            assert s.cells[i][1].number_format == "0.0%" and "п. п." in s.cells[i][3].number_format
    assert any(t["verdict"] for t in data["tiles"])
    assert [t["label"] for t in data["tiles"]][7] == "Время разговоров, ч"
    callback = next(r for r in s.values if r[0] == "Среднее время до перезвона, ч")
    mean = data["mean_callback_seconds"]["now"]
    _approx(callback[1], None if mean is None else mean / 3600)
    days = Sheet(wb["По дням"])
    assert len(days.values) == len(data["by_day"]) + 1 and days.values[-1][0] == "Итого"
    for got, d in zip(days.values, data["by_day"], strict=False):
        assert got[0].date() == date.fromisoformat(d["day"])
        assert got[1:] == [d["accepted"], d["recovered"], d["lost"], d["awaiting"], d["outgoing_connected"],
                           d["outgoing_failed"]]
    assert days.values[-1][1:] == [sum(d[k] for d in data["by_day"]) for k in
                                   ("accepted", "recovered", "lost", "awaiting", "outgoing_connected",
                                    "outgoing_failed")]
    topics = Sheet(wb["Темы"])
    top = data["topics"]["top"]
    assert top and [r[:4] for r in topics.values[:len(top)]] == [[t["name"], t["calls"], pytest.approx(t["share"]),
                                                                  t["before"]] for t in top]
    assert topics.values[len(top)][:2] == ["Без темы", data["topics"]["no_topic"]["calls"]]
    scen = Sheet(wb["Время звонка"])
    for got, sc in zip(scen.values, data["scenarios"], strict=False):
        assert got[0] == sc["label"] and got[1:3] == [sc["incoming"], sc["missed"]]
        _approx(got[3], sc["missed_share"])
        _approx(got[4], sc["lost_share"])

    data = _json(live_app, "/b24/analytics/hours", ft, **period)
    wb = _xlsx(live_app, "/b24/analytics/hours", ft, **period)
    days = Sheet(wb["По дням"])
    assert [[r[0].date(), *r[1:]] for r in days.values[:-1]] == [
        [date.fromisoformat(d["day"]), d["incoming"], d["accepted"], d["missed"], d["outgoing"]] for d in data["days"]]
    assert days.values[-1] == ["Итого", *(sum(d[k] for d in data["days"]) for k in
                                          ("incoming", "accepted", "missed", "outgoing"))]
    grid = Sheet(wb["По часам"])
    assert grid.header == ["День недели", *(f"{h:02d}" for h in range(24))]
    assert [r[0] for r in grid.values] == ["Пн", "Вт", "Ср", "Чт", "Пт", "Сб", "Вс"]
    heat = {(c["weekday"], c["hour"]): c["calls"] for c in data["heat"]}
    assert heat and {(wd, h): v for wd, r in enumerate(grid.values) for h, v in enumerate(r[1:]) if v} == heat

    data = _json(live_app, "/b24/analytics/missed", ft)
    s = Sheet(_xlsx(live_app, "/b24/analytics/missed", ft)["Пропущенные"])
    trend = {"up": "больше", "down": "меньше", "same": "так же"}
    assert len(s.values) == len(data["rows"]) + 1
    for got, r in zip(s.values, [*data["rows"], data["total"]], strict=True):
        assert got == [r["name"] or "Вся команда", r["missed"], trend[r["trend"]], r["missed_same_days_last_week"],
                       r["lost"], r["awaiting"], r["recovered"], r["missed_last_week"], r["lost_last_week"]]
    open_calls = Sheet(_xlsx(live_app, "/b24/analytics/missed", ft)["Не перезвонили"])
    assert len(open_calls.values) == len(data["awaiting"]) + len(data["lost"])
    for got, c in zip(open_calls.values, data["awaiting"] + data["lost"], strict=True):
        _same_moment(got[0], _moment(c["start"]))
        assert got[1:4] == [c["manager"], c["phone"] or None, "Ждёт перезвона" if c["awaiting"] else "Потерян"]

    group = "rows:manager.cols:direction.measure:missed_share"
    data = _json(live_app, "/b24/analytics/pivot", ft, **period, group=group)
    s = Sheet(_xlsx(live_app, "/b24/analytics/pivot", ft, **period, group=group)["Сводная"])
    assert s.header == ["Сотрудник \\ Направление", *(c["label"] for c in data["cols"]), "Итого"]
    assert len(s.values) == len(data["rows"]) + 1 and s.bold(len(data["rows"]))
    for got, r in zip(s.values, data["rows"], strict=False):
        assert got[0] == r["label"]
        for cell, want in zip(got[1:], [*(c["value"] for c in r["cells"]), r["total"]["value"]], strict=True):
            _approx(cell, want)
    assert s.values[-1][0] == "Итого"
    _approx(s.values[-1][-1], data["total"]["value"])
    assert s.cells[0][-1].number_format == "0.0%"
    assert "строки: Сотрудник; столбцы: Направление; показатель: Доля пропущенных, %" in s.title[3]


# --- the call list -------------------------------------------------------------------------------------------

def _all_calls(live_app, ft, **args) -> list[dict]:
    out, page = [], 1
    while True:
        data = _json(live_app, "/b24/analytics/calls", ft, **args, page=str(page))
        out += data["calls"]
        if not data["has_next"]:
            return out
        page += 1


def _call_row(c: dict) -> tuple:
    return (_moment(c["start"]), c["manager"], c["phone"] or None, c["talk_seconds"], c["wait_seconds"],
            c["duration_seconds"], c["vote"], None if c["qa_percent"] is None else c["qa_percent"] / 100)


def _sheet_call(r: list) -> tuple:
    return (r[0], r[2], r[3], _seconds(r[7]), _seconds(r[8]), _seconds(r[9]), r[13], r[14])


def _same_calls(got: list[list], want: list[dict]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        g, w = _sheet_call(g), _call_row(w)
        _same_moment(g[0], w[0])
        assert g[1:3] == w[1:3]
        for a, b in zip(g[3:], w[3:], strict=True):
            assert (a is None) == (b is None) and (a is None or abs(a - b) < 0.01), (g, w)


def test_the_call_list_export_holds_every_call_in_the_lists_order(installed, live_app):
    pid = portal_id(live_app, installed)
    _first, _last, period = _period(live_app, pid)
    ft = analytics_token(installed, live_app)
    every = _all_calls(live_app, ft, **period)
    assert len(every) > call_list.PER_PAGE * 2  # more than the page shows
    s = Sheet(_xlsx(live_app, "/b24/analytics/calls", ft, **period)["Звонки"])
    assert s.header[:4] == ["Дата и время", "Направление", "Сотрудник", "Клиент"]
    _same_calls(s.values, every)
    assert "сортировка: Дата и время, по убыванию" in s.title[3]
    outcomes = {"Принят", "Перезвонили", "Потерян", "Ждёт перезвона", "Дозвонились", "Не дозвонились",
                "Информационный"}
    assert {r[10] for r in s.values} <= outcomes and "Потерян" in {r[10] for r in s.values}
    lost_at = next(i for i, r in enumerate(s.values) if r[10] == "Потерян")
    assert s.fill(lost_at, 10) == BAD
    crm = [r[4] for r in s.values if r[4]]
    assert crm and all(v.startswith('=HYPERLINK("http') for v in crm)
    # Its own arguments and another sort: the same calls as the list pages through
    args = {**period, "outcome": "missed", "sort": "-duration"}
    missed = _all_calls(live_app, ft, **args)
    s = Sheet(_xlsx(live_app, "/b24/analytics/calls", ft, **args)["Звонки"])
    assert missed and len(missed) < len(every)
    _same_calls(s.values, missed)
    assert "исход: Пропущенные" in s.title[3]


@pytest.mark.parametrize("sort", ["-start", "start", "-talk", "duration", "-wait"])
def test_iter_calls_is_the_lists_pages_end_to_end(installed, live_app, sort):
    pid = portal_id(live_app, installed)
    first, last, _period_args = _period(live_app, pid)
    with live_app.ctx():
        tz, settings, now = portal_tz(pid), load(pid), utcnow()
        q = cube.Query(pid, first, last)
        args = call_list.ListArgs(sort=sort)
        paged, page = [], 1
        while True:
            result = call_list.list_calls(q, args, settings, tz, now, page)
            paged += [r.id for r in result.rows]
            if not result.has_next:
                break
            page += 1
        streamed = [r.id for r in call_list.iter_calls(q, args, settings, tz, now, batch=7)]
    assert len(paged) > 100 and streamed == paged


# --- roles and refusals --------------------------------------------------------------------------------------

def test_a_managers_export_holds_only_his_calls(installed, live_app):
    pid = portal_id(live_app, installed)
    _first, _last, period = _period(live_app, pid)
    ft = analytics_token(installed, live_app, user_id=3)
    with live_app.ctx():
        name = db.session.scalar(select(PortalUser.name).where(PortalUser.portal_id == pid, PortalUser.user_id == 3))
    s = Sheet(_xlsx(live_app, "/b24/analytics/employees", ft, **period)["Сотрудники"])
    assert [r[0] for r in s.values] == [name, "Итого"]
    assert "Вы видите только свои звонки." in s.title[3]
    mine = _all_calls(live_app, ft, **period)
    s = Sheet(_xlsx(live_app, "/b24/analytics/calls", ft, **period)["Звонки"])
    assert mine and {r[2] for r in s.values} == {name}
    _same_calls(s.values, mine)
    everyone = _all_calls(live_app, analytics_token(installed, live_app, user_id=1), **period)
    assert len(everyone) > len(mine)
    data = _json(live_app, "/b24/reports", ft, **period)
    s = Sheet(_xlsx(live_app, "/b24/reports", ft, **period)["Показатели"])
    for i, tile in enumerate(data["tiles"]):
        _approx(s.values[i][1], tile["now"], tile["key"])
    incoming = next(t for t in data["tiles"] if t["key"] == "incoming")["now"]
    assert incoming == sum(1 for c in mine if c["call_type"] in INCOMING_TYPES)
    # someone else's figures: refused as the page refuses them, no file
    r = _get(live_app, "/b24/analytics/employees", ft, **period, user="5", format="xlsx")
    assert r.status_code == 403 and "Нет доступа к показателям этого сотрудника или отдела." in r.text
    assert "attachment" not in r.headers.get("Content-Disposition", "")


BAD_STATES = [
    ("/b24/reports", {"period": "fortnight"}, 400, "Такого периода нет. Выберите период из списка."),
    ("/b24/analytics/employees", {"sort": "-nosuch"}, 400, "Сортировка указана неверно."),
    ("/b24/analytics/departments", {"from": "2026-12-10", "to": "2026-12-01"}, 400, "Начало периода позже его конца."),
    ("/b24/analytics/lines", {"group": "weekday"}, 400, "Группировка указана неверно."),
    ("/b24/analytics/clients", {"page": "0"}, 400, "Номер страницы указан неверно."),
    ("/b24/analytics/hours", {"sort": "calls"}, 400, "Сортировка указана неверно."),
    ("/b24/analytics/calls", {"outcome": "maybe"}, 400, "Такого исхода звонка нет."),
    ("/b24/analytics/calls", {"phone": "abc"}, 400, "Номер телефона указан неверно"),
    ("/b24/analytics/missed", {"dept": "999999"}, 400, "Такого отдела нет на портале."),
    ("/b24/analytics/quality", {"sort": "manager_nosuch"}, 400, "Сортировка таблицы качества указана неверно."),
    ("/b24/analytics/pivot", {"group": "rows:nope"}, 400, "Такого разреза для строк или столбцов нет."),
]


def test_a_bad_state_is_the_pages_russian_4xx_not_a_file(installed, live_app):
    ft = analytics_token(installed, live_app)
    for path, args, status, text in BAD_STATES:
        page = _get(live_app, path, ft, **args)
        r = _get(live_app, path, ft, **args, format="xlsx")
        assert (r.status_code, page.status_code) == (status, status), (path, args, r.status_code)
        assert text in r.text and "attachment" not in r.headers.get("Content-Disposition", ""), (path, r.text[:300])
        assert r.headers["Content-Type"].startswith("text/html")
    # without the frame token there is no download either
    r = requests.get(f"{live_app.url}/b24/analytics/employees", params={"format": "xlsx"}, timeout=30)
    assert 400 <= r.status_code < 500 and "attachment" not in r.headers.get("Content-Disposition", "")


# --- quality -------------------------------------------------------------------------------------------------

def test_quality_export_is_the_pages_scores(installed, live_app):
    World(live_app, installed)
    ft = analytics_token(installed, live_app)
    sort = "-manager_mean"
    data = _json(live_app, "/b24/analytics/quality", ft, sort=sort)
    wb = _xlsx(live_app, "/b24/analytics/quality", ft, sort=sort)
    s = Sheet(wb["Качество"])
    assert s.values[0] == ["Оценено звонков", data["summary"]["scored"]] and data["summary"]["scored"] == 3
    _approx(s.values[1][1], data["summary"]["mean_score"] / 100)
    _approx(s.values[2][1], data["summary"]["pass_rate"])
    assert s.cells[1][1].number_format == "0.0%"
    stage = {"Оценить": "review", "Оценено": "done", "Короткий звонок": "short", "Без оценки": "skipped"}
    assert {stage[r[0].split(": ", 1)[1]]: r[1] for r in s.values[3:]} == data["stages"]
    for group, title in (("manager", "По сотрудникам"), ("topic", "По темам"), ("checklist", "По чек-листам"),
                         ("reviewer", "По контролёрам")):
        g = Sheet(wb[title])
        rows = data["groups"][group]
        assert rows and len(g.values) == len(rows), group
        for got, r in zip(g.values, rows, strict=True):
            assert got[0] == r["name"] and got[1] == r["scored"] and got[4] == r["critical_failed"]
            _approx(got[2], None if r["mean_score"] is None else r["mean_score"] / 100)
            _approx(got[3], r["pass_rate"])
        if group == "manager":
            assert [r["mean_score"] for r in rows] == sorted((r["mean_score"] for r in rows), reverse=True)
            assert "сортировка: По сотрудникам — Средний балл, по убыванию" in g.title[3]
            failed = next(i for i, r in enumerate(rows) if r["critical_failed"])
            assert g.fill(failed, 4) == BAD
    items = Sheet(wb["Провалы по пунктам"])
    assert len(items.values) == len(data["items"]) > 0
    for got, r in zip(items.values, data["items"], strict=True):
        assert got[3] == r["text"] and got[5:7] == [r["answered"], r["failed"]]
        _approx(got[7], r["failure_rate"])
    agenda = Sheet(wb["Разобрать на планёрке"])
    assert len(agenda.values) == len(data["agenda"]) == 2
    for got, a in zip(agenda.values, data["agenda"], strict=True):
        _same_moment(got[0], _moment(a["started"]))
        assert got[1] == a["manager"] and got[5] == a["reviewer"] and got[6] == (a["comment"] or None)
        _approx(got[3], a["percent"] / 100)
        assert got[7].startswith('=HYPERLINK("http') and a["card_path"] in got[7]
    assert wb.sheetnames[-1] == "Калибровка" and len(Sheet(wb["Калибровка"]).values) == len(data["calibration"])
    # a manager's own scores only, and no calibration (the reviewers' business)
    mine = _xlsx(live_app, "/b24/analytics/quality", analytics_token(installed, live_app, user_id=3))
    assert "Калибровка" not in mine.sheetnames
    assert Sheet(mine["Качество"]).values[0][1] == 2
    assert len(Sheet(mine["По сотрудникам"]).values) == 1


# --- tenancy -------------------------------------------------------------------------------------------------

def test_a_download_of_one_portal_holds_nothing_of_another(make_sandbox, live_app):
    """Every analytics view's download as portal A's admin and manager: no marker of portal B in any sheet, and
    every statement on a tenant table names portal_id (the route-enumerating tenancy test asks for pages only)."""
    import zipfile

    from ..calls.test_intake import add_stat_row, callend
    from ..platform.helpers import fire
    from ..tenancy.test_all_routes import MARK_PHONE, MARK_TOPIC, StatementLog

    a = make_sandbox(install=True, seed=1, calls_days=3)
    b = make_sandbox(install=True, seed=2, calls_days=3)
    tok_b = frame_token_from(open_placement(b, live_app, "/b24/app").text)
    r = requests.post(f"{live_app.url}/b24/topics/catalogue", data={"frame_token": tok_b, "name": MARK_TOPIC,
                                                                   "group": "Секретная группа"}, timeout=30)
    assert r.status_code in (200, 303), r.text
    row = add_stat_row(b, CALL_TYPE="2", CALL_DURATION="95", CALL_FAILED_CODE="200", PORTAL_USER_ID="2",
                       PHONE_NUMBER=MARK_PHONE)
    fire(b, "ONVOXIMPLANTCALLEND", callend(row))
    markers = [MARK_TOPIC, "Секретная группа", MARK_PHONE, MARK_PHONE[1:], b.member_id, b.url]
    with live_app.ctx():
        log = StatementLog(db.engine)
    paths = sorted(r.rule for r in live_app.app.url_map.iter_rules()
                   if r.endpoint.startswith("analytics.") and "<" not in r.rule and "GET" in r.methods
                   and r.endpoint != "analytics.live")
    assert set(VIEWS) <= set(paths)
    files = 0
    try:
        log.on = True
        for user in (1, 3):
            ft = analytics_token(a, live_app, user_id=user)
            for path in paths:
                r = _get(live_app, path, ft, format="xlsx", period="3m")
                assert r.status_code < 500, (path, r.status_code)
                if r.headers.get("Content-Type") != XLSX:
                    continue
                files += 1
                with zipfile.ZipFile(io.BytesIO(r.content)) as z:
                    text = "".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())
                leaked = [m for m in markers if m in text]
                assert not leaked, f"{path} as user {user} holds portal B's {leaked}"
    finally:
        log.on = False
        log.close()
    assert files >= 2 * len(VIEWS)
    assert log.unscoped() == [], "\n".join(log.unscoped())
