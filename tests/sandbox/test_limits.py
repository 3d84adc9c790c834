"""The leaky bucket (503 QUERY_LIMIT_EXCEEDED) and the operating-time budget (429 OPERATION_TIME_LIMIT)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from .helpers import error_of, hook, settings, stats

STAT = "voximplant.statistic.get"


def test_bursting_past_the_bucket_is_503_and_refused_requests_do_not_add(make_sandbox):
    sandbox = make_sandbox(rate=0.5, burst=5)
    codes = [hook(sandbox, "user.admin").status_code for _ in range(8)]
    assert codes == [200] * 5 + [503] * 3
    r = hook(sandbox, "user.admin")
    assert r.json() == {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}
    time.sleep(2.1)  # one request drained
    assert [hook(sandbox, "user.admin").status_code for _ in range(2)] == [200, 503]
    got = stats(sandbox)
    assert got["http_503"] == 5 and got["bucket_level"] > 4


def test_a_batch_takes_one_slot(make_sandbox):
    sandbox = make_sandbox(rate=0.01, burst=2)
    assert hook(sandbox, "batch", {"cmd": {f"c{i}": "profile" for i in range(30)}}).status_code == 200
    assert hook(sandbox, "profile").status_code == 200
    assert hook(sandbox, "profile").status_code == 503


def test_the_bucket_can_be_switched_off(make_sandbox):
    sandbox = make_sandbox(rate=0.01, burst=1, rate_limit_enabled=False)
    assert {hook(sandbox, "profile").status_code for _ in range(5)} == {200}


def test_operating_budget_blocks_a_method_then_recovers_after_the_window(make_sandbox):
    sandbox = make_sandbox(call_cost=0.2, operating_limit=0.3, operating_window=2.0)
    first = hook(sandbox, STAT).json()["time"]
    assert 0.2 <= first["operating"] < 0.3 and first["processing"] >= 0.2
    second = hook(sandbox, STAT).json()["time"]
    assert second["operating"] >= 0.4  # accumulated, not this call's time (L13)
    blocked = hook(sandbox, STAT)
    assert blocked.status_code == 429
    assert blocked.json() == {"error": "OPERATION_TIME_LIMIT",
                              "error_description": "Method is blocked due to operation time limit."}
    assert hook(sandbox, "user.current").status_code == 200  # other methods keep working
    reset_at = second["operating_reset_at"]
    assert time.time() < reset_at <= time.time() + 2.5
    time.sleep(max(0.0, reset_at - time.time()) + 0.25)
    assert hook(sandbox, STAT).status_code == 200
    assert stats(sandbox)["http_429"] == 1


def test_inside_a_batch_a_blocked_method_is_that_commands_error(make_sandbox):
    sandbox = make_sandbox(call_cost=0.15, operating_limit=0.2, operating_window=60.0)
    res = hook(sandbox, "batch", {"cmd": {f"s{i}": f"{STAT}?start=-1" for i in range(3)} | {"u": "profile"}}
               ).json()["result"]
    # Billing lands when the request ends, so one batch can overshoot the limit …
    assert set(res["result"]) == {"s0", "s1", "s2", "u"}
    assert res["result_time"]["s2"]["operating"] >= 0.45
    # … and the next one finds the method blocked, command by command.
    res = hook(sandbox, "batch", {"cmd": {"s": f"{STAT}?start=-1", "u": "profile"}}).json()["result"]
    assert res["result_error"] == {"s": {"error": "OPERATION_TIME_LIMIT",
                                         "error_description": "Method is blocked due to operation time limit."}}
    assert "u" in res["result"]
    got = stats(sandbox)
    assert got["sub_429"] == 1 and not any(k.endswith("|batch") for k in got["operating"])


def test_parallel_requests_overshoot_together(make_sandbox):
    sandbox = make_sandbox(call_cost=0.3, operating_limit=0.5, operating_window=60.0)
    with ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(lambda _: hook(sandbox, STAT).status_code, range(4)))
    assert codes == [200] * 4  # none saw the others' time: it is committed when each request ends
    assert error_of(hook(sandbox, STAT)) == (429, "OPERATION_TIME_LIMIT")
    used = next(v["used"] for k, v in stats(sandbox)["operating"].items() if k.endswith(STAT))
    assert used >= 1.2


def test_time_below_the_minimum_is_not_billed(make_sandbox):
    sandbox = make_sandbox(call_cost=0.05, operating_limit=0.01)
    for _ in range(3):
        assert hook(sandbox, STAT).json()["time"]["operating"] == 0
    settings(sandbox, operating_min_fix=0.0)
    hook(sandbox, STAT)
    assert error_of(hook(sandbox, STAT)) == (429, "OPERATION_TIME_LIMIT")


def test_per_method_cost_and_the_batch_billing_switch(make_sandbox):
    sandbox = make_sandbox(method_cost={"profile": 0.12}, operating_limit=100.0, billing_key="batch")
    hook(sandbox, "batch", {"cmd": {"a": "profile", "b": "profile"}})
    operating = stats(sandbox)["operating"]
    assert list(operating) == ["webhook:1:sandboxhook|batch"] and operating["webhook:1:sandboxhook|batch"]["used"] >= 0.24


def test_a_request_is_billed_into_the_basket_of_its_first_call():
    from b24app.sandbox.limits import OperatingBudget

    budget, key = OperatingBudget(), ("app:x", STAT)
    # Started at the end of basket [1000, 1002), ended in the next: core keeps the basket number it
    # read at the first call, so the time counts until 1020, not 1022.
    budget.commit({key: 1.05}, 1001.9, {key: 1001.9}, 1002.95, 20.0, 0.1)
    assert budget.used(key, 1019.99, 20.0) == 1.05
    assert budget.used(key, 1020.0, 20.0) == 0


def test_the_reset_is_announced_as_the_baskets_first_call_plus_the_window():
    from b24app.sandbox.limits import OperatingBudget

    budget, key = OperatingBudget(), ("app:x", STAT)
    # Nothing stored yet: this request's first call plus the window, in whole seconds (rounded up).
    assert budget.reset_at(key, 1001.5, 20.0, 1001.3) == 1022
    budget.commit({key: 1.0}, 1001.3, {key: 1001.3}, 1002.4, 20.0, 0.1)
    budget.commit({key: 1.0}, 1001.6, {key: 1001.6}, 1002.7, 20.0, 0.1)
    # The basket's first call decides it, though the check stops counting the basket at 1020.
    assert budget.reset_at(key, 1003.0, 20.0, 1003.0) == 1022
    assert budget.used(key, 1020.0, 20.0) == 0
    assert budget.reset_at(key, 1020.0, 20.0, 1020.0) == 1040
