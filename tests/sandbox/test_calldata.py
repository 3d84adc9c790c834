"""The generated call history: deterministic from the seed, realistic mixes, indexes that agree."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

from b24app.sandbox.calldata import Operator, generate_rows
from b24app.sandbox.callstore import CallStore, Query

TZ = timezone(timedelta(hours=3))
OPS = [Operator(2, 180, 1.0), Operator(3, 180, 1.2), Operator(7, 420, 1.3)]
UNTIL = 1_795_000_000.0


def test_same_seed_same_rows_other_seed_other_rows():
    a = [r[-1].json for r in generate_rows(300, OPS, UNTIL, 90, 1, TZ)]
    assert a == [r[-1].json for r in generate_rows(300, OPS, UNTIL, 90, 1, TZ)]
    assert a != [r[-1].json for r in generate_rows(300, OPS, UNTIL, 90, 2, TZ)]


def test_mixes_are_realistic():
    rows = [r[-1].data for r in generate_rows(5000, OPS, UNTIL, 90, 7, TZ)]
    types = Counter(r["CALL_TYPE"] for r in rows)
    assert 0.40 < types["1"] / 5000 < 0.50 and 0.40 < types["2"] / 5000 < 0.50 and types["3"] and types["4"]
    missed = [r for r in rows if r["CALL_FAILED_CODE"] == "304"]
    assert 0.05 < len(missed) / 5000 < 0.11 and {r["CALL_TYPE"] for r in missed} <= {"2", "3"}
    assert Counter(r["CALL_FAILED_CODE"] for r in rows).most_common(1)[0][0] == "200"
    answered = sorted(int(r["CALL_DURATION"]) for r in rows if r["CALL_FAILED_CODE"] == "200")
    assert 30 < answered[len(answered) // 2] < 150 and answered[-1] <= 3600
    assert all(r["CALL_DURATION"] == "0" for r in missed)
    ids = [int(r["ID"]) for r in rows]
    assert 0.01 < (ids[-1] - len(ids)) / len(ids) < 0.05  # about 2 % of IDs missing


def test_hash_order_pages_partition_the_table():
    store = CallStore(TZ, 3)
    store.replace(generate_rows(400, OPS, UNTIL, 90, 3, TZ))
    pages = [store.query(Query(offset=o)).rows for o in range(0, 400, 50)]
    ids = [r[0] for page in pages for r in page]
    assert sorted(ids) == store.ids() and ids != sorted(ids)


def test_runtime_rows_keep_every_index_in_step():
    store = CallStore(TZ, 3)
    store.replace(generate_rows(100, OPS, UNTIL, 90, 3, TZ))
    row = store.add({"CALL_START_DATE": "2026-11-20T10:00:00+03:00", "PORTAL_USER_ID": "2"})
    new_id = int(row["ID"])
    assert store.get(new_id)["PORTAL_USER_ID"] == "2" and len(store) == 101
    start = datetime.fromisoformat("2026-11-20T10:00:00+03:00").timestamp()
    by_date = store.query(Query(date_range=(start, start), predicate=lambda r: True))
    assert [r[0] for r in by_date.rows] == [new_id]
