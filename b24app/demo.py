"""The demo: the app and the built-in sandbox portal on loopback, the app installed, a URL to open."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
import webbrowser

import click
import requests
from werkzeug.serving import make_server

from .config import INSTANCE_DIR

STATE_FILE = INSTANCE_DIR / "sandbox.json"
CLIENT_ID, CLIENT_SECRET = "local.sandbox.demo", "sandbox-demo-secret"


# Ports browsers refuse to open (Chromium's and Firefox's restricted list, the part above 1024).
UNSAFE_PORTS = {1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668,
                6669, 6679, 6697, 10080}


def _free_port(start: int) -> int:
    for port in range(start, start + 100):
        if port in UNSAFE_PORTS:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise click.ClickException(f"no free port in {start}–{start + 99}")


def _already_running() -> str | None:
    try:
        state = json.loads(STATE_FILE.read_text())
        os.kill(int(state["pid"]), 0)
        requests.get(state["app_url"] + "/healthz", timeout=2).raise_for_status()
        return state["portal_url"]
    except (OSError, ValueError, KeyError, requests.RequestException):
        return None


def _lived_in(app, portal) -> None:
    """Topics on past calls and QA cards for the last day, so every page of the demo has something to show."""
    from sqlalchemy import select

    from .demo_history import cards_for_last_day, seed_topics
    from .extensions import db
    from .portals.models import Portal

    try:
        with app.app_context():
            portal_id = db.session.scalar(select(Portal.id))
            calls = portal.state.calls
            seed_topics(portal_id, (calls.get(i) for i in calls.ids()))
            cards_for_last_day(portal_id)
    except Exception:  # the demo goes on without them
        app.logger.exception("demo history could not be prepared")


def run_demo(first_port: int = 5000, open_browser: bool = True, rows: int = 5000) -> None:
    from . import create_app
    from .sandbox.server import SandboxServer
    from .sandbox.settings import SandboxSettings

    running = _already_running()
    if running:
        click.echo(f"Демо уже запущено: {running}")
        return

    app_port = _free_port(first_port)
    app_url = f"http://127.0.0.1:{app_port}"
    db_path = INSTANCE_DIR / "demo.db"
    jobs_path = INSTANCE_DIR / "demo-jobs.db"
    # The demo portal is new at every start (new ports, new tokens): so are the demo databases.
    for base in (db_path, jobs_path):
        for suffix in ("", "-wal", "-shm"):
            base.with_name(base.name + suffix).unlink(missing_ok=True)
    app = create_app({
        "PUBLIC_URL": app_url, "B24_CLIENT_ID": CLIENT_ID, "B24_CLIENT_SECRET": CLIENT_SECRET,
        # Jobs run in a consumer inside this process, as a worker would: the history import of the
        # demo's 90 days goes on in the background while its progress shows in the settings page.
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}", "JOBS_IMMEDIATE": False,
        "HUEY_SQLITE_PATH": str(jobs_path),
        "B24_RATE_LIMIT": (50.0, 100),
    })
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
    from .jobs import huey

    consumer = huey.create_consumer(workers=4, worker_type="thread", periodic=True, check_worker_health=False)
    consumer.start()
    # The consumer installs its own signal handlers; Ctrl-C and SIGTERM stop the whole demo instead.
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server = make_server("127.0.0.1", app_port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    import dataclasses

    extra = {"demo": True} if "demo" in {f.name for f in dataclasses.fields(SandboxSettings)} else {}
    portal = SandboxServer(SandboxSettings(app_url=app_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                                           rows=rows, rate=50.0, burst=100, handler_path="/b24/app",
                                           port=_free_port(app_port + 1), **extra))
    portal.start()
    r = requests.post(f"{portal.url}/_sandbox/install", json={"finish": True}, timeout=60)
    if r.status_code != 200 or r.json().get("install_status") != 200:
        portal.stop()
        server.shutdown()
        consumer.stop()
        raise click.ClickException(f"установка в песочницу не удалась: {r.text[:300]}")
    threading.Thread(target=_lived_in, args=(app, portal), name="demo-history", daemon=True).start()
    shell_url = portal.url + "/?user=1"  # the portal shell's home page as the admin
    STATE_FILE.write_text(json.dumps({"pid": os.getpid(), "app_url": app_url, "portal_url": shell_url}))
    click.echo(f"Приложение: {app_url}\nПортал-песочница: {portal.url}\nОткройте в браузере: {shell_url}")
    if open_browser and os.environ.get("DISPLAY"):
        webbrowser.open(shell_url)

    try:
        while not stop.is_set():
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        STATE_FILE.unlink(missing_ok=True)
        consumer.stop(graceful=True)
        portal.stop()
        server.shutdown()
