"""Report runs on a real installed sandbox portal when things go wrong: a failing upload retried with backoff
(and the admins told after the last attempt), a worker that died mid-build or right after uploading taken up
again and finished once, a portal that needs reinstall stopped quietly."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from b24app.extensions import db
from b24app.jobs import huey
from b24app.models_base import utcnow
from b24app.portals.models import STATUS_NEEDS_REINSTALL, Portal
from b24app.reports import runs, schedule
from b24app.reports.models import ReportFile, ReportRun

from ..platform.helpers import set_sandbox
from .schedule_helpers import all_runs, chat_messages, configure, notifications, report_files

FIRST, LAST = date(2026, 11, 23), date(2026, 11, 29)
STALE = 300  # JOB_STALE_AFTER's default


@pytest.fixture(autouse=True)
def _no_retries_left_over():
    """Retries other tests scheduled in the inline queue's memory (run IDs restart with every test)."""
    huey.storage.flush_schedule()


def _start(live_app, pid, **kw):
    with live_app.ctx():
        run = runs.start(pid, "weekly", FIRST, LAST, **kw)
        return run.id


def _run(live_app, run_id) -> ReportRun:
    with live_app.ctx():
        run = db.session.get(ReportRun, run_id)
        db.session.expunge(run)
        return run


def _scheduled_retries(run_id: int) -> list[tuple]:
    return [t.args for t in huey.scheduled() if t.name.endswith("execute_run") and t.args[0] == run_id]


def test_a_failed_upload_is_retried_with_backoff_and_the_admin_is_told_after_the_last_attempt(installed, live_app):
    pid = configure(live_app, installed)
    set_sandbox(installed, disk_upload_fail_share=1.0)
    run_id = _start(live_app, pid)
    run = _run(live_app, run_id)
    assert (run.status, run.attempts) == ("queued", 1) and "ERROR_UPLOAD" in run.error
    assert (run_id, 1) in _scheduled_retries(run_id)          # the job's retry, after the first backoff
    assert notifications(installed, 1) == []
    for attempt in (1, 2, 3):                                  # the retries huey would run
        with live_app.ctx():
            assert runs.execute(run_id, attempt) == ("retry" if attempt < 3 else "failed")
    run = _run(live_app, run_id)
    assert (run.status, run.attempts) == ("failed", runs.MAX_ATTEMPTS) and "ERROR_UPLOAD" in run.error
    assert [runs.backoff(n) for n in (1, 2, 3)] == [60, 300, 900]
    [told] = notifications(installed, 1)                       # user 1 installed the app: its admin
    assert "23.11.2026–29.11.2026" in told["text"] and "не отправлен" in told["text"] and told["system"]
    assert report_files(installed) == [] and chat_messages(installed) == []
    with live_app.ctx():                                       # the workbook was built once, then reused
        assert db.session.scalar(select(ReportFile.run_id).where(ReportFile.run_id == run_id)) == run_id
        assert runs.execute(run_id, 3) == "nothing to do"       # a stray job for a failed run does nothing
    assert len(notifications(installed, 1)) == 1


def test_an_upload_that_recovers_is_delivered_once_by_the_schedule_tick(installed, live_app):
    pid = configure(live_app, installed)
    set_sandbox(installed, disk_upload_fail_share=1.0)
    run_id = _start(live_app, pid)
    assert _run(live_app, run_id).status == "queued"
    set_sandbox(installed, disk_upload_fail_share=0.0)
    with live_app.ctx():  # the job's scheduled retry was lost (the queue's storage wiped): the tick takes it up
        assert schedule.tick(utcnow() + timedelta(seconds=30)) == 0
        assert _run(live_app, run_id).status == "queued"  # not yet: still inside its backoff
        schedule.tick(utcnow() + timedelta(seconds=runs.backoff(1) + STALE + 5))
    run = _run(live_app, run_id)
    assert (run.status, run.attempts, run.error) == ("done", 2, ""), run.error
    with live_app.ctx():  # the retry huey had scheduled arrives late: the run is no longer at its count
        assert runs.execute(run_id, 1) == "nothing to do"
    assert len(report_files(installed, 2026)) == 1 and len(chat_messages(installed)) == 1
    assert notifications(installed, 1) == []


def test_a_run_whose_worker_died_mid_build_is_taken_up_and_finished_once(installed, live_app):
    pid = configure(live_app, installed)
    with live_app.ctx():  # claimed by a worker that then died: running, no progress for ten minutes
        run = ReportRun(portal_id=pid, kind="weekly", slot="weekly:2026-11-23", first=FIRST, last=LAST,
                        status="running", attempts=1, progress=30, started_at=utcnow() - timedelta(minutes=10))
        db.session.add(run)
        db.session.commit()
        run_id = run.id
        assert runs.resume_stale(utcnow() - timedelta(minutes=9)) == 0  # not stale yet at that moment
        assert schedule.tick() == 0                                     # resumed; nothing new started
    run = _run(live_app, run_id)
    assert (run.status, run.attempts) == ("done", 2), run.error
    with live_app.ctx():
        assert runs.execute(run_id, 0) == "nothing to do"   # the dead worker's job, were it to come back
        assert schedule.tick() == 0
    assert len(report_files(installed, 2026)) == 1 and len(chat_messages(installed)) == 1


