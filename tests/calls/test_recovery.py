"""Recovery of work a job left undone: an import whose worker died, calls whose events were lost while
newer ones arrived, cards whose job vanished, a portal whose token was revoked mid-import."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import requests

from b24app.bitrix import errors as E
from b24app.calls import history
from b24app.calls.models import Call, CallSettings, ImportRun
from b24app.extensions import db
from b24app.jobs import every_minutes
from b24app.models_base import utcnow
from b24app.portals.models import Portal
from b24app.qa.cards import CLAIMED, requeue_lost_cards

from .test_intake import add_stat_row, callend, calls, fire, portal_id


def _stats(sandbox) -> dict:
    return requests.get(f"{sandbox.url}/_sandbox/stats", timeout=10).json()


def _restart_history(live_app, pid: int) -> None:
    with live_app.ctx():
        db.session.query(Call).delete()
        db.session.query(ImportRun).delete()
        db.session.commit()


def _died_running(live_app, pid: int, *, beat_ago: float, resume_from: int | None = None,
                  rows_done: int = 0) -> int:
    """A run left 'running' by a worker that died `beat_ago` seconds ago (its job gone with it)."""
    with live_app.ctx():
        run = ImportRun(portal_id=pid, date_from=utcnow() - timedelta(days=90), status="running", attempt=1,
                        started_at=utcnow() - timedelta(seconds=beat_ago + 5), resume_from=resume_from,
                        rows_done=rows_done, heartbeat_at=utcnow() - timedelta(seconds=beat_ago))
        db.session.add(run)
        db.session.commit()
        return run.id


def test_a_stale_running_import_is_resumed_once_and_counts_every_row_once(installed, live_app):
    total = _stats(installed)["rows"]
    pid = portal_id(live_app, installed.member_id)
    _restart_history(live_app, pid)
    run_id = _died_running(live_app, pid, beat_ago=3600)
    reads = [_stats(installed)["rest_calls"].get("voximplant.statistic.get", 0)]
    with live_app.ctx():
        history.run_import.call_local(run_id)  # a whole import, to know what one costs
        reads.append(_stats(installed)["rest_calls"]["voximplant.statistic.get"])
        # Now as if its worker had died half way: the rows from the resume point on were never
        # committed, and the count is off (rows the crash had read twice).
        half = sorted(db.session.scalars(db.select(Call.stat_id)).all())[total // 2]
        db.session.query(Call).filter(Call.stat_id >= half).delete()
        db.session.query(ImportRun).filter_by(id=run_id).update({
            "status": "running", "resume_from": half, "rows_done": total + 17,
            "heartbeat_at": utcnow() - timedelta(hours=1), "finished_at": None})
        db.session.commit()
        live_app.app.config["JOB_STALE_AFTER"] = 300
        assert history.resume_stale() == 1  # claimed and run (jobs are inline here)
        assert history.resume_stale() == 0  # nothing left to claim
        run = db.session.get(ImportRun, run_id)
        assert (run.status, run.attempt, run.rows_done) == ("done", 2, total)
        reads.append(_stats(installed)["rest_calls"]["voximplant.statistic.get"])
    got = calls(live_app)
    assert len(got) == total and len({c.call_id for c in got}) == total
    # The resumed attempt read from the resume point on, not the whole history again.
    assert reads[2] - reads[1] < reads[1] - reads[0], reads


def test_a_run_with_a_fresh_heartbeat_is_left_to_its_worker(installed, live_app):
    pid = portal_id(live_app, installed.member_id)
    _restart_history(live_app, pid)
    run_id = _died_running(live_app, pid, beat_ago=10)
    with live_app.ctx():
        live_app.app.config["JOB_STALE_AFTER"] = 300
        assert history.resume_stale() == 0
        assert db.session.get(ImportRun, run_id).attempt == 1
        live_app.app.config["JOB_STALE_AFTER"] = 5
        assert history.resume_stale() == 1
        assert db.session.get(ImportRun, run_id).status == "done"


def test_an_attempt_taken_over_by_a_sweep_stops_and_changes_nothing(installed, live_app):
    pid = portal_id(live_app, installed.member_id)
    _restart_history(live_app, pid)
    run_id = _died_running(live_app, pid, beat_ago=3600)
    with live_app.ctx():
        db.session.query(ImportRun).filter_by(id=run_id).update({"attempt": 2})
        db.session.commit()
        assert history.run_import.call_local(run_id, 1) == "superseded"
        run = db.session.get(ImportRun, run_id)
        assert (run.status, run.rows_done) == ("running", 0)
        assert db.session.query(Call).count() == 0


def test_an_import_whose_token_is_revoked_ends_failed_with_the_reason(installed, live_app):
    pid = portal_id(live_app, installed.member_id)
    _restart_history(live_app, pid)
    requests.post(f"{installed.url}/_sandbox/revoke-tokens", json={}, timeout=10).raise_for_status()
    with live_app.ctx():
        run = history.start_import(db.session.get(Portal, pid), 90)  # runs inline; must not raise
        run = db.session.get(ImportRun, run.id)
        assert run.status == "failed" and "reinstall" in run.error
        assert db.session.get(Portal, pid).status == "needs_reinstall"
        # A job of that portal stops quietly instead of failing for huey to retry.
        from b24app.calls.intake import enrich_call
        from b24app.qa.cards import create_card

        assert enrich_call.call_local(pid, "no-such-call") == "portal inactive"
        call = Call(portal_id=pid, call_id="revoked-1", selection="review", ended=True, enriched=True)
        db.session.add(call)
        db.session.commit()
        assert create_card.call_local(call.id) == "portal needs reinstall"
        assert db.session.get(Call, call.id).qa_item_id is None  # the claim is released for later


def test_reconcile_finds_a_lost_call_older_than_one_that_came_by_its_events(installed, live_app):
    lost = add_stat_row(installed, CALL_TYPE="1", CALL_DURATION="120", CALL_FAILED_CODE="200", PORTAL_USER_ID="2")
    requests.post(f"{installed.url}/_sandbox/settings", json={"drop_events_share": 1.0}, timeout=10)
    assert fire(installed, "ONVOXIMPLANTCALLEND", callend(lost))["dropped"] == 1
    requests.post(f"{installed.url}/_sandbox/settings", json={"drop_events_share": 0.0}, timeout=10)
    newer = add_stat_row(installed, CALL_TYPE="1", CALL_DURATION="60", CALL_FAILED_CODE="200", PORTAL_USER_ID="2")
    fire(installed, "ONVOXIMPLANTCALLEND", callend(newer))
    assert calls(live_app, call_id=newer["CALL_ID"])[0].enriched  # the newest statistics row the app holds
    pid = portal_id(live_app, installed.member_id)
    with live_app.ctx():
        history.reconcile(db.session.get(Portal, pid))
        cursor = db.session.query(CallSettings.reconcile_from).filter_by(portal_id=pid).scalar()
    got = calls(live_app, call_id=lost["CALL_ID"])
    assert len(got) == 1 and got[0].source == "reconcile" and got[0].qa_item_id
    assert cursor == int(newer["ID"])
    # The next reconcile reads on from the cursor: nothing new, nothing doubled.
    with live_app.ctx():
        assert history.reconcile(db.session.get(Portal, pid)) == 0
    assert len(calls(live_app, call_id=lost["CALL_ID"])) == 1


def test_reconcile_leaves_the_history_to_a_running_import(installed, live_app):
    pid = portal_id(live_app, installed.member_id)
    _restart_history(live_app, pid)
    _died_running(live_app, pid, beat_ago=1)
    before = _stats(installed)["rest_calls"].get("voximplant.statistic.get", 0)
    with live_app.ctx():
        assert history.reconcile(db.session.get(Portal, pid)) == 0
        assert db.session.query(Call).count() == 0  # no history row read, and none made a card
    assert _stats(installed)["rest_calls"].get("voximplant.statistic.get", 0) == before


def test_cards_whose_job_was_lost_are_made_once(installed, live_app):
    pid = portal_id(live_app, installed.member_id)
    rows = [add_stat_row(installed, CALL_TYPE="1", CALL_DURATION="90", CALL_FAILED_CODE="200", PORTAL_USER_ID="2")
            for _ in range(3)]
    for r in rows:
        fire(installed, "ONVOXIMPLANTCALLEND", callend(r))
    ids = [r["CALL_ID"] for r in rows]
    old = utcnow() - timedelta(hours=1)
    with live_app.ctx():
        made = {c.call_id: c.qa_item_id for c in db.session.query(Call).filter(Call.call_id.in_(ids))}
        assert all(made.values())
        # The first's card job vanished before it ran; the second's worker died holding the claim.
        db.session.query(Call).filter(Call.call_id == ids[0]).update({"qa_item_id": None, "updated_at": old})
        db.session.query(Call).filter(Call.call_id == ids[1]).update({"qa_item_id": CLAIMED, "updated_at": old})
        db.session.commit()
        # The portal lost the first card (it was never made) but still has the second's.
        requests.post(f"{installed.webhook_url}crm.item.delete", json={
            "entityTypeId": _entity_type(pid), "id": made[ids[0]]},
            timeout=10).raise_for_status()
        assert requeue_lost_cards(pid, timedelta(minutes=5)) == 2
        assert requeue_lost_cards(pid, timedelta(minutes=5)) == 0
        after = {c.call_id: c.qa_item_id for c in db.session.query(Call).filter(Call.call_id.in_(ids))}
    assert after[ids[1]] == made[ids[1]] and after[ids[2]] == made[ids[2]]  # found, not made twice
    assert after[ids[0]] and after[ids[0]] != made[ids[0]]
    with live_app.ctx():  # imported calls are history: no card for them
        imported = db.session.query(Call).filter_by(source="import").count()
        assert imported and db.session.query(Call).filter(Call.source == "import",
                                                          Call.qa_item_id.is_not(None)).count() == 0


def _entity_type(pid: int) -> int:
    from b24app.qa.models import QaSetup

    return db.session.query(QaSetup.entity_type_id).filter_by(portal_id=pid).scalar()


@pytest.mark.parametrize("every,minute,due", [(5, 0, True), (5, 3, False), (1, 7, True), (7, 14, True),
                                              (7, 15, False)])
def test_the_periodic_cadence_comes_from_config(live_app, every, minute, due):
    with live_app.ctx():
        live_app.app.config["RECONCILE_EVERY_MINUTES"] = every
        assert every_minutes("RECONCILE_EVERY_MINUTES", 5)(datetime(2026, 1, 1, 0, minute)) is due


def test_which_errors_need_a_reinstall():
    assert E.needs_reinstall(E.InvalidToken())
    assert E.needs_reinstall(E.PortalNotReady())
    assert E.needs_reinstall(E.OAuthError("invalid_grant"))
    assert E.needs_reinstall(E.ExportIncomplete("m", 0, 1, E.NoAuthFound()))
    assert not E.needs_reinstall(E.ServerError())
    assert not E.needs_reinstall(E.ExportIncomplete("m", 0, 1, E.ServerError()))
    assert E.root_code(E.ExportIncomplete("m", 0, 1, E.InvalidToken())) == "invalid_token"
