"""Builds REST clients for a portal with the app's shared limits (bucket, operating budget)."""

from __future__ import annotations

from flask import Flask, current_app
from sqlalchemy import create_engine

from ..bitrix.client import BitrixClient
from ..bitrix.limits import Bucket, OperatingBudget, RedisBucket, SqlBucket
from ..bitrix.tokens import Credentials
from ..extensions import db
from .store import DbTokenStore, InlineTokenStore


class RestLimits:
    """Per-app singletons: one bucket (shared across processes) and one operating budget (per process)."""

    def __init__(self, app: Flask):
        rate, burst = app.config["B24_RATE_LIMIT"]
        self.rate, self.burst = rate, burst
        self._bucket: Bucket | None = None
        self.budget = OperatingBudget(limit=app.config["B24_OPERATING_LIMIT"],
                                      window=app.config["B24_OPERATING_WINDOW"])
        self.redis_url = app.config.get("REDIS_URL")

    def bucket(self) -> Bucket:
        if self._bucket is None:
            if self.redis_url:
                import redis

                self._bucket = RedisBucket(redis.Redis.from_url(self.redis_url), self.rate, self.burst)
            else:
                self._bucket = SqlBucket(_bucket_engine(), self.rate, self.burst)
        return self._bucket


def _bucket_engine():
    """PostgreSQL keeps the bucket in the app database (a row lock per request is cheap there).

    SQLite has one write lock per file: an import writing thousands of rows a second would make
    every REST call queue behind it, so the bucket row lives in a small file of its own beside it.
    """
    url = db.engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return db.engine
    engine = create_engine(url.set(database=url.database + "-limits"), connect_args={"timeout": 30})
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS rest_rate_state "
                             "(member_id VARCHAR(64) NOT NULL PRIMARY KEY, tat FLOAT NOT NULL)")
    return engine


def init_app(app: Flask) -> None:
    app.extensions["b24_limits"] = RestLimits(app)


def _limits() -> RestLimits:
    return current_app.extensions["b24_limits"]


def client_for(member_id: str, **kw) -> BitrixClient:
    """A client acting with the portal's stored (installer) tokens."""
    lim = _limits()
    cfg = current_app.config
    return BitrixClient(member_id, DbTokenStore(db.engine), lim.bucket(), lim.budget,
                        client_id=cfg["B24_CLIENT_ID"], client_secret=cfg["B24_CLIENT_SECRET"], **kw)


def client_with_token(creds: Credentials, **kw) -> BitrixClient:
    """A client acting with a token a request brought (a user's AUTH_ID), limits shared."""
    lim = _limits()
    kw.setdefault("max_attempts", 3)
    return BitrixClient(creds.member_id, InlineTokenStore(creds), lim.bucket(), lim.budget,
                        client_id="", client_secret="", **kw)
