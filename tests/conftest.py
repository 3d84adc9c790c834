"""Shared fixtures: a real database (SQLite, or PostgreSQL via TEST_DATABASE_URL), the app served over
HTTP on loopback, and a running sandbox portal that the app is installed into."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from werkzeug.serving import make_server

from b24app import create_app
from b24app.extensions import db

ROOT = Path(__file__).resolve().parent.parent
CLIENT_ID, CLIENT_SECRET = "local.test.0001", "test-secret"


def _free_socket() -> socket.socket:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    return s


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        url = url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url
        eng = create_engine(url)
        with eng.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        eng.dispose()
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    # The schema comes from the migrations, exactly as an operator's `flask db upgrade` makes it.
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "JOBS_IMMEDIATE": True, "TESTING": True})
    with app.app_context():
        from flask_migrate import upgrade

        upgrade(directory=str(ROOT / "migrations"))
        db.engine.dispose()
    return url


def _wipe(app) -> None:
    with app.app_context():
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())


class LiveApp:
    def __init__(self, app, server, url):
        self.app, self.server, self.url = app, server, url

    def ctx(self):
        return self.app.app_context()


@pytest.fixture
def live_app(database_url, tmp_path, request):
    """The app on a real loopback port, PUBLIC_URL pointing at it, jobs inline."""
    sock = _free_socket()
    port = sock.getsockname()[1]
    sock.close()
    url = f"http://127.0.0.1:{port}"
    overrides = {
        "SQLALCHEMY_DATABASE_URI": database_url, "JOBS_IMMEDIATE": True, "TESTING": True,
        "PUBLIC_URL": url, "SECRET_KEY": "test-secret-key", "B24_CLIENT_ID": CLIENT_ID,
        "B24_CLIENT_SECRET": CLIENT_SECRET, "B24_RATE_LIMIT": (50.0, 100),
        "RATE_LIMITS_ENABLED": False,  # tests/security turns them on where it measures them
    }
    overrides.update(getattr(request, "param", None) or {})
    app = create_app(overrides)
    _wipe(app)
    server = make_server("127.0.0.1", port, app, threaded=True)
    # A short poll: shutdown() waits for the loop to look again, half a second per test at the default.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield LiveApp(app, server, url)
    server.shutdown()
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def make_sandbox(live_app):
    """Start sandbox portals that know the app's URL and credentials; `install=True` installs the app."""
    import requests

    from b24app.sandbox.server import SandboxServer
    from b24app.sandbox.settings import SandboxSettings

    started = []

    def make(install: bool = False, **settings):
        # History inside the app's 90-day import window whatever the time of day (day -90 starts at midnight).
        opts = {"rate": 50.0, "burst": 100, "handler_path": "/b24/app", "calls_days": 60, **settings}
        srv = SandboxServer(SandboxSettings(app_url=live_app.url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                                            **opts))
        srv.start()
        started.append(srv)
        if install:
            r = requests.post(f"{srv.url}/_sandbox/install", json={"finish": True}, timeout=60)
            assert r.status_code == 200 and r.json()["install_status"] == 200, r.text
        return srv

    yield make
    for srv in started:
        srv.stop()


@pytest.fixture
def sandbox(make_sandbox):
    """A sandbox portal that knows the app's URL and credentials (not yet installed)."""
    return make_sandbox()


@pytest.fixture
def installed(sandbox, live_app):
    """The app installed into the sandbox through the portal's own install flow."""
    import requests

    r = requests.post(f"{sandbox.url}/_sandbox/install", json={"finish": True}, timeout=30)
    assert r.status_code == 200, r.text
    return sandbox


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (browser downloads are not available here)."""
    import asyncio

    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is absent: install Debian's chromium (scripts/setup.sh) to run the browser tests")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt)")
    # An earlier test may leave an event loop marked running in this thread, which makes Playwright's
    # sync API refuse to start: clear the stale marker for the browser's lifetime and put it back after.
    stale = asyncio.events._get_running_loop()
    asyncio.events._set_running_loop(None)
    try:
        with sync_api.sync_playwright() as pw:
            b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            yield b
            b.close()
    finally:
        asyncio.events._set_running_loop(stale)


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="ru-RU")
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    yield pg
    context.close()
