"""The README's production shape end to end: `honcho start` of the Procfile (gunicorn, two workers) on
PostgreSQL and Redis, installed into a sandbox portal over HTTP, taking its history and live calls."""

from __future__ import annotations

import os

import psutil
import requests

from b24app.sandbox.server import SandboxServer
from b24app.sandbox.settings import SandboxSettings

from .harness import Deployment, PrivateRedis, live_call, wait_until

CLIENT_ID, CLIENT_SECRET = "local.deploy.0001", "deploy-secret"
HISTORY_ROWS = 300


def _portal(app_url: str) -> SandboxServer:
    # History inside the app's 90-day import window; limits loose enough that the test waits on the app.
    return SandboxServer(SandboxSettings(app_url=app_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, rate=50.0,
                                         burst=100, handler_path="/b24/app", rows=HISTORY_ROWS, calls_days=60)).start()


def _deployment(database_url, redis_url, tmp_path, **kw) -> Deployment:
    return Deployment(database_url, redis_url, log_dir=tmp_path / "logs", env={
        "B24_CLIENT_ID": CLIENT_ID, "B24_CLIENT_SECRET": CLIENT_SECRET, "B24_RATE_LIMIT": "50/100"}, **kw)


def _events_delivered(portal: SandboxServer) -> int:
    return requests.get(f"{portal.url}/_sandbox/stats", timeout=10).json()["events"]["delivered"]


def _settled(dep: Deployment, portal: SandboxServer, events: int, carded: list[str]):
    """Every event delivered, stored and processed; every selected call has its card ID saved."""
    if _events_delivered(portal) < events:
        return False
    stored, pending = dep.query("SELECT count(*), count(*) FILTER (WHERE status <> 'done') FROM event_inbox "
                                "WHERE event LIKE 'ONVOXIMPLANTCALL%'")[0]
    if stored < events or pending:
        return False
    with_card = dep.scalar("SELECT count(*) FROM calls WHERE call_id = ANY(:ids) AND qa_item_id > 0", ids=carded)
    return with_card == len(carded)


def _check_calls_and_cards(dep: Deployment, portal: SandboxServer, answered: list[str], missed: list[str],
                           imported: int) -> None:
    live = answered + missed
    rows = dep.query("SELECT call_id, count(*), bool_and(ended), min(qa_item_id) FROM calls "
                     "WHERE call_id = ANY(:ids) GROUP BY call_id", ids=live)
    assert sorted(r[0] for r in rows) == sorted(live)
    assert all(r[1] == 1 and r[2] for r in rows), rows  # once each, and completed by its CALLEND
    assert dep.scalar("SELECT count(*) FROM calls") == imported + len(live)
    per_event = dep.query("SELECT event, count(*) FROM event_inbox WHERE event LIKE 'ONVOXIMPLANTCALL%' "
                          "GROUP BY event ORDER BY event")
    assert per_event == [("ONVOXIMPLANTCALLEND", len(live)), ("ONVOXIMPLANTCALLINIT", len(live)),
                         ("ONVOXIMPLANTCALLSTART", len(answered))]
    items = dep.qa_items(portal.webhook_url)
    assert {c: len(items.get(c, [])) for c in answered} == dict.fromkeys(answered, 1)  # one card each
    assert not set(items) & set(missed)  # a missed call is not reviewed
    saved = dict(dep.query("SELECT call_id, qa_item_id FROM calls WHERE call_id = ANY(:ids)", ids=answered))
    assert saved == {c: items[c][0] for c in answered}
    # No card anywhere twice, and none the app does not know about.
    assert all(len(v) == 1 for v in items.values())
    assert dep.scalar("SELECT count(*) FROM calls WHERE qa_item_id > 0") == len(items)


def test_honcho_runs_the_production_shape_and_every_call_is_stored_once(fresh_database, deploy_redis_url, tmp_path):
    dep = _deployment(fresh_database, deploy_redis_url, tmp_path, supervisor="honcho")
    portal = _portal(dep.url)
    try:
        dep.start()
        assert sorted(dep.pids()) == ["web.1", "worker.1", "worker.2"]
        assert len(dep.group("web.1")) == 3  # gunicorn's master and its two worker processes
        # The job workers yield the CPU to the web (WORKER_NICE), also against other sessions' groups.
        assert [psutil.Process(dep.pids()[n]).nice() for n in ("web.1", "worker.1", "worker.2")] == [0, 10, 10]
        if os.path.exists(f"/proc/{dep.pids()['worker.1']}/autogroup"):
            assert "nice 10" in open(f"/proc/{dep.pids()['worker.1']}/autogroup").read()
        dep.install(portal.url)
        imported = dep.wait_import_done()
        assert imported == HISTORY_ROWS
        answered = [live_call(portal.url, 2 + i % 6, f"+7900555{i:04d}", talk_seconds=45 + i) for i in range(16)]
        missed = [live_call(portal.url, 3, f"+7900666{i:04d}", answered=False, direction="incoming")
                  for i in range(6)]
        events = 3 * len(answered) + 2 * len(missed)
        wait_until(lambda: _settled(dep, portal, events, answered), 90, "every call processed with its card")
        _check_calls_and_cards(dep, portal, answered, missed, imported)
    finally:
        codes = dep.stop()
        portal.stop()
    assert dep.leftovers == [] and dep.orphans() == []
    assert codes["honcho"] in (0, 143), dep.logs("honcho")[-3000:]  # 143: honcho itself was sent SIGTERM
    assert {codes[n] for n in ("web.1", "worker.1", "worker.2")} <= {0}, codes


def test_one_worker_killed_and_redis_restarted_the_deployment_goes_on(fresh_database, tmp_path):
    # A Redis of its own: restarting the shared test server would pull it from under other runs.
    redis_server = PrivateRedis(tmp_path)
    dep = _deployment(fresh_database, redis_server.url, tmp_path)
    portal = _portal(dep.url)
    try:
        dep.start()
        dep.install(portal.url)
        imported = dep.wait_import_done()
        dep.kill("worker.1")
        assert not dep.alive("worker.1") and dep.alive("worker.2") and dep.alive("web.1")
        first = [live_call(portal.url, 2, f"+7900777{i:04d}") for i in range(3)]
        wait_until(lambda: _settled(dep, portal, 9, first), 60, "worker.2 alone processing the calls")
        dep.restart_redis()
        dep.start_process("worker.1")
        second = [live_call(portal.url, 4, f"+7900888{i:04d}") for i in range(3)]
        wait_until(lambda: _settled(dep, portal, 18, first + second), 60, "calls after the Redis restart")
        _check_calls_and_cards(dep, portal, first + second, [], imported)
    finally:
        codes = dep.stop()
        portal.stop()
        redis_server.stop()
    assert dep.leftovers == [] and dep.orphans() == []
    assert codes["worker.1"] == 0 and codes["worker.2"] == 0 and codes["web.1"] == 0, codes
