"""voximplant.statistic.get: paging with and without COUNT, keyset by `>ID`, the default non-ID order,
key case, filter operators, visibility, and rows written at runtime."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
import requests

from b24app.sandbox.calldata import FIELDS

from .helpers import admin, call, hook, tokens

STAT = "voximplant.statistic.get"


def stat(sandbox, **params) -> dict:
    r = hook(sandbox, STAT, params)
    assert r.status_code == 200, r.text
    return r.json()


def all_rows(sandbox) -> list[dict]:
    rows, start = [], 0
    while start is not None:
        page = stat(sandbox, SORT="ID", ORDER="ASC", start=start)
        rows += page["result"]
        start = page.get("next")
    return rows


def test_offset_pages_count_and_cover_every_row_once(sandbox):
    rows = all_rows(sandbox)
    ids = [int(r["ID"]) for r in rows]
    assert len(ids) == 500 and ids == sorted(set(ids))


def test_start_minus_one_skips_count_and_ignores_the_offset(sandbox):
    a = stat(sandbox, start=-1, SORT="ID", ORDER="ASC")
    assert a["total"] == 0 and "next" not in a and len(a["result"]) == 50
    assert stat(sandbox, start=-1, SORT="ID", ORDER="DESC")["result"][0]["ID"] == all_rows(sandbox)[-1]["ID"]


def test_keyset_by_id_returns_every_row_once(sandbox):
    seen, last = [], 0
    while True:
        page = stat(sandbox, start=-1, SORT="ID", ORDER="ASC", FILTER={">ID": last})["result"]
        seen += [int(r["ID"]) for r in page]
        if len(page) < 50:
            break
        last = int(page[-1]["ID"])
    assert len(seen) == 500 and seen == sorted(set(seen))


def test_without_sort_and_order_the_order_is_stable_but_not_by_id(sandbox):
    first = [int(r["ID"]) for r in stat(sandbox, start=0)["result"]]
    assert first != sorted(first)
    assert [int(r["ID"]) for r in stat(sandbox, start=0)["result"]] == first
    # SORT alone, a lower-case ORDER or a non-string ORDER give no ORDER BY either (core vi_rest.php)
    for params in ({"SORT": "ID"}, {"SORT": "ID", "ORDER": "asc"}, {"SORT": "ID", "ORDER": {"ID": "ASC"}}):
        assert [int(r["ID"]) for r in stat(sandbox, start=0, **params)["result"]] == first


def test_naive_keyset_without_order_skips_rows(sandbox):
    seen, last = set(), 0
    for _ in range(30):
        page = stat(sandbox, start=-1, filter={">ID": last})["result"]
        if not page:
            break
        seen |= {int(r["ID"]) for r in page}
        last = int(page[-1]["ID"])
    assert len(seen) < 500  # the trap: no ORDER BY, so the last row is not the highest ID


def test_later_filter_key_wins_and_strict_mode_ignores_lower_case(make_sandbox):
    sandbox = make_sandbox()
    body = {"FILTER": {"CALL_TYPE": 2}, "filter": {"<ID": 100}, "start": 0}
    got = hook(sandbox, STAT, body).json()
    assert got["total"] == len([r for r in all_rows(sandbox) if int(r["ID"]) < 100])
    strict = make_sandbox(key_rule="strict")
    assert hook(strict, STAT, body).json()["total"] == len([r for r in all_rows(strict) if r["CALL_TYPE"] == "2"])


@pytest.mark.parametrize("flt,check", [
    ({">=ID": 100, "<ID": 200}, lambda r: 100 <= int(r["ID"]) < 200),
    ({"><ID": [50, 60]}, lambda r: 50 <= int(r["ID"]) <= 60),
    ({"!><ID": [50, 450]}, lambda r: not 50 <= int(r["ID"]) <= 450),
    ({"ID": [5, 7, 9, 11]}, lambda r: int(r["ID"]) in (5, 7, 9, 11)),
    ({"=CALL_TYPE": [3, 4]}, lambda r: r["CALL_TYPE"] in ("3", "4")),
    ({"!CALL_TYPE": 1}, lambda r: r["CALL_TYPE"] != "1"),
    ({"CALL_FAILED_CODE": "304"}, lambda r: r["CALL_FAILED_CODE"] == "304"),
    ({">CALL_DURATION": 300}, lambda r: int(r["CALL_DURATION"]) > 300),
    ({"PORTAL_USER_ID": 6, "CALL_TYPE": 2}, lambda r: r["PORTAL_USER_ID"] == "6" and r["CALL_TYPE"] == "2"),
    ({"%PHONE_NUMBER": "7495"}, lambda r: "7495" in r["PHONE_NUMBER"]),
    ({"!%CALL_ID": "externalCall"}, lambda r: "externalCall" not in r["CALL_ID"]),
    ({"NO_SUCH_FIELD": 1, "<=ID": 20}, lambda r: int(r["ID"]) <= 20),  # unknown fields are dropped
    ({"0": {">ID": 10}, "1": {"<ID": 30}}, lambda r: 10 < int(r["ID"]) < 30),  # sub-filters are ANDed
])
def test_filter_operators(sandbox, flt, check):
    expected = [r["ID"] for r in all_rows(sandbox) if check(r)]
    got = stat(sandbox, FILTER=flt, SORT="ID", ORDER="ASC", start=0)
    ids = [r["ID"] for r in got["result"]]
    assert got["total"] == len(expected) and ids == expected[:50] and expected


def test_dates_compare_as_moments_whatever_the_offset(sandbox):
    rows = all_rows(sandbox)
    moments = sorted(datetime.fromisoformat(r["CALL_START_DATE"]) for r in rows)
    lo, hi = moments[100], moments[300]
    # the same moments written in another time zone select the same rows
    flt = {">=CALL_START_DATE": lo.astimezone().isoformat(), "<CALL_START_DATE": hi.isoformat()}
    expected = {r["ID"] for r in rows if lo <= datetime.fromisoformat(r["CALL_START_DATE"]) < hi}
    got = stat(sandbox, FILTER=flt, start=0)
    assert got["total"] == len(expected) == 200
    assert {datetime.fromisoformat(r["CALL_START_DATE"]).utcoffset() for r in rows} > {lo.utcoffset()}


def test_sort_by_start_date(sandbox):
    page = stat(sandbox, SORT="CALL_START_DATE", ORDER="DESC", start=0)["result"]
    moments = [datetime.fromisoformat(r["CALL_START_DATE"]) for r in page]
    assert moments == sorted(moments, reverse=True)


def test_rows_look_like_the_fixture(sandbox):
    rows = all_rows(sandbox)
    for r in rows:
        assert list(r) == list(FIELDS)
        assert all(isinstance(r[k], str) for k in ("ID", "PORTAL_USER_ID", "CALL_DURATION", "CALL_TYPE",
                                                   "CALL_FAILED_CODE", "CALL_START_DATE", "COST"))
        assert r["RECORD_FILE_ID"] is None or isinstance(r["RECORD_FILE_ID"], int)
        assert 600 <= len(json.dumps(r)) <= 1100
    assert {r["PORTAL_USER_ID"] for r in rows} <= {"2", "3", "4", "5", "6", "7", "9"}
    ids = [int(r["ID"]) for r in rows]
    assert any(b - a > 1 for a, b in zip(ids, ids[1:], strict=False))  # ID gaps: deleted rows (how many varies by day)
    starts = [datetime.fromisoformat(r["CALL_START_DATE"]) for r in rows]
    assert any(b < a for a, b in zip(starts, starts[1:], strict=False))  # not monotone in ID
    assert (starts[-1] - starts[0]).days >= 60


def test_a_non_admin_sees_only_own_calls(sandbox):
    token = tokens(sandbox, 6)["access_token"]
    got = call(sandbox, STAT, token, {"start": 0, "FILTER": {"PORTAL_USER_ID": 3}}).json()
    assert got["total"] == 0
    mine = call(sandbox, STAT, token, {"start": 0}).json()
    assert mine["total"] == len([r for r in all_rows(sandbox) if r["PORTAL_USER_ID"] == "6"])


def test_rows_written_at_runtime_show_up(sandbox):
    before = all_rows(sandbox)
    added = admin(sandbox, "calls", {"rows": [
        {"PORTAL_USER_ID": "3", "CALL_TYPE": "2", "CALL_DURATION": "42", "PHONE_NUMBER": "+79001234567",
         "CALL_START_DATE": "2026-11-20T10:00:00+03:00"}]})
    new_id = added["ids"][0]
    assert new_id == int(before[-1]["ID"]) + 1
    got = stat(sandbox, FILTER={"ID": new_id}, start=0)["result"]
    assert got[0]["CALL_DURATION"] == "42" and got[0]["CALL_FAILED_CODE"] == "200" and list(got[0]) == list(FIELDS)
    assert stat(sandbox, start=0)["total"] == 501
    dup = requests.post(f"{sandbox.url}/_sandbox/calls", json={"ID": new_id}, timeout=10)
    assert dup.status_code == 400
