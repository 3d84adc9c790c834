"""Live intake, import and reconcile of calls against the sandbox portal over HTTP."""

from __future__ import annotations

import requests

from b24app.calls import history
from b24app.calls.models import Call, ImportRun
from b24app.extensions import db
from b24app.portals.models import Portal


def add_stat_row(sandbox, **fields) -> dict:
    r = requests.post(f"{sandbox.url}/_sandbox/calls", json={"rows": [fields]}, timeout=10)
    r.raise_for_status()
    return r.json()["rows"][0]


def fire(sandbox, event, data, **kw):
    r = requests.post(f"{sandbox.url}/_sandbox/events/fire", json={"event": event, "data": data, **kw}, timeout=30)
    r.raise_for_status()
    return r.json()


def callend(row: dict) -> dict:
    keys = ("CALL_ID", "CALL_TYPE", "PHONE_NUMBER", "PORTAL_NUMBER", "PORTAL_USER_ID", "CALL_DURATION",
            "CALL_START_DATE", "COST", "COST_CURRENCY", "CALL_FAILED_CODE", "CALL_FAILED_REASON", "CRM_ACTIVITY_ID")
    return {k: row.get(k) if row.get(k) is not None else "" for k in keys}


def calls(live_app, **filters) -> list[Call]:
    with live_app.ctx():
        rows = db.session.query(Call).filter_by(**filters).all()
        for r in rows:
            db.session.expunge(r)
        return rows


def portal_id(live_app, member_id) -> int:
    with live_app.ctx():
        return db.session.query(Portal.id).filter_by(member_id=member_id).scalar()


def test_install_imports_the_history_once(installed, live_app):
    total = requests.get(f"{installed.url}/_sandbox/stats", timeout=10).json()["rows"]
    got = calls(live_app, source="import")
    assert len(got) == total and len({c.call_id for c in got}) == total
    with live_app.ctx():
        run = db.session.query(ImportRun).one()
        assert run.status == "done" and run.rows_done == total == run.rows_expected
        # importing again adds nothing
        history.run_import(history.start_import(db.session.get(Portal, run.portal_id), 90).id)
        assert db.session.query(Call).count() == total


def test_the_same_callend_three_times_makes_one_call(installed, live_app):
    row = add_stat_row(installed, CALL_TYPE="1", CALL_DURATION="45", CALL_FAILED_CODE="200", PORTAL_USER_ID="2",
                       RECORD_FILE_ID="77", CALL_VOTE="5")
    out = fire(installed, "ONVOXIMPLANTCALLEND", callend(row), times=3)
    assert [d["status"] for d in out["deliveries"]] == [200, 200, 200]
    got = calls(live_app, call_id=row["CALL_ID"])
    assert len(got) == 1
    c = got[0]
    assert c.enriched and c.vote == 5 and c.record_file_id == 77 and c.selection == "review"


def test_ring_and_answer_times_give_the_wait(installed, live_app):
    row = add_stat_row(installed, CALL_TYPE="2", CALL_DURATION="20", CALL_FAILED_CODE="200")
    fire(installed, "ONVOXIMPLANTCALLINIT", {"CALL_ID": row["CALL_ID"], "CALL_TYPE": "2"})
    fire(installed, "ONVOXIMPLANTCALLSTART", {"CALL_ID": row["CALL_ID"], "USER_ID": "2"})
    fire(installed, "ONVOXIMPLANTCALLEND", callend(row))
    c = calls(live_app, call_id=row["CALL_ID"])[0]
    assert c.ring_at and c.answered_at and c.answered_by == 2 and c.wait_seconds is not None


def test_a_dropped_callend_is_recovered_by_reconcile(installed, live_app):
    row = add_stat_row(installed, CALL_TYPE="1", CALL_DURATION="120", CALL_FAILED_CODE="200")
    requests.post(f"{installed.url}/_sandbox/settings", json={"drop_events_share": 1.0}, timeout=10)
    out = fire(installed, "ONVOXIMPLANTCALLEND", callend(row))
    assert out["dropped"] == 1
    assert calls(live_app, call_id=row["CALL_ID"]) == []
    with live_app.ctx():
        history.reconcile(db.session.get(Portal, portal_id(live_app, installed.member_id)))
    got = calls(live_app, call_id=row["CALL_ID"])
    assert len(got) == 1 and got[0].source == "reconcile" and got[0].selection == "review"


def test_an_import_that_dies_halfway_and_restarts_stores_every_call_once(installed, live_app, monkeypatch):
    pid = portal_id(live_app, installed.member_id)
    with live_app.ctx():
        db.session.query(Call).delete()
        db.session.query(ImportRun).delete()
        db.session.commit()
    real = history._Writer._write  # COMMIT_ROWS rows, committed with their progress
    seen = {"n": 0}

    def crash_after_first(*a, **kw):
        seen["n"] += 1
        if seen["n"] > 1:
            raise RuntimeError("worker killed")
        return real(*a, **kw)

    monkeypatch.setattr(history._Writer, "COMMIT_ROWS", 50)  # several commits even for a small portal
    monkeypatch.setattr(history._Writer, "_write", staticmethod(crash_after_first))
    with live_app.ctx():
        run = history.start_import(db.session.get(Portal, pid), 90)
        run_id = run.id
    partial = len(calls(live_app))
    monkeypatch.setattr(history._Writer, "_write", staticmethod(real))
    with live_app.ctx():
        assert db.session.get(ImportRun, run_id).status == "running"
        history.run_import(run_id)
        assert db.session.get(ImportRun, run_id).status == "done"
    total = requests.get(f"{installed.url}/_sandbox/stats", timeout=10).json()["rows"]
    got = calls(live_app)
    assert 0 < partial < total
    assert len(got) == total and len({c.call_id for c in got}) == total


def test_a_recording_that_arrives_a_minute_late_lands_on_the_call(installed, live_app):
    row = add_stat_row(installed, CALL_TYPE="1", CALL_DURATION="50", CALL_FAILED_CODE="200", PORTAL_USER_ID="2",
                       RECORD_FILE_ID=None)
    fire(installed, "ONVOXIMPLANTCALLEND", callend(row))
    c = calls(live_app, call_id=row["CALL_ID"])[0]
    assert c.enriched and c.record_file_id is None
    # the portal attaches the recording later (core retries the download after 60 s) …
    r = requests.post(f"{installed.url}/_sandbox/calls/{row['ID']}", json={"RECORD_FILE_ID": 901}, timeout=10)
    assert r.status_code == 200
    # … and the enrichment job's retry (every 30 s, several times) reads it
    from b24app.calls.intake import enrich_call

    with live_app.ctx():
        result = enrich_call.call_local(portal_id(live_app, installed.member_id), row["CALL_ID"])
    assert result == "enriched"
    assert calls(live_app, call_id=row["CALL_ID"])[0].record_file_id == 901