def test_a_long_build_that_still_moves_is_not_taken_from_its_worker(installed, live_app):
    pid = configure(live_app, installed)
    with live_app.ctx():  # started ten minutes ago (twice JOB_STALE_AFTER), progress written a minute ago
        run = ReportRun(portal_id=pid, kind="weekly", slot="weekly:2026-11-23", first=FIRST, last=LAST,
                        status="running", attempts=1, progress=60, started_at=utcnow() - timedelta(minutes=10),
                        beat_at=utcnow() - timedelta(minutes=1))
        db.session.add(run)
        db.session.commit()
        run_id = run.id
        assert runs.resume_stale() == 0
        assert runs.resume_stale(utcnow() + timedelta(seconds=STALE)) == 1  # silent for the whole span: dead
    assert _run(live_app, run_id).status == "done"
    assert len(report_files(installed, 2026)) == 1 and len(chat_messages(installed)) == 1


def test_a_run_resumed_after_uploading_uses_the_uploaded_file_and_posts_once(installed, live_app):
    pid = configure(live_app, installed, dialog_id="")
    run_id = _start(live_app, pid)
    done = _run(live_app, run_id)
    assert done.status == "done" and done.disk_file_id
    with live_app.ctx():  # as if the worker died after the upload, before writing the file's ID
        db.session.execute(ReportRun.__table__.update().where(ReportRun.id == run_id).values(
            status="running", disk_file_id="", file_url="", started_at=utcnow() - timedelta(minutes=10),
            beat_at=utcnow() - timedelta(minutes=10)))
        db.session.commit()
    configure(live_app, installed)  # the chat is set meanwhile: the resumed run posts once
    with live_app.ctx():
        assert runs.resume_stale() == 1
    run = _run(live_app, run_id)
    assert run.status == "done" and run.disk_file_id == done.disk_file_id and run.file_url
    assert len(report_files(installed, 2026)) == 1
    [msg] = chat_messages(installed)
    assert run.file_url in msg["text"]


def test_a_run_that_keeps_killing_its_worker_fails_after_the_last_attempt_and_the_admin_is_told(installed,
                                                                                               live_app):
    pid = configure(live_app, installed)
    with live_app.ctx():
        run = ReportRun(portal_id=pid, kind="weekly", first=FIRST, last=LAST, status="running",
                        attempts=runs.MAX_ATTEMPTS, started_at=utcnow() - timedelta(minutes=10))
        db.session.add(run)
        db.session.commit()
        run_id = run.id
        assert runs.resume_stale() == 1
        assert runs.resume_stale() == 0
    assert _run(live_app, run_id).status == "failed"
    assert len(notifications(installed, 1)) == 1 and report_files(installed) == []


def test_a_portal_that_needs_reinstall_gets_nothing_and_nobody_is_told(installed, live_app):
    pid = configure(live_app, installed)
    with live_app.ctx():
        db.session.get(Portal, pid).status = STATUS_NEEDS_REINSTALL
        db.session.commit()
    run_id = _start(live_app, pid)
    run = _run(live_app, run_id)
    assert (run.status, run.attempts) == ("failed", 0) and "not active" in run.error
    assert _scheduled_retries(run_id) == []
    assert report_files(installed) == [] and chat_messages(installed) == [] and notifications(installed, 1) == []
    assert [r.id for r in all_runs(live_app, pid)] == [run_id]


def test_a_second_start_of_a_scheduled_slot_is_refused(installed, live_app):
    pid = configure(live_app, installed)
    with live_app.ctx():
        assert runs.start(pid, "weekly", FIRST, LAST, slot="weekly:2026-11-23") is not None
        assert runs.start(pid, "weekly", FIRST, LAST, slot="weekly:2026-11-23") is None
        manual = runs.start(pid, "manual", FIRST, LAST, to_chat=False, requested_by=3)
    assert manual.status == "done"
    names = sorted(f["NAME"] for f in report_files(installed, 2026))
    # the manual run of the same period has a name of its own on Disk: neither takes the other's file
    assert names == sorted(["Отчёт по звонкам 23.11.2026–29.11.2026.xlsx",
                            f"Отчёт по звонкам 23.11.2026–29.11.2026 (№{manual.id}).xlsx"])
    assert len(chat_messages(installed)) == 1
