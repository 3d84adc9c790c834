"""The operator's commands as an operator runs them: `flask db upgrade`, `gunicorn wsgi:app`,
`flask worker` consuming jobs from the SQLite queue and from Redis."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, inspect, text

from ..conftest import CLIENT_ID, CLIENT_SECRET

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until(check, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} not reached within {timeout} s")


@pytest.fixture
def env(tmp_path):
    e = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "JOBS_", "REDIS_"))}
    e.update({"DATABASE_URL": f"sqlite:///{tmp_path / 'ops.db'}", "HUEY_SQLITE_PATH": str(tmp_path / "jobs.db"),
              "SECRET_KEY": "ops-test", "B24_CLIENT_ID": CLIENT_ID, "B24_CLIENT_SECRET": CLIENT_SECRET,
              "B24_RATE_LIMIT": "50/100"})
    return e


def _upgrade(env) -> None:
    out = subprocess.run([str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def test_db_upgrade_creates_the_schema(env):
    _upgrade(env)
    eng = create_engine(env["DATABASE_URL"])
    tables = set(inspect(eng).get_table_names())
    eng.dispose()
    assert {"portals", "event_inbox", "role_grants", "portal_users", "rest_rate_state", "alembic_version"} <= tables


@pytest.fixture
def gunicorn_app(env):
    _upgrade(env)
    port = _port()
    env["PUBLIC_URL"] = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([str(BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", "wsgi:app"], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = env["PUBLIC_URL"]

    def up():
        try:
            return requests.get(url + "/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    _wait_until(up, what="gunicorn answering")
    yield url
    proc.terminate()
    proc.wait(10)


def _run_worker_and_process_an_event(env, gunicorn_app):
    from b24app.sandbox.server import SandboxServer
    from b24app.sandbox.settings import SandboxSettings

    with SandboxServer(SandboxSettings(app_url=gunicorn_app, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                                       rate=50.0, burst=100)) as portal:
        r = requests.post(f"{portal.url}/_sandbox/install", json={"finish": True}, timeout=60)
        assert r.status_code == 200 and r.json()["install_status"] == 200, r.text
        out = requests.post(f"{portal.url}/_sandbox/events/fire", json={
            "event": "ONVOXIMPLANTCALLEND", "data": {"CALL_ID": "ops-1", "CALL_TYPE": "1"}}, timeout=30).json()
        assert [d["status"] for d in out["deliveries"]] == [200]
        eng = create_engine(env["DATABASE_URL"])

        def status():
            with eng.connect() as conn:
                return conn.execute(text("SELECT status FROM event_inbox WHERE event = 'ONVOXIMPLANTCALLEND'")).scalar()

        assert status() == "new"  # stored and answered; nobody has processed it yet
        worker = subprocess.Popen([str(BIN / "flask"), "--app", "wsgi", "worker", "--workers", "2"], cwd=ROOT,
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_until(lambda: status() == "done", what="the worker processing the event")
        finally:
            worker.terminate()
            worker.wait(15)
            eng.dispose()


def test_gunicorn_serves_and_the_worker_consumes_the_sqlite_queue(env, gunicorn_app):
    _run_worker_and_process_an_event(env, gunicorn_app)


@pytest.fixture
def redis_env(env):
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.skip("TEST_REDIS_URL not set (scripts/test.sh starts Redis)")
    import redis

    redis.Redis.from_url(url).flushdb()
    env["REDIS_URL"] = url
    return env


def test_the_worker_consumes_the_redis_queue(redis_env, gunicorn_app):
    _run_worker_and_process_an_event(redis_env, gunicorn_app)
