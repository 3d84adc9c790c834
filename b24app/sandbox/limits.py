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
    """Seconds of server time per key (owner, method) in ten wall-clock baskets of `window/10` seconds.

    As core's LoadLimiter: a request's time goes into the basket current at its first call (core
    reads the basket number once per request and keeps it), the check sums the current basket and
    the nine before it, and `operating_reset_at` announces a basket's drop as the first call billed
    into it plus the window (core: firstTime + 600) - after the boundary where the check really stops
    counting it, by up to one basket."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # key -> basket number -> [seconds, start of the first call billed into it]
        self._baskets: dict[tuple[str, str], dict[int, list[float]]] = {}
        self._width: float | None = None

    def _fresh(self, key, now: float, window: float) -> dict[int, list[float]]:
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
            return sum(seconds for seconds, _ in self._fresh(key, now, window).values())

    def reset_at(self, key, now: float, window: float, first_call: float) -> int:
        """The announced drop: the oldest non-empty basket's first call plus the window, or, with
        nothing stored, this request's first call plus the window (core getResetTime). Core
        truncates to whole seconds, harmless with its 60 s baskets; here windows are compressed
        to seconds, where truncating could announce a drop before the basket drops, so it rounds up."""
        with self._lock:
            baskets = self._fresh(key, now, window)
            first = baskets[min(baskets)][1] if baskets else first_call
            return int(math.ceil(first + window))

    def blocked(self, key, now: float, window: float, limit: float) -> bool:
        return self.used(key, now, window) > limit

    def commit(self, charges: dict, first_call: float, first_by_key: dict, now: float, window: float,
               min_fix: float) -> None:
        """Store one request's time per key, only where it exceeds `min_fix` (core minimalFixTime),
        in the basket of the request's first call, not the one current when it ended; a new basket
        remembers the key's first call in the request, from which its drop is announced."""
        with self._lock:
            for key, seconds in charges.items():
                if seconds <= min_fix:
                    continue
                self._fresh(key, now, window)
                index = math.floor(first_call / self._width)
                baskets = self._baskets.setdefault(key, {})
                if index in baskets:
                    baskets[index][0] += seconds
                else:
                    baskets[index] = [seconds, first_by_key.get(key, first_call)]

    def snapshot(self, now: float, window: float) -> dict[str, dict[str, float]]:
        with self._lock:
            out = {}
            for key in list(self._baskets):
                baskets = self._fresh(key, now, window)
                if baskets:
                    oldest = min(baskets)
                    out["|".join(key)] = {"used": sum(v[0] for v in baskets.values()),
                                          "reset_at": int(math.ceil(baskets[oldest][1] + window)),
                                          "drops_at": (oldest + BASKETS) * self._width}
            return out

    def reset(self) -> None:
        with self._lock:
            self._baskets.clear()
