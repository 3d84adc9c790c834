"""Credentials kept in the portals table; the one refresh per portal is serialised through the database."""

from __future__ import annotations

import threading

from sqlalchemy import text
from sqlalchemy.engine import Engine

from ..bitrix import errors as E
from ..bitrix.tokens import Credentials

_SELECT = ("SELECT member_id, client_endpoint, server_endpoint, access_token, refresh_token, "
           "token_expires_at, status FROM portals WHERE member_id = :m")


def _creds(row) -> Credentials:
    return Credentials(member_id=row[0], client_endpoint=row[1], server_endpoint=row[2],
                       access_token=row[3], refresh_token=row[4], expires_at=float(row[5] or 0))


class DbTokenStore:
    """Works outside any Flask context (export threads use it), through the engine alone."""

    _local_locks: dict[str, threading.Lock] = {}
    _guard = threading.Lock()

    def __init__(self, engine: Engine):
        self.engine = engine

    def _local_lock(self, member_id: str) -> threading.Lock:
        with self._guard:
            return self._local_locks.setdefault(member_id, threading.Lock())

    def load(self, member_id: str) -> Credentials:
        with self.engine.connect() as conn:
            row = conn.execute(text(_SELECT), {"m": member_id}).first()
        if row is None or row[6] != "active" or not row[3]:
            raise E.PortalNotReady(description=f"portal {member_id} is not installed or needs reinstall")
        return _creds(row)

    def refresh(self, member_id: str, stale_access_token: str, refresher) -> Credentials:
        # Threads of this process queue here first, so the database lock sees one of them.
        with self._local_lock(member_id), self.engine.connect() as conn:
            if self.engine.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                row = conn.execute(text(_SELECT), {"m": member_id}).first()
            else:
                row = conn.execute(text(_SELECT + " FOR UPDATE"), {"m": member_id}).first()
            if row is None or row[6] != "active":
                conn.rollback()
                raise E.PortalNotReady(description=f"portal {member_id} is not active")
            current = _creds(row)
            if current.access_token != stale_access_token:
                conn.rollback()
                return current  # another worker refreshed while we waited
            fresh = refresher(current)
            conn.execute(text(
                "UPDATE portals SET access_token = :a, refresh_token = :r, token_expires_at = :e, "
                "client_endpoint = :c, server_endpoint = :s WHERE member_id = :m"),
                {"a": fresh.access_token, "r": fresh.refresh_token, "e": fresh.expires_at,
                 "c": fresh.client_endpoint, "s": fresh.server_endpoint, "m": member_id})
            conn.commit()
            return fresh

    def mark_needs_reinstall(self, member_id: str, reason: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(text("UPDATE portals SET status = 'needs_reinstall', status_reason = :r "
                              "WHERE member_id = :m AND status = 'active'"), {"r": reason[:255], "m": member_id})


class InlineTokenStore:
    """Credentials a request brought with it (install POST, placement AUTH_ID): used as is, never refreshed."""

    def __init__(self, creds: Credentials):
        self.creds = creds

    def load(self, member_id: str) -> Credentials:
        return self.creds

    def refresh(self, member_id: str, stale_access_token: str, refresher) -> Credentials:
        raise E.ExpiredToken(description="the token this request carried has expired")

    def mark_needs_reinstall(self, member_id: str, reason: str) -> None:
        pass
