"""Client-side mirrors of the portal's limits: the request leaky bucket and per-method operating time.

The bucket is shared by every process that talks to a portal (the portal counts per portal and
source IP), so its state lives in the database or Redis; `MemoryBucket` is for one process only.
All buckets use GCRA: a "theoretical arrival time" per portal, advanced by 1/rate per request;
a request may go once that time is within `burst` intervals of now.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol


class Bucket(Protocol):
    rate: float
    burst: int

    def reserve(self, member_id: str, now: float) -> float:
        """Book one request slot; return the unix time at which it may be sent."""


def _send_at(tat: float, rate: float, burst: int) -> float:
    return tat - burst / rate


class MemoryBucket:
    def __init__(self, rate: float, burst: int):
        self.rate, self.burst = rate, burst
        self._tat: dict[str, float] = {}
        self._lock = threading.Lock()

    def reserve(self, member_id: str, now: float) -> float:
        with self._lock:
            tat = max(self._tat.get(member_id, 0.0), now) + 1.0 / self.rate
            self._tat[member_id] = tat
        return _send_at(tat, self.rate, self.burst)


class SqlBucket:
    """One atomic upsert per request; works on SQLite (3.35+) and PostgreSQL."""

    def __init__(self, engine, rate: float, burst: int):
        from sqlalchemy import text

        self.engine, self.rate, self.burst = engine, rate, burst
        greatest = "MAX" if engine.dialect.name == "sqlite" else "GREATEST"
        self._sql = text(
            "INSERT INTO rest_rate_state (member_id, tat) VALUES (:m, :now + :step) "
            "ON CONFLICT (member_id) DO UPDATE SET "
            f"tat = {greatest}(rest_rate_state.tat, :now) + :step RETURNING tat"
        )

    def reserve(self, member_id: str, now: float) -> float:
        with self.engine.begin() as conn:
            tat = conn.execute(self._sql, {"m": member_id, "now": now, "step": 1.0 / self.rate}).scalar_one()
        return _send_at(float(tat), self.rate, self.burst)


class RedisBucket:
    _LUA = """
    local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
    local now = tonumber(ARGV[1])
    if tat < now then tat = now end
    tat = tat + tonumber(ARGV[2])
    redis.call('SET', KEYS[1], tostring(tat), 'EX', 3600)
    return tostring(tat)
    """

    def __init__(self, redis_client, rate: float, burst: int):
        self.redis, self.rate, self.burst = redis_client, rate, burst
        self._script = redis_client.register_script(self._LUA)

    def reserve(self, member_id: str, now: float) -> float:
        tat = float(self._script(keys=[f"b24:bucket:{member_id}"], args=[now, 1.0 / self.rate]))
        return _send_at(tat, self.rate, self.burst)


def wait_for_slot(bucket: Bucket, member_id: str, clock=time.time, sleep=time.sleep) -> float:
    """Reserve a slot and sleep until it comes; returns the seconds waited."""
    now = clock()
    delay = bucket.reserve(member_id, now) - now
    if delay > 0:
        sleep(delay)
        return delay
    return 0.0


@dataclass
class _MethodBudget:
    reported: float = 0.0        # the largest `time.operating` the portal reported since the last drop
    reset_at: float = 0.0        # when the oldest basket drops off (0 = unknown)
    last_drop: float = 0.0       # when we last saw a basket drop (answers to older requests are stale)
    own: deque = field(default_factory=deque)  # (time, seconds) this process was billed, oldest first
    in_flight: float = 0.0       # seconds booked by requests not yet answered
    inflight_n: int = 0          # requests not yet answered
    cost_per_call: float = 0.0   # learned server time of one call of this method
    learned: bool = False        # at least one answer told the cost
    blocked_until: float = 0.0   # set after a 429
    waiting: dict = field(default_factory=dict)  # ticket -> calls, for bookings waiting to go

    def used(self) -> float:
        # Parallel requests are billed when they end, so one answer's `operating` may miss the
        # others' time: our own bill is the floor, the portal's figure adds other processes.
        return max(self.reported, sum(s for _, s in self.own))


@dataclass
class OperatingBudget:
    """Paces calls of one method so its summed server time stays under the portal's limit.

    The portal sums server time per method in ten baskets over a sliding window and answers 429
    once the sum passes the limit; `time.operating` tells how much is used and
    `operating_reset_at` when the oldest basket drops off. Each request books its expected cost
    before it is sent; a booking that would cross the limit waits for answers in flight or for
    the oldest basket to drop.
    """

    limit: float = 480.0
    window: float = 600.0
    headroom: float = 1.0
    min_fix: float = 0.1   # the portal stores a request's time only above this (core minimalFixTime)
    _methods: dict[tuple[str, str], _MethodBudget] = field(default_factory=dict)
    _lock: threading.Condition = field(default_factory=threading.Condition)
    _tickets: itertools.count = field(default_factory=itertools.count)

    def _drop(self, b: _MethodBudget, now: float) -> None:
        """The oldest basket has dropped: forget what was billed in it."""
        cutoff = b.reset_at - self.window + self.window / 10
        while b.own and b.own[0][0] < cutoff:
            b.own.popleft()
        b.reported, b.last_drop = 0.0, now
        # Until an answer says otherwise, the next drop is when our oldest remaining bill ages out.
        # Bills are recorded when their answer is read, never before the portal stored them, so
        # the basket that time falls in is theirs or a later one: never a drop too early.
        b.reset_at = self._boundary_after(b.own[0][0]) if b.own else 0.0

    def _boundary_after(self, billed_at: float) -> float:
        """When the basket holding time billed at `billed_at` drops: baskets are wall-clock slices of
        window/10 (core: intdiv(time(), 60)), and the check stops counting one at its boundary."""
        width = self.window / 10
        return math.floor(billed_at / width) * width + self.window

    def _basket_drop(self, reset_at: float) -> float:
        """When the basket behind an announced `operating_reset_at` really drops.

        The portal announces a drop as window seconds after the first call billed into the oldest
        basket (core: firstTime + 600, in whole seconds), while its check stops counting the basket
        at the basket's boundary: taken as it stands, the announcement is up to one basket late, a
        tenth of the window spent idle. The first call is within a second of `reset_at - window`,
        and with baskets a whole number of seconds wide (the portal's are 60 s) the boundary after
        that second's basket is the drop, or, if the announcement was rounded up, one basket
        later - never earlier. Narrower baskets (a compressed test window) hide which basket the
        second belonged to, so the announcement is taken as it stands."""
        width = self.window / 10
        if width < 1 or width != int(width):
            return reset_at
        return min(reset_at, self._boundary_after(reset_at - self.window))

    def book(self, member_id: str, method: str, calls: int, clock=time.time) -> tuple[float, float]:
        """Block until `calls` calls of `method` fit; return (booked seconds, booking time)."""
        key = (member_id, method)
        with self._lock:
            ticket = next(self._tickets)
            b = self._methods.setdefault(key, _MethodBudget())
            b.waiting[ticket] = calls
            try:
                while True:
                    now = clock()
                    if b.blocked_until > now:
                        self._lock.wait(timeout=b.blocked_until - now)
                        continue
                    if b.reset_at and now >= b.reset_at:
                        self._drop(b, now)
                    if not b.learned and b.inflight_n:
                        # Until one answer tells the cost, requests of the method go one at a time.
                        self._lock.wait(timeout=1.0)
                        continue
                    # The portal checks before each call whether the stored sum already exceeds the
                    # limit, and stores a request's time when it ends: a request may start while what
                    # is billed and in flight is still under the limit, and then never meets a 429.
                    room = b.used() + b.in_flight < self.limit * self.headroom or \
                        (b.inflight_n == 0 and not b.reset_at)
                    # That test does not depend on the request's own cost, so when several wait the
                    # cheapest goes first: it leaves the most room under the limit for the others, and
                    # a short tail (an export's last, partial batch) is never the one left outside a
                    # window to wait a whole window behind full batches that filled it.
                    first = min(b.waiting, key=lambda t: (b.waiting[t], t)) == ticket
                    if room and first:
                        cost = calls * b.cost_per_call
                        b.in_flight += cost
                        b.inflight_n += 1
                        return cost, now
                    if not room and b.inflight_n:
                        self._lock.wait(timeout=1.0)
                    elif not room:
                        self._lock.wait(timeout=max(0.01, b.reset_at - now))
                    else:
                        self._lock.notify_all()  # the cheaper one may sleep through a basket drop
                        self._lock.wait(timeout=0.05)
            finally:
                del b.waiting[ticket]
                self._lock.notify_all()

    def settle(self, member_id: str, method: str, booking: tuple[float, float], *, operating: float | None,
               reset_at: float | None, spent: float, calls: int, clock=time.time) -> None:
        """Record what an answer said: the method's billed time and this request's cost."""
        booked, sent_at = booking
        with self._lock:
            b = self._methods.setdefault((member_id, method), _MethodBudget())
            b.in_flight = max(0.0, b.in_flight - booked)
            b.inflight_n = max(0, b.inflight_n - 1)
            if calls:
                b.learned = True
            if calls and spent:
                per_call = spent / calls
                b.cost_per_call = per_call if b.cost_per_call == 0 else 0.7 * b.cost_per_call + 0.3 * per_call
            if spent > self.min_fix:
                b.own.append((clock(), spent))
            if operating is not None and sent_at >= b.last_drop:
                b.reported = max(b.reported, operating)
                # With nothing billed the portal reports now + window, which is no basket's drop.
                if reset_at and (operating > 0 or b.own):
                    reset = self._basket_drop(float(reset_at))
                    # The earliest announced drop is the oldest basket's; an empty window reports now+window.
                    b.reset_at = reset if not b.reset_at else min(b.reset_at, reset)
            self._lock.notify_all()

    def blocked(self, member_id: str, method: str, reset_at: float | None, clock=time.time) -> None:
        """A 429 came back: nobody calls the method again before the reset."""
        with self._lock:
            b = self._methods.setdefault((member_id, method), _MethodBudget())
            now = clock()
            reset = self._basket_drop(float(reset_at)) if reset_at else 0.0
            until = reset if reset > now else now + self.window / 10
            b.blocked_until = max(b.blocked_until, until)
            b.reported = max(b.reported, self.limit)
            b.reset_at = b.blocked_until
            self._lock.notify_all()
