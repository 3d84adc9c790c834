"""The report workbook over the installed sandbox portal (60 days of calls imported): its sheets and headers,
«Сводка» equal to the dashboard's figures for the same period and scope, empty cells for no data, the scope by
department, the meeting agenda's links, the portal's language."""

from __future__ import annotations

import io
import zipfile
from datetime import date, timedelta

import pytest
import requests
from openpyxl import load_workbook
from sqlalchemy import func, select

from b24app.analytics import access, cube, qa_figures, summary
from b24app.analytics.recount import day_bounds, portal_tz
from b24app.calls.models import Call
from b24app.extensions import db
from b24app.models_base import utcnow
from b24app.portals.models import Portal, PortalUser
from b24app.qa import scoring
from b24app.qa.bootstrap import setup_for
from b24app.qa.checklists import current_version
from b24app.qa.models import Checklist, QaScore
from b24app.reports import workbook
from b24app.reports.workbook import Scope

from ..platform.helpers import frame_token_from, open_placement, portal_id

SHEETS = ["Сводка", "По дням", "По темам", "Оценка качества", "Итоги оценки", "По чек-листам", "Планёрка",
          "Звонки по сотрудникам", "Пропущенные и потерянные", "Звонки"]
DESIGN_LABELS = ("Входящие", "Принятые", "Пропущенные", "Потерянные", "Перезвонили", "Исходящие",
                 "Успешные входящие", "Успешные исходящие", "Время разговоров, мин",
                 "Средняя длительность разговора, с", "Среднее время ожидания, с", "Уровень обслуживания, %",
                 "CSAT, %", "Оценено звонков", "Средняя оценка, %")
# The overview's tiles by key ↔ the label «Сводка» shows the same figure under
TILE_LABELS = {"incoming": "Входящие", "accepted": "Принятые", "missed": "Пропущенные", "lost": "Потерянные",
               "recovered": "Перезвонили", "successful_incoming": "Успешные входящие",
               "successful_outgoing": "Успешные исходящие", "talk_minutes": "Время разговоров, мин",
               "aht": "Средняя длительность разговора, с", "asa": "Среднее время ожидания, с",
               "service_level": "Уровень обслуживания, %", "csat": "CSAT, %", "qa_scored": "Оценено звонков",
               "qa_mean_score": "Средняя оценка, %"}


def _same(a, b) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and a == pytest.approx(b, rel=1e-9))


def figures_of(ws) -> dict[str, tuple]:
    """«Сводка» read as other tools read it: label in A → (B, C, D)."""
    out = {}
    for row in ws.iter_rows(values_only=True):
        if row and isinstance(row[0], str):
            assert row[0] not in out, f"label {row[0]!r} twice in column A"
            out[row[0]] = tuple(row[1:4]) + (None,) * (3 - len(row[1:4]))
    return out



def _last_week(live_app, pid) -> tuple[date, date]:
    with live_app.ctx():
        today = utcnow().astimezone(portal_tz(pid)).date()
    monday = today - timedelta(days=today.weekday() + 7)
    return monday, monday + timedelta(days=6)


def _score_calls(live_app, pid, first, last, n=3):
    """Scores on the period's first calls (one flagged for the meeting, one failing the critical item)."""
    with live_app.ctx():
        tz = portal_tz(pid)
        cl = db.session.scalar(select(Checklist).where(Checklist.portal_id == pid, Checklist.name == "Продажа"))
        v = current_version(cl)
        yes = {k: "yes" for k, _it in scoring.items(v.sections)}
        answers = [yes, dict(yes, i3="no"), dict(yes, i7="no")]
        calls = db.session.scalars(select(Call).where(
            Call.portal_id == pid, Call.call_start_date >= day_bounds(first, tz)[0],
            Call.call_start_date < day_bounds(last, tz)[1], Call.portal_user_id.is_not(None),
            Call.failed_code == "200").order_by(Call.call_start_date).limit(n)).all()
        made = []
        for i, call in enumerate(calls):
            if call.qa_item_id is None:
                call.qa_item_id, call.selection = 800_000 + call.id, "review"
            result = scoring.score(v.sections, answers[i % 3])
            db.session.add(QaScore(
                portal_id=pid, qa_item_id=call.qa_item_id, call_id=call.call_id, manager_id=call.portal_user_id,
                reviewer_id=5, calibration_id=0, checklist_id=cl.id, version_id=v.id, status="submitted",
                answers=answers[i % 3], comment=f"Разобрать = звонок {i}", for_meeting=i == 1,
                percent=result.percent, critical_failed=result.critical_failed, submitted_at=utcnow()))
            made.append((call.id, call.qa_item_id, call.crm_entity_type, call.crm_entity_id))
        db.session.commit()
        return made


