"""The import section of the settings page: progress from the database, a new import by an admin."""

from __future__ import annotations

import requests

from b24app.calls.models import ImportRun
from b24app.extensions import db

from ..platform.helpers import frame_token_from, open_placement


def test_settings_show_the_finished_import_and_its_status(installed, live_app):
    page = open_placement(installed, live_app, "/b24/app")
    assert 'data-testid="import-progress" data-status="done"' in page.text
    token = frame_token_from(page.text)
    status = requests.get(f"{live_app.url}/b24/calls/import/status", headers={"X-Frame-Token": token}, timeout=10).json()
    total = requests.get(f"{installed.url}/_sandbox/stats", timeout=10).json()["rows"]
    assert status["status"] == "done" and status["percent"] == 100.0 and status["rows_done"] == total


def test_status_needs_a_frame_token(installed, live_app):
    assert requests.get(f"{live_app.url}/b24/calls/import/status", timeout=10).status_code == 401


def test_an_admin_starts_a_new_import_and_bad_days_are_refused(installed, live_app):
    token = frame_token_from(open_placement(installed, live_app, "/b24/app").text)
    for days in ("0", "abc", "1000", ""):
        r = requests.post(f"{live_app.url}/b24/calls/import", data={"frame_token": token, "days": days}, timeout=10)
        assert r.status_code == 400 and "от 1 до 365" in r.text
    with live_app.ctx():
        assert db.session.query(ImportRun).count() == 1
    r = requests.post(f"{live_app.url}/b24/calls/import", data={"frame_token": token, "days": "30"}, timeout=30)
    assert r.status_code == 200 and "Импорт истории запущен" in r.text
    with live_app.ctx():
        runs = db.session.query(ImportRun).order_by(ImportRun.id).all()
        assert len(runs) == 2 and runs[-1].status == "done"


def test_a_manager_cannot_start_an_import(installed, live_app):
    token = frame_token_from(open_placement(installed, live_app, "/b24/app", user_id=2).text)
    r = requests.post(f"{live_app.url}/b24/calls/import", data={"frame_token": token, "days": "30"}, timeout=10)
    assert r.status_code == 403
