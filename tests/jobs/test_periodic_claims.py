"""Periodic tasks run once per due minute however many worker processes run huey's scheduler."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from huey import crontab
from huey.consumer import Scheduler
from sqlalchemy import select

from b24app.extensions import db
from b24app.jobs import CLAIMS_KEPT, app_periodic_task, claim_slot, huey
from b24app.jobs.models import PeriodicClaim

DUE = datetime(2026, 12, 4, 3, 17, 5)  # huey's scheduler passes naive UTC


def test_two_claims_of_one_slot_one_wins(live_app):
    with live_app.ctx():
        assert claim_slot("t.a", DUE) is True
        assert claim_slot("t.a", DUE + timedelta(seconds=40)) is False  # the other process, same minute
        assert claim_slot("t.a", DUE.replace(tzinfo=UTC)) is False  # the same moment, aware
        assert claim_slot("t.a", DUE + timedelta(minutes=1)) is True
        assert claim_slot("t.b", DUE) is True
        rows = db.session.execute(select(PeriodicClaim.task, PeriodicClaim.slot).order_by(
            PeriodicClaim.task, PeriodicClaim.slot)).all()
    assert [(t, s.replace(tzinfo=None)) for t, s in rows] == [
        ("t.a", DUE.replace(second=0)), ("t.a", DUE.replace(minute=18, second=0)), ("t.b", DUE.replace(second=0))]


def test_claims_racing_from_many_connections_have_one_winner(live_app):
    results, start = [], threading.Barrier(8)

    def claim():
        with live_app.ctx():
            start.wait()
            results.append(claim_slot("t.race", DUE))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]


def test_old_claims_of_a_task_go_when_it_claims_again(live_app):
    with live_app.ctx():
        old = DUE - CLAIMS_KEPT - timedelta(minutes=1)
        assert claim_slot("t.a", old) and claim_slot("t.b", old)
        assert claim_slot("t.a", DUE - CLAIMS_KEPT + timedelta(minutes=1))  # kept: inside the window
        assert claim_slot("t.a", DUE)
        left = db.session.execute(select(PeriodicClaim.task, PeriodicClaim.slot)).all()
    assert sorted((t, s.replace(tzinfo=None)) for t, s in left) == [
        ("t.a", (DUE - CLAIMS_KEPT + timedelta(minutes=1)).replace(second=0)), ("t.a", DUE.replace(second=0)),
        ("t.b", old.replace(second=0))]  # another task's old claim goes when that task claims


@pytest.fixture
def counted_task(monkeypatch):
    """A periodic task due every minute, alone in the registry (the real ones would run inline too)."""
    runs = []

    @app_periodic_task(crontab(minute="*"))
    def count_run():
        runs.append(1)
        return len(runs)

    monkeypatch.setattr(huey._registry, "_periodic_tasks", [count_run.task_class])
    yield runs
    huey._registry.unregister(count_run.task_class)


def test_two_schedulers_at_one_tick_run_the_task_once(live_app, counted_task):
    # Two worker processes' schedulers reach the same minute a few seconds apart; inline mode runs
    # what they enqueue at once, so the count is the number of runs.
    with live_app.ctx():
        stop = threading.Event()
        first, second = Scheduler(huey, stop, 1, True), Scheduler(huey, stop, 1, True)
        first.enqueue_periodic_tasks(DUE)
        second.enqueue_periodic_tasks(DUE + timedelta(seconds=20))
        assert counted_task == [1]
        second.enqueue_periodic_tasks(DUE + timedelta(minutes=1))
        first.enqueue_periodic_tasks(DUE + timedelta(minutes=1, seconds=20))
        assert counted_task == [1, 1]


def test_a_direct_call_is_not_a_scheduled_run_and_claims_nothing(live_app, counted_task):
    from b24app.inbox.tasks import sweep_inbox

    with live_app.ctx():
        sweep_inbox()  # inline mode: runs at once
        assert db.session.scalar(select(PeriodicClaim.task)) is None
