"""Fixtures for the sandbox portal's own tests: a started SandboxServer (fresh per test, so settings
changed by one test never leak into another), REST helpers, and a tiny stand-in app over HTTP."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
import requests
from flask import Flask, request
from werkzeug.serving import make_server

from b24app.sandbox.server import SandboxServer
from b24app.sandbox.settings import SandboxSettings

# Generous limits by default: only the limit tests want to hit them.
QUIET = {"rate": 1000.0, "burst": 1000, "rows": 500}


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., SandboxServer]]:
    started: list[SandboxServer] = []

    def make(**settings) -> SandboxServer:
        server = SandboxServer(SandboxSettings(**{**QUIET, **settings})).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def sandbox(make_sandbox) -> SandboxServer:
    """A running sandbox portal with 500 call rows and no practical rate limit."""
    return make_sandbox()


class StubApp:
    """A stand-in for the real app: records every request; its install page binds events over REST."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.bind_on_install: list[tuple[str, str]] = []  # (event, handler path)
        self.status = 200
        self.url = ""
        self._server = None
        self._thread: threading.Thread | None = None

    def received(self, path: str) -> list[dict]:
        return [r for r in self.requests if r["path"] == path]

    def app(self) -> Flask:
        app = Flask("stub-app")

        @app.route("/<path:path>", methods=["GET", "POST"])
        def any_path(path):
            raw = request.get_data(as_text=True)  # first: the form is then parsed from the cached body
            entry = {"path": "/" + path, "args": request.args.to_dict(), "form": request.form.to_dict(), "raw": raw}
            self.requests.append(entry)
            if entry["path"] == "/b24/install" and self.bind_on_install:
                endpoint = f"{entry['args']['DOMAIN']}"
                for event, handler in self.bind_on_install:
                    r = requests.post(f"http://{endpoint}/rest/event.bind", timeout=10, json={
                        "auth": entry["form"]["AUTH_ID"], "event": event, "handler": self.url + handler})
                    entry.setdefault("bind_results", []).append(r.json())
            return "ok", self.status

        return app

    def start(self) -> StubApp:
        self._server = make_server("127.0.0.1", 0, self.app(), threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@pytest.fixture
def stub_app() -> Iterator[StubApp]:
    app = StubApp().start()
    yield app
    app.stop()
