"""SandboxServer: the portal and its OAuth server on two loopback ports, each a threaded werkzeug
server in a daemon thread. Usable as a context manager."""

from __future__ import annotations

import threading

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .oauth import create_oauth_app
from .portal import create_portal_app
from .settings import SandboxSettings
from .state import PortalState


class _QuietHandler(WSGIRequestHandler):
    """No access log line per request: a bench sends tens of thousands."""

    def log_request(self, code="-", size="-") -> None:
        pass


class SandboxServer:
    def __init__(self, settings: SandboxSettings | None = None):
        self.settings = settings or SandboxSettings()
        self.state = PortalState(self.settings)
        self._servers: list[BaseWSGIServer] = []
        self._threads: list[threading.Thread] = []

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> SandboxServer:
        if self._servers:
            return self
        s = self.settings
        portal = make_server(s.host, s.port, create_portal_app(self.state), threaded=True,
                             request_handler=_QuietHandler)
        try:
            oauth = make_server(s.host, s.oauth_port, create_oauth_app(self.state), threaded=True,
                                request_handler=_QuietHandler)
        except BaseException:
            portal.server_close()
            raise
        self._servers = [portal, oauth]
        self.state.set_endpoints(f"http://{s.host}:{portal.server_port}", f"http://{s.host}:{oauth.server_port}")
        self.state.generate_calls()
        for server, name in ((portal, "portal"), (oauth, "oauth")):
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                      name=f"sandbox-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers, self._threads = [], []

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- addresses ---------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.state.portal_url

    @property
    def oauth_url(self) -> str:
        return self.state.oauth_url

    @property
    def domain(self) -> str:
        return self.state.domain

    @property
    def client_endpoint(self) -> str:
        return self.state.client_endpoint

    @property
    def server_endpoint(self) -> str:
        return self.state.server_endpoint

    @property
    def member_id(self) -> str:
        return self.settings.member_id

    @property
    def webhook_url(self) -> str:
        s = self.settings
        return f"{self.url}/rest/{s.webhook_user_id}/{s.webhook_token}/"
