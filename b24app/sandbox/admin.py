"""Admin routes under /_sandbox (JSON, no auth, loopback only): knobs, counters, tokens, bindings,
the install/uninstall flow, firing events and writing call rows. Tests and benches drive the portal here."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, request

from . import events, installer
from .envelope import dumps
from .params import truthy
from .state import PortalState

LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


def _json(body: Any, status: int = 200) -> Response:
    return Response(dumps(body), status=status, content_type="application/json; charset=utf-8")


def _bad(message: str, status: int = 400) -> Response:
    return _json({"error": message}, status)


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if data is None and request.form:
        data = request.form.to_dict()
    return data if isinstance(data, dict) else {}


def admin_blueprint(state: PortalState) -> Blueprint:
    bp = Blueprint("sandbox_admin", __name__, url_prefix="/_sandbox")

    @bp.before_request
    def loopback_only():
        if request.remote_addr not in LOOPBACK:
            abort(403)

    @bp.get("/settings")
    def get_settings():
        return _json(state.settings.to_dict())

    @bp.post("/settings")
    def set_settings():
        try:
            state.settings.update(_body())
        except ValueError as exc:
            return _bad(str(exc))
        state.follow_clock()
        return _json(state.settings.to_dict())

    @bp.post("/reset")
    def reset():
        state.reset()
        return _json({"ok": True})

    @bp.get("/stats")
    def stats():
        return _json(state.stats_dict())

    @bp.post("/expire-tokens")
    def expire_tokens():
        return _json({"expired": state.tokens.expire_all()})

    @bp.post("/revoke-tokens")
    def revoke_tokens():
        user_id = _body().get("user_id")
        return _json({"revoked": state.tokens.revoke_all(int(user_id) if user_id else None)})

    @bp.post("/tokens")
    def tokens():
        try:
            user_id = int(_body().get("user_id", 1))
        except (TypeError, ValueError):
            return _bad("user_id must be a number")
        user = state.directory.user(user_id)
        if user is None:
            return _bad(f"no user {user_id}", 404)
        pair = state.issue_tokens(user_id)
        s = state.settings
        return _json({"access_token": pair.access_token, "refresh_token": pair.refresh_token,
                      "expires_in": pair.expires_in, "expires": pair.expires, "user_id": user_id,
                      "is_admin": user.admin, "member_id": s.member_id, "domain": state.domain,
                      "client_endpoint": state.client_endpoint, "server_endpoint": state.server_endpoint,
                      "application_token": state.app.application_token, "scope": s.app_scope})

    @bp.get("/bindings")
    def bindings():
        return _json(state.bindings_dict())

    @bp.get("/app")
    def app_state():
        return _json(state.app_dict())

    @bp.post("/install")
    def install():
        body = _body()
        try:
            result = installer.install(state, app_url=body.get("app_url"), finish=truthy(body.get("finish", True)),
                                       new_application_token=truthy(body.get("new_application_token", False)),
                                       user_id=int(body.get("user_id", 1)))
        except installer.InstallError as exc:
            return _bad(str(exc))
        return _json(result)

    @bp.post("/install-finish")
    def install_finish():
        return _json(installer.finish_install(state, user_id=int(_body().get("user_id", 1))))

    @bp.post("/uninstall")
    def uninstall():
        return _json(installer.uninstall(state, clean=truthy(_body().get("clean", 0))))

    @bp.post("/events/fire")
    def fire():
        body = _body()
        name = str(body.get("event") or "").strip()
        if not name:
            return _bad("event is required")
        try:
            times = max(1, int(body.get("times", 1)))
            user_id = int(body["user_id"]) if body.get("user_id") is not None else 1
        except (TypeError, ValueError):
            return _bad("times and user_id must be numbers")
        return _json(events.deliver(state, name, body.get("data") or {}, user_id=user_id,
                                    with_tokens=truthy(body.get("with_tokens", True)), times=times))

    @bp.post("/calls")
    def add_calls():
        body = _body()
        rows = body.get("rows") if isinstance(body.get("rows"), list) else [body.get("row") or body]
        try:
            added = state.calls.add_many([r for r in rows if isinstance(r, dict)])
        except (TypeError, ValueError) as exc:
            return _bad(str(exc))
        return _json({"ids": [int(r["ID"]) for r in added], "rows": added})

    @bp.post("/calls/<int:row_id>")
    def update_call(row_id: int):
        body = _body()
        fields = {str(k).upper(): v for k, v in body.items()} if isinstance(body, dict) else {}
        row = state.calls.update(row_id, fields)
        if row is None:
            return _json({"error": "NOT_FOUND", "error_description": f"no row {row_id}"}, 404)
        return _json(row)

    @bp.post("/users")
    def add_user():
        body = _body()
        if not body.get("NAME") or not body.get("LAST_NAME"):
            return _bad("NAME and LAST_NAME are required")
        departments = body.get("UF_DEPARTMENT") or [1]
        user = state.directory.add_user(str(body["NAME"]), str(body["LAST_NAME"]),
                                        [int(d) for d in departments], admin=bool(body.get("ADMIN", False)),
                                        active=bool(body.get("ACTIVE", True)),
                                        position=str(body.get("WORK_POSITION", "")))
        return _json(user.as_rest())

    _extra_routes(bp, state)
    return bp


def _extra_routes(bp: Blueprint, state: PortalState) -> None:
    """Demo data, Disk downloads/uploads, messenger clicks and method confirmation."""
    from . import disk

    disk.add_routes(bp, state)

    @bp.post("/demo")
    def demo():
        from . import demodata

        body = _body()
        try:
            seed = int(body.get("seed", state.settings.seed))
            calls = int(body.get("calls", state.settings.demo_calls))
        except (TypeError, ValueError):
            return _bad("seed and calls must be numbers")
        return _json(demodata.generate(state, seed, calls))

    @bp.post("/crm/seed")
    def crm_seed():
        from . import crmseed

        body = _body()
        try:
            counts = {k: int(body.get(k, 0)) for k in ("deals", "contacts", "companies")}
            seed = int(body.get("seed", state.settings.seed))
        except (TypeError, ValueError):
            return _bad("deals, contacts, companies and seed must be numbers")
        if any(v < 0 or v > 1_000_000 for v in counts.values()):
            return _bad("deals, contacts and companies must be between 0 and 1000000")
        return _json(crmseed.seed(state, counts["deals"], counts["contacts"], counts["companies"], seed))

    @bp.get("/crm/stats")
    def crm_stats():
        return _json(state.crm.update_stats())

    @bp.post("/crm/stats/reset")
    def crm_stats_reset():
        state.crm.reset_update_stats()
        return _json(state.crm.update_stats())

    @bp.get("/tasks")
    def tasks_list():
        return _json([{**t, "url": state.tasks.url(t)} for t in state.tasks.all()])

    @bp.get("/im/messages")
    def im_messages():
        try:
            user_id = int(request.args.get("user_id", 1))
        except ValueError:
            return _bad("user_id must be a number")
        return _json(state.im.messages_for(user_id))

    @bp.post("/im/press")
    def im_press():
        body = _body()
        try:
            return _json(state.im.press_button(int(body.get("user_id", 1)), int(body["message_id"]),
                                               int(body.get("button_index", 0))))
        except (KeyError, TypeError, ValueError):
            return _bad("message_id (and button_index, user_id) must be numbers")
        except LookupError as exc:
            return _bad(f"no such {exc.args[0]}", 404)

    @bp.post("/method-confirm")
    def method_confirm():
        pending = state.__dict__.setdefault("pending_confirmations", set())
        confirmed = state.__dict__.setdefault("confirmed_tokens", set())
        confirmed |= pending
        count = len(pending)
        pending.clear()
        return _json({"confirmed": count})