def _build(live_app, pid, first, last, **kw):
    buf = io.BytesIO()
    with live_app.ctx():
        built = workbook.build(pid, first, last, buf, **kw)
    return built, buf


def test_workbook_sheets_and_summary_equal_the_dashboard(installed, live_app):
    pid = portal_id(live_app, installed)
    first, last = _last_week(live_app, pid)
    scored = _score_calls(live_app, pid, first, last)
    seen: list[tuple[int, str]] = []
    built, buf = _build(live_app, pid, first, last, progress=lambda p, s: seen.append((p, s)))
    assert built.sheets == SHEETS
    assert built.file_name == f"Отчёт по звонкам {first:%d.%m.%Y}–{last:%d.%m.%Y}.xlsx"
    assert [p for p, _ in seen] == sorted(p for p, _ in seen) and seen[-1][0] == 100
    assert {s for _, s in seen} >= {"Сводка", "Звонки"}
    wb = load_workbook(io.BytesIO(buf.getvalue()))
    assert wb.sheetnames == SHEETS

    # «Сводка»: DESIGN §5's labels in A, the period in B, the previous period in C
    ws = wb["Сводка"]
    got = figures_of(ws)
    for label in DESIGN_LABELS:
        assert label in got, label
    assert got["Период"][:2] == (f"{first:%d.%m.%Y} — {last:%d.%m.%Y}",
                                 f"{first - timedelta(days=7):%d.%m.%Y} — {last - timedelta(days=7):%d.%m.%Y}")
    assert got["Часовой пояс"][0] == "UTC+03:00"
    with live_app.ctx():
        q = cube.Query(pid, first, last)
        now, before = cube.with_previous(q)
        qa_now, qa_before = qa_figures.summary(q), qa_figures.summary(q.previous())
        n_calls = db.session.scalar(select(func.count()).select_from(Call).where(
            Call.portal_id == pid, Call.call_start_date >= day_bounds(first, portal_tz(pid))[0],
            Call.call_start_date < day_bounds(last, portal_tz(pid))[1]))
    assert now.incoming > 0 and qa_now.scored == 3
    for line in summary.lines(now, before):
        b, c, d = got[str(line.figure.label)]
        assert _same(b, line.now) and _same(c, line.before), (line.figure.key, b, c, line.now, line.before)
        assert _same(d, line.change), (line.figure.key, d, line.change)
    assert got["Оценено звонков"][:2] == (3, qa_before.scored or 0)
    assert _same(got["Средняя оценка, %"][0], qa_now.mean_score)
    assert got["Средняя оценка, %"][1] is None  # nothing scored the week before: an empty cell, not 0

    # … and the overview page's JSON for the same period
    r = open_placement(installed, live_app, "/b24/reports", user_id=1, placement="CRM_ANALYTICS_MENU")
    page = requests.get(f"{live_app.url}/b24/reports", timeout=30, params={
        "ft": frame_token_from(r.text), "format": "json", "period": "custom", "from": first.isoformat(),
        "to": last.isoformat()}).json()
    compared = 0
    for tile in page["tiles"]:
        label = TILE_LABELS.get(tile["key"])
        if label:
            assert _same(got[label][0], tile["now"]), (label, got[label][0], tile["now"])
            assert _same(got[label][1], tile["before"]), (label, got[label][1], tile["before"])
            compared += 1
    assert compared == len(TILE_LABELS)

    # «Звонки»: every call of the period, with links into the portal
    calls = wb["Звонки"]
    header = [c.value for c in next(calls.iter_rows(min_row=5, max_row=5))]
    assert header[:8] == ["Начало", "Сотрудник", "Направление", "Номер клиента", "Линия", "Тема", "Исход",
                          "Успешный"]
    assert "Клиент в CRM" in header and "Карточка оценки" in header
    assert built.calls == n_calls == calls.max_row - 5
    assert calls.freeze_panes == "A6" and calls.auto_filter.ref == f"A5:P{calls.max_row}"
    assert calls["A2"].value.startswith("Период: ") and "UTC+03:00" in calls["A2"].value
    assert calls["A3"].value.startswith("Сформирован ")
    starts = [row[0] for row in calls.iter_rows(min_row=6, values_only=True)]
    assert starts == sorted(starts)
    with live_app.ctx():
        etid = setup_for(pid).entity_type_id
        origin = db.session.get(Portal, pid).origin
    card_col = header.index("Карточка оценки")
    links = [row[card_col].value for row in calls.iter_rows(min_row=6) if row[card_col].value]
    assert len(links) >= 3
    assert any(f'"{origin}/crm/type/{etid}/details/{scored[0][1]}/"' in v for v in links)
    crm_col = header.index("Клиент в CRM")
    crm = [row[crm_col].value for row in calls.iter_rows(min_row=6) if row[crm_col].value]
    assert crm and all(v.startswith(f'=HYPERLINK("{origin}/crm/') for v in crm)

    # quality sheets
    agenda = list(wb["Планёрка"].iter_rows(min_row=6, values_only=True))
    assert len(agenda) == 1
    assert agenda[0][7] == "Разобрать = звонок 1"  # typed text, never a formula
    assert f"/crm/type/{etid}/details/{scored[1][1]}/" in agenda[0][8]
    results = list(wb["Итоги оценки"].iter_rows(min_row=6, values_only=True))
    assert results[-1][:3] == ("Итого", 3, qa_now.mean_score)
    assert sum(r[4] for r in results[:-1]) == 1  # one critical item failed
    items = list(wb["По чек-листам"].iter_rows(min_row=6, values_only=True))
    assert items and items[0][7] == max(r[7] for r in items)
    quality = list(wb["Оценка качества"].iter_rows(min_row=6, values_only=True))
    assert quality[0][:3] == ("Все оценки", "Итого", 3)

    # employees: the analytics table's columns, its total equal to the period's figures
    emp = wb["Звонки по сотрудникам"]
    eh = [c.value for c in next(emp.iter_rows(min_row=5, max_row=5))]
    assert eh[:4] == ["Сотрудник", "Входящие", "Принятые", "Пропущенные"]
    total = [r for r in emp.iter_rows(min_row=6, values_only=True) if r[0] == "Итого"]
    assert total and total[0][1] == now.incoming

    # missed calls: each with its outcome; the lost ones are the period's lost figure
    missed = list(wb["Пропущенные и потерянные"].iter_rows(min_row=6, values_only=True))
    assert len(missed) == now.missed
    assert sum(1 for r in missed if r[6] == "Потерян") == now.lost

    # days and the native charts on «Сводка» over them
    days = list(wb["По дням"].iter_rows(min_row=6, values_only=True))
    assert len(days) == 7 and sum(r[7] for r in days) == now.incoming
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
        charts = [n for n in z.namelist() if n.startswith("xl/charts/chart")]
        assert len(charts) == 2
        xml = z.read(charts[0]).decode()
        assert "'По дням'!" in xml and "barChart" in xml and 'grouping val="stacked"' in xml


