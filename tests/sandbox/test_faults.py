"""Fault switches and admin knobs: random 503s, latency, token expiry now, settings, reset."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import requests

from .helpers import admin, call, error_of, hook, settings, stats, tokens


def test_a_503_storm_answers_like_the_bucket(sandbox):
    settings(sandbox, fail_503_share=1.0)
    r = hook(sandbox, "profile")
    assert r.status_code == 503
    assert r.json() == {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}
    settings(sandbox, fail_503_share=0.3)
    codes = [hook(sandbox, "profile").status_code for _ in range(60)]
    assert 5 <= codes.count(503) <= 35 and codes.count(200) + codes.count(503) == 60
    got = stats(sandbox)
    assert got["http_503_fault"] == got["http_503"] == codes.count(503) + 1


def test_latency_is_added_without_serialising_requests(sandbox):
    settings(sandbox, latency=0.4)
    started = time.time()
    with ThreadPoolExecutor(10) as pool:
        codes = list(pool.map(lambda _: hook(sandbox, "user.current").status_code, range(10)))
    elapsed = time.time() - started
    assert codes == [200] * 10 and 0.4 <= elapsed < 1.5
    assert stats(sandbox)["max_in_flight"] >= 5


def test_call_cost_sleeps_without_blocking_other_requests(sandbox):
    settings(sandbox, call_cost=0.5, operating_limit=1000.0)
    started = time.time()
    with ThreadPoolExecutor(10) as pool:
        bodies = list(pool.map(lambda _: hook(sandbox, "voximplant.statistic.get").json(), range(10)))
    assert time.time() - started < 2.0
    assert all(b["time"]["processing"] >= 0.5 for b in bodies)


def test_expire_tokens_now(sandbox):
    token = tokens(sandbox)["access_token"]
    assert admin(sandbox, "expire-tokens")["expired"] == 1
    assert error_of(call(sandbox, "profile", token)) == (401, "expired_token")
    assert call(sandbox, "profile", tokens(sandbox)["access_token"]).status_code == 200  # new ones are fine


def test_settings_are_read_and_validated(sandbox):
    url = f"{sandbox.url}/_sandbox/settings"
    current = requests.get(url, timeout=10).json()
    assert current["member_id"] == sandbox.member_id and current["rate"] == 1000.0
    assert requests.post(url, json={"nope": 1}, timeout=10).status_code == 400
    assert requests.post(url, json={"rows": 10}, timeout=10).status_code == 400  # fixed while running
    assert requests.post(url, json={"fail_503_share": 2}, timeout=10).status_code == 400
    assert requests.post(url, json={"key_rule": "loose"}, timeout=10).status_code == 400
    changed = requests.post(url, json={"latency": "0.01", "rate_limit_enabled": "false"}, timeout=10).json()
    assert changed["latency"] == 0.01 and changed["rate_limit_enabled"] is False


def test_reset_clears_counters_bucket_and_baskets(make_sandbox):
    sandbox = make_sandbox(rate=0.01, burst=3, method_cost={"voximplant.statistic.get": 0.2}, operating_limit=0.1)
    assert [hook(sandbox, m).status_code for m in ("voximplant.statistic.get", "profile", "profile")] == [200] * 3
    assert hook(sandbox, "profile").status_code == 503
    before = stats(sandbox)
    assert before["http_503"] == 1 and before["operating"]
    admin(sandbox, "reset")
    after = stats(sandbox)
    assert after["http_requests"] == 0 and after["operating"] == {} and after["bucket_level"] < 0.1
    assert hook(sandbox, "voximplant.statistic.get").status_code == 200
