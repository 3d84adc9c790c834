"""The OAuth server on its own port (oauth.bitrix.info's role): refresh-token rotation at /oauth/token/
and the server-side app.info at /rest/app.info (REST-FACTS §1.6, §7)."""

from __future__ import annotations

import time

from flask import Flask, Response, request

from .dispatch import resolve_caller
from .envelope import RestError, dumps, iso, time_block
from .state import PortalState
from .tokens import TokenError


def _json(body, status: int = 200) -> Response:
    return Response(dumps(body), status=status, content_type="application/json; charset=utf-8")


def _oauth_error(code: str, text: str, status: int) -> Response:
    return _json({"error": code, "error_description": text}, status)


def create_oauth_app(state: PortalState) -> Flask:
    app = Flask("b24app.sandbox.oauth")

    @app.route("/oauth/token/", methods=["GET", "POST"])
    @app.route("/oauth/token", methods=["GET", "POST"])
    def token():
        state.count("oauth_requests")
        s = state.settings
        args = request.values
        grant = args.get("grant_type", "")
        if args.get("client_id") != s.client_id or args.get("client_secret") != s.client_secret:
            return _oauth_error("invalid_client", "Invalid client credentials", 401)
        if grant != "refresh_token":
            return _oauth_error("invalid_request", f"Unsupported grant_type: {grant or '(none)'}", 400)
        refresh = args.get("refresh_token", "")
        if not refresh:
            return _oauth_error("invalid_request", "refresh_token is required", 400)
        try:
            pair = state.tokens.refresh(refresh, s.token_ttl, s.refresh_ttl)
        except TokenError:
            return _oauth_error("invalid_grant", "Invalid refresh token", 400)
        # Fixture oauth.refresh.response: `domain` is the OAuth server's host, not the portal's.
        return _json({
            "access_token": pair.access_token,
            "client_endpoint": state.client_endpoint,
            "domain": state.oauth_domain,
            "expires": pair.expires,
            "expires_in": pair.expires_in,
            "member_id": s.member_id,
            "refresh_token": pair.refresh_token,
            "scope": s.app_scope,
            "server_endpoint": state.server_endpoint,
            "status": s.app_status,
            "user_id": pair.user_id,
        })

    @app.route("/rest/app.info", methods=["GET", "POST"])
    @app.route("/rest/app.info.json", methods=["GET", "POST"])
    def app_info():
        started = time.time()
        state.count("oauth_requests")
        s = state.settings
        data = request.get_json(silent=True) if request.is_json else None
        auth = (data or {}).get("auth") if isinstance(data, dict) else None
        auth = auth or request.values.get("auth") or ""
        try:
            caller = resolve_caller(state, auth, None)
        except RestError as err:
            return _json(err.body(), err.status)
        expires = state.tokens.expires_of(auth) or 0
        # Shape from fixture oauth.app.info.oauth_server.result_shape (pysdk; UNCONFIRMED in the docs).
        return _json({"result": {
            "client_id": s.client_id,
            "scope": s.app_scope,
            "expires": iso(expires or started, state.tz),
            "install": {
                "installed": state.app.installed,
                "version": s.app_version,
                "status": s.app_status,
                "scope": s.app_scope,
                "domain": state.domain,
                "uri": state.portal_url + "/",
                "client_endpoint": state.client_endpoint,
                "member_id": s.member_id,
                "member_type": "PORTAL",
            },
            "user_id": caller.user_id,
        }, "time": time_block(started, time.time(), time.time() - started, state.tz)})

    return app
