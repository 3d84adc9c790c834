"""One served app with two installed sandbox portals for the whole fuzz module, and the credentials to attack it with."""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass

import pytest
import requests
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import select
from werkzeug.serving import make_server

from b24app import create_app
from b24app.extensions import db

from ..conftest import CLIENT_ID, CLIENT_SECRET, LiveApp, _free_socket, _wipe
from ..platform.helpers import frame_token_from, open_placement, portal_row, user_tokens

# Tables whose rows move on reads too: the shared REST bucket advances when the portal is asked to verify a token.
VOLATILE = {"rest_rate_state"}


@dataclass
class World:
    app: LiveApp
    portal: object           # the sandbox portal under attack
    other: object            # a second installed portal
    app_token: str
    tokens: dict             # frame tokens: admin, manager, other (portal B's admin), expired, tampered
    auth_ids: dict           # placement AUTH_IDs: admin, manager
    ids: list                # row ids of the attacked portal (topics, grants, checklists …) for <int:…> routes

    @property
    def url(self) -> str:
        return self.app.url

    def digest(self) -> str:
        """Everything the app stores, as one hash: a refused request must leave it as it was."""
        h = hashlib.sha256()
        with self.app.ctx(), db.engine.connect() as conn:
            for table in db.metadata.sorted_tables:
                if table.name in VOLATILE:
                    continue
                order = list(table.primary_key.columns) or list(table.columns)
                for row in conn.execute(select(table).order_by(*order)):
                    h.update(repr(tuple(row)).encode())
        return h.hexdigest()


def _expired(app, token: str) -> str:
    """The same token as issued long ago (signed with the app's key; only its timestamp is old)."""

    class OldSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return 1_000_000_000

    key, salt = app.config["SECRET_KEY"], "b24-frame"
    payload = URLSafeTimedSerializer(key, salt=salt).loads(token)
    return URLSafeTimedSerializer(key, salt=salt, signer=OldSigner).dumps(payload)


@pytest.fixture(scope="module")
def world(database_url):
    from b24app.sandbox.server import SandboxServer
    from b24app.sandbox.settings import SandboxSettings

    sock = _free_socket()
    port = sock.getsockname()[1]
    sock.close()
    url = f"http://127.0.0.1:{port}"
    app = create_app({
        "SQLALCHEMY_DATABASE_URI": database_url, "JOBS_IMMEDIATE": True, "TESTING": True, "PUBLIC_URL": url,
        "SECRET_KEY": "fuzz-secret-key", "B24_CLIENT_ID": CLIENT_ID, "B24_CLIENT_SECRET": CLIENT_SECRET,
        "B24_RATE_LIMIT": (200.0, 400),
    })
    _wipe(app)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # thousands of request lines say nothing here
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    live = LiveApp(app, server, url)
    portals = []
    for seed in (1, 2):
        srv = SandboxServer(SandboxSettings(app_url=url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                                            rate=200.0, burst=400, handler_path="/b24/app", calls_days=2, seed=seed))
        srv.start()
        portals.append(srv)
        r = requests.post(f"{srv.url}/_sandbox/install", json={"finish": True}, timeout=60)
        assert r.status_code == 200 and r.json()["install_status"] == 200, r.text
    a, b = portals
    admin = frame_token_from(open_placement(a, live, "/b24/app", user_id=1).text)
    tokens = {
        "admin": admin,
        "manager": frame_token_from(open_placement(a, live, "/b24/app", user_id=2).text),
        "other": frame_token_from(open_placement(b, live, "/b24/app", user_id=1).text),
        "expired": _expired(app, admin),
        "tampered": admin[:-3] + ("AAA" if not admin.endswith("AAA") else "BBB"),
    }
    auth_ids = {"admin": user_tokens(a, 1)["access_token"], "manager": user_tokens(a, 2)["access_token"]}
    with app.app_context():
        pid = portal_row(live, a.member_id).id
        ids = sorted({row_id for table in db.metadata.sorted_tables if "portal_id" in table.c and "id" in table.c
                      for row_id in db.session.scalars(select(table.c.id).where(table.c.portal_id == pid).limit(20))})
    yield World(live, a, b, portal_row(live, a.member_id).application_token, tokens, auth_ids, ids)
    for srv in portals:
        srv.stop()
    server.shutdown()
    with app.app_context():
        db.engine.dispose()
