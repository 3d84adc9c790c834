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


def test_redis_bucket_is_shared_between_instances_like_processes():
    import os

    import pytest

    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.skip("TEST_REDIS_URL not set (scripts/test.sh starts Redis)")
    import redis

    from b24app.bitrix.limits import RedisBucket

    r = redis.Redis.from_url(url)
    r.delete("b24:bucket:m1", "b24:bucket:m2")
    a, b = RedisBucket(r, 2.0, 10), RedisBucket(redis.Redis.from_url(url), 2.0, 10)
    waits = [(a if i % 2 else b).reserve("m1", 1000.0) - 1000.0 for i in range(14)]
    assert all(w <= 0 for w in waits[:10])
    assert [round(w, 3) for w in waits[10:]] == [0.5, 1.0, 1.5, 2.0]
    assert a.reserve("m2", 1000.0) - 1000.0 <= 0


def test_network_errors_are_retried_then_raised():
    import socket

    import pytest

    from b24app.bitrix import errors as E
    from b24app.bitrix.client import BitrixClient
    from b24app.bitrix.limits import OperatingBudget
    from b24app.bitrix.tokens import Credentials
    from b24app.portals.store import InlineTokenStore

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    creds = Credentials("m1", f"http://127.0.0.1:{port}/rest/", "", "tok", "", 0)
    client = BitrixClient("m1", InlineTokenStore(creds), MemoryBucket(100.0, 100), OperatingBudget(),
                          client_id="", client_secret="", max_attempts=3, backoff_base=0.01, backoff_cap=0.02)
    with pytest.raises(E.NetworkError):
        client.call("profile")
    assert client.stats["requests"] == 4 and client.stats["retries"] == 3
