"""The portal's two limits: the request leaky bucket (L4–L6) and the operating-time baskets (L9–L13).
Both only count; they never sleep, so their locks are held for microseconds."""

from __future__ import annotations

import math
import threading

BASKETS = 10  # a window is ten baskets (core: ten one-minute baskets in 600 s)


class LeakyBucket:
    """+1 per HTTP request, drains `rate`/s; a request that would go above `burst` is refused."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._level = 0.0
        self._at: float | None = None
        self.peak = 0.0

    def _drain(self, now: float, rate: float) -> None:
        if self._at is not None and now > self._at:
            self._level = max(0.0, self._level - (now - self._at) * rate)
        self._at = now if self._at is None or now > self._at else self._at

    def try_add(self, now: float, rate: float, burst: float) -> bool:
        with self._lock:
            self._drain(now, rate)
            if self._level + 1 > burst:
                return False  # refused requests do not add
            self._level += 1
            self.peak = max(self.peak, self._level)
            return True

    def level(self, now: float, rate: float) -> float:
        with self._lock:
            self._drain(now, rate)
            return self._level

    def reset(self) -> None:
        with self._lock:
            self._level, self._at, self.peak = 0.0, None, 0.0


class OperatingBudget:
    """Seconds of server time per key (owner, method) in ten baskets of `window/10` seconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._baskets: dict[tuple[str, str], dict[int, float]] = {}
        self._width: float | None = None

    def _fresh(self, key, now: float, window: float) -> dict[int, float]:
        """The key's baskets still inside the window (older ones dropped). Call under the lock."""
        width = window / BASKETS
        if self._width != width:  # the window changed at runtime: old basket numbers mean nothing
            self._baskets.clear()
            self._width = width
        baskets = self._baskets.get(key)
        if not baskets:
            return {}
        current = math.floor(now / width)
        for index in [i for i in baskets if i <= current - BASKETS]:
            del baskets[index]
        return baskets

    def used(self, key, now: float, window: float) -> float:
        with self._lock:
            return sum(self._fresh(key, now, window).values())

    def reset_at(self, key, now: float, window: float) -> int:
        """When the oldest non-empty basket drops off (now + window when there is none)."""
        with self._lock:
            baskets = self._fresh(key, now, window)
            if not baskets:
                return int(now + window)
            return int(math.ceil((min(baskets) + BASKETS) * (window / BASKETS)))

    def blocked(self, key, now: float, window: float, limit: float) -> bool:
        return self.used(key, now, window) > limit

    def commit(self, charges: dict, now: float, window: float, min_fix: float) -> None:
        """Store one request's time per key, only where it exceeds `min_fix` (core minimalFixTime)."""
        with self._lock:
            for key, seconds in charges.items():
                if seconds <= min_fix:
                    continue
                self._fresh(key, now, window)
                index = math.floor(now / self._width)
                baskets = self._baskets.setdefault(key, {})
                baskets[index] = baskets.get(index, 0.0) + seconds

    def snapshot(self, now: float, window: float) -> dict[str, dict[str, float]]:
        with self._lock:
            out = {}
            for key in list(self._baskets):
                baskets = self._fresh(key, now, window)
                if baskets:
                    reset = math.ceil((min(baskets) + BASKETS) * (window / BASKETS))
                    out["|".join(key)] = {"used": sum(baskets.values()), "reset_at": reset}
            return out

    def reset(self) -> None:
        with self._lock:
            self._baskets.clear()
