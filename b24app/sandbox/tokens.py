"""Access and refresh tokens of the sandbox's one local app: issue, check, rotate, expire, revoke."""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass

# Expired tokens are kept this long past expiry, so they answer `expired_token`, not NO_AUTH_FOUND.
KEEP_EXPIRED = 86400.0


@dataclass
class AccessToken:
    token: str
    user_id: int
    expires: float
    revoked: bool = False


@dataclass
class RefreshToken:
    token: str
    user_id: int
    expires: float


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    user_id: int
    expires: int
    expires_in: int


class TokenError(Exception):
    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


class TokenStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._access: dict[str, AccessToken] = {}
        self._refresh: dict[str, RefreshToken] = {}
        self._issued = 0
        self.refreshes = 0
        self.refreshes_by_user: Counter[int] = Counter()

    def issue(self, user_id: int, ttl: int, refresh_ttl: int, now: float | None = None) -> TokenPair:
        now = time.time() if now is None else now
        pair = TokenPair(secrets.token_hex(16), secrets.token_hex(16), user_id, int(now + ttl), ttl)
        with self._lock:
            self._access[pair.access_token] = AccessToken(pair.access_token, user_id, now + ttl)
            self._refresh[pair.refresh_token] = RefreshToken(pair.refresh_token, user_id, now + refresh_ttl)
            self._issued += 1
            if self._issued % 1000 == 0:
                self._purge(now)
        return pair

    def check(self, token: str, now: float | None = None) -> int:
        """The token's user id, or TokenError(NO_AUTH_FOUND | expired_token | invalid_token)."""
        now = time.time() if now is None else now
        with self._lock:
            info = self._access.get(token)
        if info is None:
            raise TokenError("NO_AUTH_FOUND")
        if info.revoked:
            raise TokenError("invalid_token")
        if now >= info.expires:
            raise TokenError("expired_token")
        return info.user_id

    def expires_of(self, token: str) -> float | None:
        with self._lock:
            info = self._access.get(token)
            return info.expires if info else None

    def refresh(self, refresh_token: str, ttl: int, refresh_ttl: int, now: float | None = None) -> TokenPair:
        """Rotate: the old refresh token stops working, a new pair is issued for the same user."""
        now = time.time() if now is None else now
        with self._lock:
            info = self._refresh.pop(refresh_token, None)
            if info is None or now >= info.expires:
                raise TokenError("invalid_grant")
            self.refreshes += 1
            self.refreshes_by_user[info.user_id] += 1
        return self.issue(info.user_id, ttl, refresh_ttl, now)

    def expire_all(self, now: float | None = None) -> int:
        now = time.time() if now is None else now
        count = 0
        with self._lock:
            for info in self._access.values():
                if not info.revoked and info.expires > now:
                    info.expires = now
                    count += 1
        return count

    def revoke_all(self, user_id: int | None = None) -> int:
        """Revoked access tokens answer `invalid_token`; refresh tokens are simply gone."""
        count = 0
        with self._lock:
            for info in self._access.values():
                if not info.revoked and (user_id is None or info.user_id == user_id):
                    info.revoked = True
                    count += 1
            for token in [t for t, r in self._refresh.items() if user_id is None or r.user_id == user_id]:
                del self._refresh[token]
        return count

    def reset_counters(self) -> None:
        with self._lock:
            self.refreshes = 0
            self.refreshes_by_user.clear()

    def _purge(self, now: float) -> None:
        for token in [t for t, a in self._access.items() if a.expires + KEEP_EXPIRED < now]:
            del self._access[token]
