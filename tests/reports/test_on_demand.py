"""«Отчёт» in the CRM tab over real HTTP: a report for the filter bar's period built by the job, followed to the
end and downloaded; a manager's report holds only his calls and he cannot open anyone else's; Disk only when a
folder is set; bad state refused in Russian with nothing started."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import requests
from openpyxl import load_workbook
from sqlalchemy import func, select

from b24app.analytics.recount import portal_tz
from b24app.extensions import db
from b24app.models_base import utcnow
from b24app.reports.models import ReportFile, ReportRun

from ..platform.helpers import analytics_token, portal_id

CYRILLIC = re.compile("[а-яА-ЯёЁ]")
TAB = "/b24/analytics/report"




def _state(live_app, pid, days=30) -> dict:
    with live_app.ctx():
        today = utcnow().astimezone(portal_tz(pid)).date()
    return {"period": "custom", "from": (today - timedelta(days=days)).isoformat(), "to": today.isoformat()}


def _start(live_app, token, state, **form) -> requests.Response:
    return requests.post(live_app.url + TAB + "/start", params=state, data={"frame_token": token, **form},
                         headers={"Accept": "application/json"}, timeout=120)


def _said(r: requests.Response) -> str:
    """What the user reads: the JSON error's text (JSON escapes Cyrillic), else the page."""
    if r.headers.get("Content-Type", "").startswith("application/json"):
        return r.json().get("error") or ""
    return r.text


def _runs(live_app, pid) -> int:
    with live_app.ctx():
        return db.session.scalar(select(func.count()).select_from(ReportRun).where(ReportRun.portal_id == pid))


def test_a_director_builds_the_report_of_the_filter_period_and_downloads_it(installed, live_app):
    pid = portal_id(live_app, installed)
    token = analytics_token(installed, live_app)
    state = _state(live_app, pid)
    page = requests.get(live_app.url + TAB, params={"ft": token, **state}, timeout=30)
    assert page.status_code == 200
    assert "Сформировать отчёт" in page.text and 'data-testid="report-runs-empty"' in page.text

    r = _start(live_app, token, state)
    assert r.status_code == 202, r.text
    run = r.json()
    assert run["status"] == "done" and run["progress"] == 100, run   # jobs run inline in tests
    assert (run["first"], run["last"]) == (state["from"], state["to"])
    status = requests.get(live_app.url + run["status_url"].split(live_app.url)[-1], timeout=30).json()
    assert status["id"] == run["id"] and status["download"]

    f = requests.get(live_app.url + run["download"], timeout=60)
    assert f.status_code == 200
    assert f.headers["Content-Type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml")
    assert "filename*=UTF-8''" in f.headers["Content-Disposition"] and f.headers["Cache-Control"] == "no-store"
    wb = load_workbook(io.BytesIO(f.content), read_only=True)
    assert wb.sheetnames[0] == "Сводка"
    labels = [row[0] for row in wb["Сводка"].iter_rows(values_only=True)]
    assert "Входящие" in labels and "Средняя оценка, %" in labels
    with live_app.ctx():
        stored = db.session.get(ReportRun, run["id"])
        assert stored.requested_by == 1 and stored.kind == "manual" and stored.slot is None
        assert stored.users is None and not stored.to_chat and not stored.to_disk
        assert stored.calls == run["calls"] and stored.calls > 0
    # The tab lists it afterwards, with its download.
    again = requests.get(live_app.url + TAB, params={"ft": token, **state}, timeout=30)
    assert f'/b24/analytics/report/runs/{run["id"]}/file' in again.text.replace("&#34;", '"').replace("\\u0026", "&")


def test_a_managers_report_is_his_own_and_others_reports_are_closed_to_him(installed, live_app):
    pid = portal_id(live_app, installed)
    state = _state(live_app, pid)
    admin = _start(live_app, analytics_token(installed, live_app, 1), state).json()
    manager = analytics_token(installed, live_app, 3)
    mine = _start(live_app, manager, state)
    assert mine.status_code == 202, mine.text
    with live_app.ctx():
        run = db.session.get(ReportRun, mine.json()["id"])
        assert run.users == [3] and run.requested_by == 3
    wb = load_workbook(io.BytesIO(requests.get(live_app.url + mine.json()["download"], timeout=60).content),
                       read_only=True)
    calls = [s for s in wb.sheetnames if s == "Звонки"]
    assert calls, wb.sheetnames
    rows = list(wb["Звонки"].iter_rows(values_only=True))
    header = next(i for i, row in enumerate(rows) if row and "Сотрудник" in row)
    who = rows[header].index("Сотрудник")
    names = {row[who] for row in rows[header + 1:] if row and row[who]}
    assert len(names) == 1, names     # only his own calls
    # The admin's report: not his to see or download.
    for path in (f"/b24/analytics/report/runs/{admin['id']}", f"/b24/analytics/report/runs/{admin['id']}/file"):
        r = requests.get(live_app.url + path, params={"ft": manager}, timeout=30)
        assert r.status_code == 404 and CYRILLIC.search(_said(r))


def test_disk_needs_a_folder_and_bad_requests_start_nothing(installed, live_app):
    pid = portal_id(live_app, installed)
    token = analytics_token(installed, live_app)
    state = _state(live_app, pid)
    before = _runs(live_app, pid)
    r = _start(live_app, token, state, to_disk="1")
    assert r.status_code == 409 and "Диск" in r.json()["error"]
    for bad in ({**state, "from": "2026-13-01"}, {**state, "from": state["to"], "to": state["from"]},
                {"period": "custom", "from": "2000-01-01", "to": state["to"]}, {**state, "user": "abc"}):
        r = _start(live_app, token, bad)
        assert 400 <= r.status_code < 500 and CYRILLIC.search(_said(r)), (bad, r.status_code, r.text[:200])
    r = requests.post(live_app.url + TAB + "/start", params=state, timeout=30)   # no frame token
    assert r.status_code == 401
    r = requests.get(live_app.url + "/b24/analytics/report/runs/2147483647", params={"ft": token}, timeout=30)
    assert r.status_code == 404
    assert _runs(live_app, pid) == before
    with live_app.ctx():
        assert db.session.scalar(select(func.count()).select_from(ReportFile)) == 0
