"""batch: sequential sub-calls with their own auth and billing, `$result` references, per-command
errors, the 50-command cap, and one request for the bucket."""

from __future__ import annotations

from urllib.parse import quote, urlencode

import requests

from .helpers import call, hook, stats, tokens

STAT = "voximplant.statistic.get"


def _q(**params) -> str:
    return urlencode(params)


def test_batch_shape_with_results_totals_next_and_times(sandbox):
    body = hook(sandbox, "batch", {"halt": 0, "cmd": {
        "me": "user.current",
        "deps": "department.get",
        "page": f"{STAT}?{_q(start=0, SORT='ID', ORDER='ASC')}",
    }}).json()
    assert set(body) == {"result", "time"}
    res = body["result"]
    assert list(res) == ["result", "result_error", "result_total", "result_next", "result_time"]
    assert res["result"]["me"]["ID"] == "1" and len(res["result"]["page"]) == 50
    assert res["result_error"] == []  # empty sections are PHP empty arrays (fixture batch.response)
    assert res["result_total"] == {"deps": 4, "page": 500}
    assert res["result_next"] == {"page": 50}
    assert set(res["result_time"]) == {"me", "deps", "page"}
    assert {"operating", "operating_reset_at", "processing"} <= set(res["result_time"]["page"])
    assert "operating" not in body["time"]  # the batch itself is not billed


def test_result_references_chain_pages_plain_and_percent_encoded(sandbox):
    first = f"{STAT}?{_q(start=-1, SORT='ID', ORDER='ASC')}"
    plain = f"{STAT}?start=-1&SORT=ID&ORDER=ASC&FILTER%5B%3EID%5D=$result[a][49][ID]"
    encoded = f"{STAT}?start=-1&SORT=ID&ORDER=ASC&FILTER%5B%3EID%5D=" + quote("$result[b][49][ID]", safe="")
    res = hook(sandbox, "batch", {"cmd": {"a": first, "b": plain, "c": encoded}}).json()["result"]
    ids = [int(r["ID"]) for key in "abc" for r in res["result"][key]]
    assert len(ids) == 150 and ids == sorted(ids) and len(set(ids)) == 150
    assert res["result_total"] == {"a": 0, "b": 0, "c": 0}  # start=-1: no COUNT
    assert res["result_next"] == []


def test_reference_in_text_and_to_a_whole_list(sandbox):
    res = hook(sandbox, "batch", {"cmd": {
        "u": "user.get?" + _q(**{"FILTER[UF_DEPARTMENT]": 2}),
        "one": "user.get?ID=$result[u][1][ID]",
        "many": "user.get?FILTER[ID]=$result[u][0][UF_DEPARTMENT]",
    }}).json()["result"]
    assert [u["ID"] for u in res["result"]["one"]] == ["3"]
    assert [u["ID"] for u in res["result"]["many"]] == ["2"]


def test_each_command_fails_on_its_own(sandbox):
    res = hook(sandbox, "batch", {"cmd": {
        "ok": "profile", "missing": "no.such.method", "nested": "batch?cmd[x]=profile",
        "denied": "placement.get", "after": "user.admin"}}).json()["result"]
    assert set(res["result"]) == {"ok", "after"}
    assert res["result_error"] == {
        "missing": {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"},
        "nested": {"error": "ERROR_BATCH_METHOD_NOT_ALLOWED", "error_description": "Method is not allowed for batch usage"},
        "denied": {"error": "WRONG_AUTH_TYPE",
                   "error_description": "Current authorization type is denied for this method Application context required"},
    }


def test_halt_stops_at_the_first_error(sandbox):
    res = hook(sandbox, "batch", {"halt": 1, "cmd": ["profile", "no.such", "user.admin"]}).json()["result"]
    assert res["result"] == [res["result"][0]] and res["result"][0]["ID"] == "1"
    assert list(res["result_error"]) == ["1"]


def test_a_command_list_answers_as_a_list(sandbox):
    res = hook(sandbox, "batch", {"cmd": ["user.admin", "profile"]}).json()["result"]
    assert isinstance(res["result"], list) and res["result"][0] is True


def test_more_than_fifty_commands_fail_one_by_one(sandbox):
    cmd = {f"c{i}": "user.admin" for i in range(53)}
    r = hook(sandbox, "batch", {"cmd": cmd})
    assert r.status_code == 200
    res = r.json()["result"]
    assert len(res["result"]) == 50
    assert res["result_error"] == {f"c{i}": {"error": "ERROR_BATCH_LENGTH_EXCEEDED",
                                            "error_description": "Max batch length exceeded"} for i in (50, 51, 52)}


def test_the_token_is_checked_once_and_each_command_checks_its_scope(make_sandbox):
    sandbox = make_sandbox(app_scope="crm,placement")
    token = tokens(sandbox)["access_token"]
    res = call(sandbox, "batch", token, {"cmd": {
        "me": "profile", "forged": "profile?auth=forged", "calls": "voximplant.statistic.get"}}).json()["result"]
    # an item's own `auth` is dropped (core CRestServerBatchItem): it runs as the batch's user
    assert res["result"]["me"]["ID"] == res["result"]["forged"]["ID"] == "1"
    assert res["result_error"] == {"calls": {
        "error": "insufficient_scope",
        "error_description": "The request requires higher privileges than provided by the access token"}}
    assert call(sandbox, "batch", "forged", {"cmd": {"a": "profile"}}).status_code == 401


def test_a_form_encoded_batch_with_doubly_encoded_commands(sandbox):
    token = tokens(sandbox)["access_token"]
    inner = f"{STAT}?" + _q(**{"FILTER[>=ID]": 10, "FILTER[<ID]": 20, "start": -1})
    r = requests.post(f"{sandbox.client_endpoint}batch.json", data=_q(**{"auth": token, "cmd[w]": inner}),
                      headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=10)
    rows = r.json()["result"]["result"]["w"]
    assert rows and all(10 <= int(x["ID"]) < 20 for x in rows)


def test_a_batch_is_one_request_for_the_bucket_and_sub_calls_are_counted(sandbox):
    before = stats(sandbox)
    hook(sandbox, "batch", {"cmd": {f"p{i}": "profile" for i in range(20)}})
    after = stats(sandbox)
    assert after["http_requests"] - before["http_requests"] == 1
    assert after["rest_calls"]["profile"] - before["rest_calls"].get("profile", 0) == 20
