"""The README's production shape end to end: `honcho start` of the Procfile (gunicorn, two workers) on
PostgreSQL and Redis, installed into a sandbox portal over HTTP, taking its history and live calls."""

from __future__ import annotations

import os

import psutil

from .calls_check import HISTORY_ROWS, check_calls_and_cards, make_deployment, make_portal, settled
from .harness import PrivateRedis, live_call, wait_until


def test_honcho_runs_the_production_shape_and_every_call_is_stored_once(fresh_database, deploy_redis_url, tmp_path):
    dep = make_deployment(fresh_database, deploy_redis_url, tmp_path, supervisor="honcho")
    portal = make_portal(dep.url)
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
        wait_until(lambda: settled(dep, portal, events, answered), 90, "every call processed with its card")
        check_calls_and_cards(dep, portal, answered, missed, imported)
    finally:
        codes = dep.stop()
        portal.stop()
    assert dep.leftovers == [] and dep.orphans() == []
    assert codes["honcho"] in (0, 143), dep.logs("honcho")[-3000:]  # 143: honcho itself was sent SIGTERM
    assert {codes[n] for n in ("web.1", "worker.1", "worker.2")} <= {0}, codes


def test_one_worker_killed_and_redis_restarted_the_deployment_goes_on(fresh_database, tmp_path):
    # A Redis of its own: restarting the shared test server would pull it from under other runs.
    redis_server = PrivateRedis(tmp_path)
    dep = make_deployment(fresh_database, redis_server.url, tmp_path)
    portal = make_portal(dep.url)
    try:
        dep.start()
        dep.install(portal.url)
        imported = dep.wait_import_done()
        dep.kill("worker.1")
        assert not dep.alive("worker.1") and dep.alive("worker.2") and dep.alive("web.1")
        first = [live_call(portal.url, 2, f"+7900777{i:04d}") for i in range(3)]
        wait_until(lambda: settled(dep, portal, 9, first), 60, "worker.2 alone processing the calls")
        dep.restart_redis()
        dep.start_process("worker.1")
        second = [live_call(portal.url, 4, f"+7900888{i:04d}") for i in range(3)]
        wait_until(lambda: settled(dep, portal, 18, first + second), 60, "calls after the Redis restart")
        check_calls_and_cards(dep, portal, first + second, [], imported)
    finally:
        codes = dep.stop()
        portal.stop()
        redis_server.stop()
    assert dep.leftovers == [] and dep.orphans() == []
    assert codes["worker.1"] == 0 and codes["worker.2"] == 0 and codes["web.1"] == 0, codes
