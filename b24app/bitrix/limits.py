"""Client-side mirrors of the portal's limits: the request leaky bucket and per-method operating time.

The bucket is shared by every process that talks to a portal (the portal counts per portal and
source IP), so its state lives in the database or Redis; `MemoryBucket` is for one process only.
All buckets use GCRA: a "theoretical arrival time" per portal, advanced by 1/rate per request;
a request may go once that time is within `burst` intervals of now.
"""

from __future__ import annotations

import threading
import time
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
    used: float = 0.0            # server seconds the portal reports billed in its window
    reset_at: float = 0.0        # when the oldest basket drops off (0 = unknown)
    in_flight: float = 0.0       # seconds booked by requests not yet answered
    cost_per_call: float = 0.0   # learned server time of one call of this method
    blocked_until: float = 0.0   # set after a 429


@dataclass
class OperatingBudget:
    """Paces calls of one method so its summed server time stays under the portal's limit.

    The portal sums server time per method over a sliding window and answers 429 once the sum
    passes the limit; `time.operating` in each response tells how much is used (this request
    included) and `operating_reset_at` when the oldest basket drops off. Each request books its
    expected cost before it is sent; a booking that would cross the limit waits for answers in
    flight or for the reset. After a reset the drop is unknown, so the next answer re-teaches it.
    """

    limit: float = 480.0
    window: float = 600.0
    headroom: float = 0.98
    _methods: dict[tuple[str, str], _MethodBudget] = field(default_factory=dict)
    _lock: threading.Condition = field(default_factory=threading.Condition)

    def book(self, member_id: str, method: str, calls: int, clock=time.time) -> float:
        """Block until `calls` calls of `method` fit; return the booked seconds."""
        key = (member_id, method)
        with self._lock:
            while True:
                b = self._methods.setdefault(key, _MethodBudget())
                now = clock()
                if b.blocked_until > now:
                    self._lock.wait(timeout=b.blocked_until - now)
                    continue
                if b.reset_at and now >= b.reset_at:
                    b.used, b.reset_at = 0.0, 0.0
                cost = calls * b.cost_per_call
                fits = b.used + b.in_flight + cost <= self.limit * self.headroom
                if fits or (b.in_flight == 0.0 and not b.reset_at):
                    b.in_flight += cost
                    return cost
                if b.in_flight > 0:
                    self._lock.wait(timeout=1.0)
                else:
                    self._lock.wait(timeout=max(0.01, b.reset_at - now))

    def settle(self, member_id: str, method: str, booked: float, *, operating: float | None,
               reset_at: float | None, spent: float, calls: int) -> None:
        """Record what an answer said: the method's billed time and this request's cost."""
        with self._lock:
            b = self._methods.setdefault((member_id, method), _MethodBudget())
            b.in_flight = max(0.0, b.in_flight - booked)
            if calls and spent:
                per_call = spent / calls
                b.cost_per_call = per_call if b.cost_per_call == 0 else 0.7 * b.cost_per_call + 0.3 * per_call
            if operating is not None:
                reset = float(reset_at or 0)
                # Answers arrive out of order: an older one may report less; a later reset starts afresh.
                b.used = operating if (not b.reset_at or reset > b.reset_at + 0.5) else max(b.used, operating)
                if reset:
                    b.reset_at = reset
            else:
                b.used += spent
            self._lock.notify_all()

    def blocked(self, member_id: str, method: str, reset_at: float | None, clock=time.time) -> None:
        """A 429 came back: nobody calls the method again before the reset."""
        with self._lock:
            b = self._methods.setdefault((member_id, method), _MethodBudget())
            now = clock()
            until = float(reset_at) if reset_at and float(reset_at) > now else now + self.window / 10
            b.blocked_until = max(b.blocked_until, until)
            b.used = max(b.used, self.limit)
            b.reset_at = b.blocked_until
            self._lock.notify_all()
