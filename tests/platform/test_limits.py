"""The shared leaky bucket: every process books slots from the same clock (no timing assertions)."""

from __future__ import annotations

from b24app.bitrix.limits import MemoryBucket, SqlBucket
from b24app.extensions import db


def _schedule(bucket, n: int, now: float = 1000.0) -> list[float]:
    return [bucket.reserve("m1", now) - now for _ in range(n)]


def test_memory_bucket_lets_the_burst_through_then_paces():
    waits = _schedule(MemoryBucket(rate=2.0, burst=10), 14)
    assert all(w <= 0 for w in waits[:10])
    assert [round(w, 3) for w in waits[10:]] == [0.5, 1.0, 1.5, 2.0]


def test_sql_bucket_is_shared_between_instances_like_processes(live_app):
    with live_app.ctx():
        a, b = SqlBucket(db.engine, 2.0, 10), SqlBucket(db.engine, 2.0, 10)
        waits = [(a if i % 2 else b).reserve("m1", 1000.0) - 1000.0 for i in range(14)]
        other = SqlBucket(db.engine, 2.0, 10).reserve("m2", 1000.0) - 1000.0
    assert all(w <= 0 for w in waits[:10])
    assert [round(w, 3) for w in waits[10:]] == [0.5, 1.0, 1.5, 2.0]
    assert other <= 0  # portals do not share a bucket
