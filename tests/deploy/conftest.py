"""Deployment tests need the PostgreSQL and Redis servers of the PostgreSQL pass; on SQLite they skip."""

from __future__ import annotations

import os
import secrets
from urllib.parse import urlsplit, urlunsplit

import pytest

from .harness import FreshDatabase


@pytest.fixture
def servers() -> tuple[str, str]:
    db_url, redis_url = os.environ.get("TEST_DATABASE_URL"), os.environ.get("TEST_REDIS_URL")
    if not (db_url and db_url.startswith(("postgres://", "postgresql")) and redis_url):
        pytest.skip("the deployment runs on PostgreSQL and Redis: TEST_DATABASE_URL / TEST_REDIS_URL not set")
    return db_url, redis_url


@pytest.fixture
def fresh_database(servers):
    """A database of its own on the test server: the shared test schema stays as other tests left it."""
    with FreshDatabase(servers[0]) as database:
        yield database.url


@pytest.fixture
def deploy_redis_url(servers) -> str:
    """A Redis database other than the suite's (db 0, which other tests flush), emptied by the harness."""
    parts = urlsplit(servers[1])
    return urlunsplit(parts._replace(path=f"/{1 + secrets.randbelow(15)}"))
