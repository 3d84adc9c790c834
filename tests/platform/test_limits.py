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


# ---- the operating budget's pacing, on an injected clock ------------------------------------------------

class _Clock:
    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t


class _NeverWaits:
    """A condition whose wait fails the test: the booking under test must go at once."""

    def __init__(self):
        import threading

        self._cond = threading.Condition()

    def __enter__(self):
        return self._cond.__enter__()

    def __exit__(self, *exc):
        return self._cond.__exit__(*exc)

    def notify_all(self):
        self._cond.notify_all()

    def wait(self, timeout=None):
        raise AssertionError("the booking waited")


def _learned(budget, clock) -> None:
    """One answer tells the method's cost: 0.02 s a call, so a 50-call batch books 1 s."""
    booking = budget.book("m1", "stat", 2, clock=clock)
    budget.settle("m1", "stat", booking, operating=0.0, reset_at=None, spent=0.04, calls=2, clock=clock)


def _answered(budget, clock, *, at: float, spent: float, operating: float, reset_at: float) -> None:
    clock.t = at
    booking = budget.book("m1", "stat", 50, clock=clock)
    budget.settle("m1", "stat", booking, operating=operating, reset_at=reset_at, spent=spent, calls=50,
                  clock=clock)


def test_a_booking_goes_at_the_basket_boundary_not_at_the_announced_reset():
    import pytest

    from b24app.bitrix.limits import OperatingBudget

    clock = _Clock(1001.3)
    budget = OperatingBudget(limit=5.0, window=20.0, _lock=_NeverWaits())
    _learned(budget, clock)
    # Five batches billed into the basket [1000, 1002); the portal announces the reset as its first
    # call plus the window in whole seconds (1001.3 + 20 -> 1021), but stops counting it at 1020.
    for i in range(5):
        _answered(budget, clock, at=1001.4, spent=1.0, operating=i + 1.0, reset_at=1021)
    clock.t = 1019.9
    with pytest.raises(AssertionError, match="waited"):
        budget.book("m1", "stat", 50, clock=clock)
    clock.t = 1020.0
    assert budget.book("m1", "stat", 50, clock=clock)[0] == pytest.approx(1.0)


def test_after_a_drop_the_next_one_is_guessed_at_the_next_basket_boundary():
    import pytest

    from b24app.bitrix.limits import OperatingBudget

    clock = _Clock(1000.5)
    budget = OperatingBudget(limit=5.0, window=20.0, _lock=_NeverWaits())
    _learned(budget, clock)
    _answered(budget, clock, at=1000.5, spent=1.0, operating=1.0, reset_at=1020)  # basket [1000, 1002)
    for i in range(4):
        _answered(budget, clock, at=1002.5, spent=1.0, operating=i + 2.0, reset_at=1020)  # [1002, 1004)
    clock.t = 1020.0  # the first basket drops: 4 s left, room for one more batch
    budget.book("m1", "stat", 50, clock=clock)
    # No answer has told when the second basket drops: it is the boundary after the bill's
    # basket (1022), not the bill's own time plus the window (1022.5).
    clock.t = 1021.9
    with pytest.raises(AssertionError, match="waited"):
        budget.book("m1", "stat", 50, clock=clock)
    clock.t = 1022.0
    assert budget.book("m1", "stat", 50, clock=clock)[0] == pytest.approx(1.0)


def test_the_cheapest_waiting_booking_goes_first_so_a_short_tail_is_not_left_for_the_next_window():
    # A thread's wake-up order is the scheduler's: repeat so that, without the ordering, the full
    # batch would come first in some round and leave the tail outside.
    for _ in range(20):
        assert _tail_round() == ["tail", "full"]


def _tail_round() -> list[str]:
    import threading

    from b24app.bitrix.limits import OperatingBudget

    clock = _Clock(1000.5)
    lock = _CountsWaiters()
    budget = OperatingBudget(limit=5.0, window=20.0, _lock=lock)
    _learned(budget, clock)
    _answered(budget, clock, at=1000.5, spent=1.0, operating=1.0, reset_at=1020)  # drops at 1020
    for i in range(3):
        _answered(budget, clock, at=1002.5, spent=1.0, operating=i + 2.0, reset_at=1020)  # at 1022
    budget.book("m1", "stat", 50, clock=clock)  # in flight: 4 s billed + 1 s booked, no room
    order: list[str] = []

    def book(name: str, calls: int) -> None:
        budget.book("m1", "stat", calls, clock=clock)
        order.append(name)

    full = threading.Thread(target=book, args=("full", 50), daemon=True)
    tail = threading.Thread(target=book, args=("tail", 21), daemon=True)
    full.start()
    _until(lambda: lock.waiting == 1)
    tail.start()
    _until(lambda: lock.waiting == 2)
    # The first basket drops: 3 s billed + 1 s in flight. The portal checks only that the sum is
    # under the limit before a call, so the tail (0.42 s) and then the full batch (1 s) may both
    # start; the full batch first would leave 5 s and no room for the tail.
    clock.t = 1020.1
    with lock:
        lock.notify_all()
    full.join(5)
    tail.join(5)
    return order


class _CountsWaiters:
    """A real condition that counts the threads inside wait(), so the test knows both are waiting."""

    def __init__(self):
        import threading

        self._cond = threading.Condition()
        self.waiting = 0

    def __enter__(self):
        return self._cond.__enter__()

    def __exit__(self, *exc):
        return self._cond.__exit__(*exc)

    def notify_all(self):
        self._cond.notify_all()

    def wait(self, timeout=None):
        self.waiting += 1
        try:
            return self._cond.wait(timeout)
        finally:
            self.waiting -= 1


def _until(condition) -> None:
    import time

    for _ in range(2000):
        if condition():
            return
        time.sleep(0.001)
    raise AssertionError("never happened")
