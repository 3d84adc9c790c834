"""The REST client against the sandbox portal over HTTP: refresh, retries, exports that never come up short."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from b24app.bitrix import errors as E
from b24app.bitrix.limits import OperatingBudget
from b24app.portals.rest import client_for

from ..conftest import CLIENT_ID, CLIENT_SECRET
from .helpers import portal_row, set_sandbox, stats


@pytest.fixture
def portal_with_calls(make_sandbox):
    return make_sandbox(install=True, rows=10_000)


def _fast(client):
    client.backoff_base, client.backoff_cap = 0.05, 0.5
    return client


def test_fifty_concurrent_calls_on_an_expired_token_refresh_once(installed, live_app):
    old = portal_row(live_app, installed.member_id)
    requests.post(f"{installed.url}/_sandbox/expire-tokens", timeout=10).raise_for_status()
    before = stats(installed)["refreshes"]
    with live_app.ctx():
        client = client_for(installed.member_id)
        with ThreadPoolExecutor(50) as pool:
            results = list(pool.map(lambda _: client.call("user.current").result, range(50)))
    assert all(r["ID"] for r in results)
    assert stats(installed)["refreshes"] - before == 1
    new = portal_row(live_app, installed.member_id)
    assert new.access_token != old.access_token
    assert new.refresh_token != old.refresh_token  # the rotated refresh token replaced the old one


def test_separate_clients_like_separate_workers_share_one_refresh(installed, live_app):
    requests.post(f"{installed.url}/_sandbox/expire-tokens", timeout=10).raise_for_status()
    before = stats(installed)["refreshes"]
    with live_app.ctx():
        clients = [client_for(installed.member_id) for _ in range(10)]
        with ThreadPoolExecutor(10) as pool:
            list(pool.map(lambda c: c.call("profile").result, clients))
    assert stats(installed)["refreshes"] - before == 1


def test_the_old_refresh_token_stops_working_after_rotation(installed, live_app):
    old = portal_row(live_app, installed.member_id)
    requests.post(f"{installed.url}/_sandbox/expire-tokens", timeout=10).raise_for_status()
    with live_app.ctx():
        client_for(installed.member_id).call("user.current")
    r = requests.get(f"{installed.oauth_url}/oauth/token/", params={
        "grant_type": "refresh_token", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
        "refresh_token": old.refresh_token}, timeout=10)
    assert r.status_code >= 400 and r.json()["error"] == "invalid_grant"


def test_list_all_under_a_503_storm_returns_every_row_once(portal_with_calls, live_app):
    set_sandbox(portal_with_calls, fail_503_share=0.3)
    with live_app.ctx():
        client = _fast(client_for(portal_with_calls.member_id))
        rows = client.list_all("voximplant.statistic.get")
    ids = [int(r["ID"]) for r in rows]
    assert len(ids) == 10_000 and len(set(ids)) == 10_000
    assert stats(portal_with_calls)["http_503"] > 0


def test_list_all_with_a_filter_returns_exactly_the_matching_rows(portal_with_calls, live_app):
    with live_app.ctx():
        client = client_for(portal_with_calls.member_id)
        rows = client.list_all("voximplant.statistic.get", {"FILTER": {"CALL_TYPE": 2}})
        # the slow reference: offset pages with COUNT, one request each
        ref, start = [], 0
        while start is not None:
            page = client.call("voximplant.statistic.get", {"FILTER": {"CALL_TYPE": 2}, "SORT": "ID",
                                                            "ORDER": "ASC", "start": start})
            ref.extend(page.result)
            start = page.next
    assert sorted(int(r["ID"]) for r in rows) == sorted(int(r["ID"]) for r in ref)
    assert rows and all(str(r["CALL_TYPE"]) == "2" for r in rows)


def test_export_slows_down_when_the_operating_budget_runs_out(portal_with_calls, live_app):
    set_sandbox(portal_with_calls, call_cost=0.004, operating_limit=0.1, operating_window=2.0,
                operating_min_fix=0.0)
    with live_app.ctx():
        client = client_for(portal_with_calls.member_id)
        client.budget = OperatingBudget(limit=0.1, window=2.0)  # as an operator would configure it
        rows = client.list_all("voximplant.statistic.get", {"FILTER": {"<ID": 1200}})
    ids = {int(r["ID"]) for r in rows}
    assert len(ids) == len(rows) and ids and max(ids) < 1200
    with live_app.ctx():
        ref = client_for(portal_with_calls.member_id).call(
            "voximplant.statistic.get", {"FILTER": {"<ID": 1200}, "start": 0}).total
    assert len(ids) == ref


def test_an_export_that_cannot_finish_raises_and_resumes(portal_with_calls, live_app):
    set_sandbox(portal_with_calls, call_cost=0.004, operating_limit=0.3, operating_window=60.0,
                operating_min_fix=0.0)
    got: dict[int, dict] = {}
    with live_app.ctx():
        # one batch at a time, so the budget runs out after the second batch whatever the timing
        client = client_for(portal_with_calls.member_id, max_limit_waits=0, concurrency=1)
        client.budget = OperatingBudget(limit=1000.0, window=60.0)  # the client does not know the budget
        with pytest.raises(E.ExportIncomplete) as info:
            client.export("voximplant.statistic.get", on_rows=lambda rows: got.update({int(r["ID"]): r for r in rows}))
    assert info.value.resume_from is not None and len(got) < 10_000
    set_sandbox(portal_with_calls, operating_limit=1000.0)
    requests.post(f"{portal_with_calls.url}/_sandbox/reset", timeout=10)
    with live_app.ctx():
        client = client_for(portal_with_calls.member_id)
        client.export("voximplant.statistic.get", resume_from=info.value.resume_from,
                      on_rows=lambda rows: got.update({int(r["ID"]): r for r in rows}))
    assert len(got) == 10_000


def test_batch_surfaces_each_commands_error(installed, live_app):
    with live_app.ctx():
        res = client_for(installed.member_id).batch({"ok": ("user.current", {}), "bad": ("no.such.method", {})})
    assert res.results["ok"]["ID"]
    assert isinstance(res.errors["bad"], E.BitrixError) and "bad" not in res.results


def test_a_revoked_app_marks_the_portal_for_reinstall(installed, live_app):
    p = portal_row(live_app, installed.member_id)
    requests.post(f"{installed.url}/_sandbox/revoke-tokens", timeout=10)
    with live_app.ctx():
        with pytest.raises(E.InvalidToken):
            client_for(installed.member_id).call("user.current")
        with pytest.raises(E.PortalNotReady):
            client_for(installed.member_id).call("user.current")
    assert portal_row(live_app, installed.member_id).status == "needs_reinstall"
    assert p.status == "active"
