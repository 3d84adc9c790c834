"""Helpers the benchmarks share: start a sandbox portal process, make an app database with a portal in it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class SandboxProcess:
    """The sandbox portal in its own process, so its CPU is not the client's."""

    def __init__(self, **opts):
        args = [sys.executable, "-m", "b24app.sandbox", "serve", "--port", "0", "--oauth-port", "0"]
        for k, v in opts.items():
            args += [f"--{k.replace('_', '-')}", str(v)]
        self.proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("sandbox did not start: " + " ".join(args))
        self.info = json.loads(line)
        self.url = self.info["url"]

    def settings(self, **kw) -> dict:
        return requests.post(f"{self.url}/_sandbox/settings", json=kw, timeout=10).json()

    def reset(self) -> None:
        requests.post(f"{self.url}/_sandbox/reset", timeout=10).raise_for_status()

    def stats(self) -> dict:
        return requests.get(f"{self.url}/_sandbox/stats", timeout=10).json()

    def tokens(self, user_id: int = 1) -> dict:
        return requests.post(f"{self.url}/_sandbox/tokens", json={"user_id": user_id}, timeout=10).json()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def app_with_portal(sandbox: SandboxProcess, database_url: str | None = None, **config):
    """An app (not served) whose database holds the sandbox portal with admin tokens, as after install."""
    from b24app import create_app
    from b24app.extensions import db
    from b24app.portals.models import Portal

    if database_url is None:
        database_url = f"sqlite:///{tempfile.mkdtemp(prefix='cq-bench-')}/bench.db"
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "JOBS_IMMEDIATE": True,
                      "B24_CLIENT_ID": sandbox.info["client_id"], "B24_CLIENT_SECRET": sandbox.info["client_secret"],
                      **config})
    tok = sandbox.tokens(1)
    with app.app_context():
        from flask_migrate import upgrade

        if database_url.startswith("postgresql"):
            with db.engine.begin() as conn:
                conn.exec_driver_sql("DROP SCHEMA public CASCADE")
                conn.exec_driver_sql("CREATE SCHEMA public")
        upgrade()
        db.session.add(Portal(member_id=sandbox.info["member_id"], domain=sandbox.url.split("://", 1)[1], protocol=0,
                              client_endpoint=sandbox.url + "/rest/", server_endpoint=sandbox.info["oauth_url"] + "/rest/",
                              access_token=tok["access_token"], refresh_token=tok["refresh_token"],
                              token_expires_at=time.time() + 3600, application_token="bench", status="active"))
        db.session.commit()
    return app


def emit(result: dict) -> None:
    """The last line of every benchmark: one JSON object."""
    sys.stdout.flush()
    print(json.dumps(result, ensure_ascii=False))


def cpu_count() -> int:
    return os.cpu_count() or 1