def test_a_period_without_calls_has_empty_cells_not_zeros(installed, live_app):
    pid = portal_id(live_app, installed)
    first, last = date(2020, 1, 6), date(2020, 1, 12)  # long before the sandbox's history
    built, buf = _build(live_app, pid, first, last)
    assert built.calls == 0 and built.sheets == SHEETS
    wb = load_workbook(buf)
    got = figures_of(wb["Сводка"])
    assert got["Входящие"] == (0, 0, 0)  # a count of nothing is a zero…
    for label in ("Доля пропущенных, %", "Средняя длительность разговора, с", "Среднее время ожидания, с",
                  "Уровень обслуживания, %", "CSAT, %", "Средняя оценка, %", "Доля прошедших оценку, %",
                  "Среднее время до перезвона, мин"):
        assert got[label] == (None, None, None), label  # …a figure without data is an empty cell
    assert got["Оценено звонков"] == (0, 0, 0)
    calls = wb["Звонки"]
    assert calls.max_row == 5 and calls["A5"].value == "Начало"
    days = list(wb["По дням"].iter_rows(min_row=6, values_only=True))
    assert len(days) == 7 and all(r[1] == 0 and r[10] is None for r in days)


def test_scope_by_department_equals_the_dashboard_filtered_by_it(installed, live_app):
    pid = portal_id(live_app, installed)
    first, last = _last_week(live_app, pid)
    with live_app.ctx():
        users = access.department_users(pid, (3,))
        whole = cube.total(cube.Query(pid, first, last))
    built, buf = _build(live_app, pid, first, last, scope=Scope(departments=(3,)))
    wb = load_workbook(buf)
    got = figures_of(wb["Сводка"])
    assert got["Охват"][0] == "Отделы: Колл-центр"
    assert wb["Звонки"]["A4"].value == "Охват: Отделы: Колл-центр"
    r = open_placement(installed, live_app, "/b24/reports", user_id=1, placement="CRM_ANALYTICS_MENU")
    page = requests.get(f"{live_app.url}/b24/reports", timeout=30, params={
        "ft": frame_token_from(r.text), "format": "json", "period": "custom", "from": first.isoformat(),
        "to": last.isoformat(), "dept": "3"}).json()
    tiles = {t["key"]: t for t in page["tiles"]}
    assert 0 < tiles["incoming"]["now"] < whole.incoming
    for key, label in TILE_LABELS.items():
        assert _same(got[label][0], tiles[key]["now"]), (label, got[label][0], tiles[key]["now"])
        assert _same(got[label][1], tiles[key]["before"]), label
    managers = {row[1] for row in wb["Звонки"].iter_rows(min_row=6, values_only=True)}
    with live_app.ctx():
        names = {n for u, n in db.session.execute(select(PortalUser.user_id, PortalUser.name).where(
            PortalUser.portal_id == pid)) if u in users}
    assert managers and managers <= names | {"Без сотрудника"}
    assert built.calls == wb["Звонки"].max_row - 5
    # explicit users narrow further: one manager of the department
    one = sorted(users)[1]
    _built, buf1 = _build(live_app, pid, first, last, scope=Scope(departments=(3,), users=(one,)))
    with live_app.ctx():
        f1 = cube.total(cube.Query(pid, first, last, users=frozenset({one})))
    assert figures_of(load_workbook(buf1)["Сводка"])["Входящие"][0] == f1.incoming


