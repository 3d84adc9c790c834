"""Rate limits on the app's own public endpoints, per client address: install, placement checks, refused
events and the chat prompt page. A legitimate portal's accepted events are never counted.

Counts live in Redis when the app has one (shared by every gunicorn process), else in this process.
A limiter that cannot reach Redis lets the request through: a limit is a guard, not a gate.
"""

from __future__ import annotations

import logging
import threading
import time

from flask import current_app, request
from werkzeug.exceptions import TooManyRequests

log = logging.getLogger(__name__)

# name -> (requests, seconds) per client address. RATE_LIMITS in the environment overrides any of them.
DEFAULTS: dict[str, tuple[int, int]] = {
    "install": (20, 60),          # install POSTs: each costs REST calls to the portal
    "placement": (120, 60),       # placement opens whose user token is not cached yet (a REST call each)
    "refused_event": (60, 60),    # event POSTs that fail verification
    "prompt": (60, 60),           # the chat prompt page (its link token is the credential)
    "pbx": (1200, 60),            # the PBX's routing queries (an answer per incoming call)
    "pbx_refused": (30, 60),      # routing queries with a missing or wrong key
}


def parse_limits(text: str | None) -> dict[str, tuple[int, int]]:
    """"install=20/60,prompt=30/60" -> {"install": (20, 60), "prompt": (30, 60)}; a bad entry is an error."""
    out: dict[str, tuple[int, int]] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        try:
            name, spec = part.split("=", 1)
            count, seconds = spec.split("/", 1)
            limit = (int(count), int(seconds))
        except ValueError as exc:
            raise ValueError(f"RATE_LIMITS entries look like 'install=20/60', got {part!r}") from exc
        if name.strip() not in DEFAULTS or limit[0] < 1 or limit[1] < 1:
            raise ValueError(f"RATE_LIMITS: unknown name or non-positive limit in {part!r}")
        out[name.strip()] = limit
    return out


class _LocalCounts:
    def __init__(self):
        self._counts: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def incr(self, key: str, window: int) -> int:
        now = time.monotonic()
        with self._lock:
            if len(self._counts) > 50_000:
                self._counts = {k: v for k, v in self._counts.items() if v[0] > now}
            expires, n = self._counts.get(key, (0.0, 0))
            if expires <= now:
                expires, n = now + window, 0
            self._counts[key] = (expires, n + 1)
            return n + 1

    def clear(self) -> None:
        """Forget every count (tests that measure a limit start from zero)."""
        with self._lock:
            self._counts.clear()


_local = _LocalCounts()
_redis_clients: dict[str, object] = {}


def _redis():
    url = current_app.config.get("REDIS_URL")
    if not url:
        return None
    client = _redis_clients.get(url)
    if client is None:
        import redis

        client = _redis_clients[url] = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
    return client


def _limit(name: str) -> tuple[int, int]:
    return {**DEFAULTS, **(current_app.config.get("RATE_LIMITS") or {})}[name]


def client_address() -> str:
    # Behind a proxy, TRUSTED_PROXIES makes werkzeug's ProxyFix put the client's address here.
    return request.remote_addr or "?"


def count(name: str, key: str | None = None) -> bool:
    """Count one request against `name`; True while within the limit (always True when limits are off)."""
    if not current_app.config.get("RATE_LIMITS_ENABLED", True):
        return True
    allowed, window = _limit(name)
    bucket = f"rl:{name}:{key or client_address()}:{int(time.time() // window)}"
    client = _redis()
    if client is None:
        return _local.incr(bucket, window) <= allowed
    try:
        pipe = client.pipeline()
        pipe.incr(bucket)
        pipe.expire(bucket, window + 1)
        n = pipe.execute()[0]
    except Exception as exc:  # Redis down: let it through, it is a guard
        log.warning("rate limit %s not checked: %s", name, type(exc).__name__)
        return True
    return int(n) <= allowed


def enforce(name: str, key: str | None = None) -> None:
    """Count the request and refuse it with a 429 (and Retry-After) once over the limit."""
    if not count(name, key):
        window = _limit(name)[1]
        log.warning("rate limit %s exceeded by %s", name, key or client_address())
        raise TooManyRequests(retry_after=window)