def test_an_english_portal_gets_the_workbook_in_english(installed, live_app):
    pid = portal_id(live_app, installed)
    first, last = _last_week(live_app, pid)
    with live_app.ctx():
        db.session.get(Portal, pid).language = "en"
        db.session.commit()
    built, buf = _build(live_app, pid, first, last)
    assert built.file_name == f"Call report {first:%d.%m.%Y}–{last:%d.%m.%Y}.xlsx"
    wb = load_workbook(buf)
    assert wb.sheetnames == built.sheets
    assert wb.sheetnames[0] == "Summary" and wb.sheetnames[-1] == "Calls"
    got = figures_of(wb["Summary"])
    assert "Incoming" in got and "Period" in got
    text = " ".join(str(c) for ws in wb for row in ws.iter_rows(max_row=5, values_only=True) for c in row if c)
    assert not any("а" <= ch <= "я" for ch in text.lower()), text[:500]


def test_summary_reads_the_same_in_read_only_mode(installed, live_app):
    """Outside tools often stream a workbook (openpyxl's read-only mode): every row of «Сводка» has its label
    in A, none is empty, and the figures sit in B and C."""
    pid = portal_id(live_app, installed)
    first, last = _last_week(live_app, pid)
    _built, buf = _build(live_app, pid, first, last)
    full = figures_of(load_workbook(io.BytesIO(buf.getvalue()))["Сводка"])
    rows = list(load_workbook(buf, read_only=True)["Сводка"].iter_rows(values_only=True))
    assert all(row and isinstance(row[0], str) for row in rows), rows
    streamed = {row[0]: tuple(row[1:4]) + (None,) * (4 - len(row)) for row in rows}
    assert streamed == full
    assert rows[5][0] == "Показатель" and rows[6][0] == "Входящие"
