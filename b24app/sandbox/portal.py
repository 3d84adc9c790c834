"""The portal's Flask app: REST under /rest (OAuth `auth` or the incoming-webhook path), the admin
routes under /_sandbox and the portal page at /. A request's life: latency, fault 503, the leaky
bucket, parameters, the call or batch, billing committed, latency again."""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask, Response, request

from . import batch as batch_mod
from .dispatch import RequestCtx, execute
from .envelope import RestError, dumps
from .methods import registry
from .params import ParamsError, request_params
from .state import PortalState

log = logging.getLogger(__name__)
JSON_TYPE = "application/json; charset=utf-8"


def json_response(body: Any, status: int = 200) -> Response:
    return Response(dumps(body), status=status, content_type=JSON_TYPE)


def error_response(err: RestError) -> Response:
    return json_response(err.body(), err.status)


def create_portal_app(state: PortalState) -> Flask:
    app = Flask("b24app.sandbox.portal")
    app.config["SANDBOX_STATE"] = state
    methods = registry()

    def rest(tail: str) -> Response:
        state.enter()
        try:
            half = state.settings.latency / 2
            if half > 0:
                time.sleep(half)  # the way in
            request.get_data(cache=True)  # read the body even when the request is refused
            response = _handle(state, methods, tail)
            if half > 0:
                time.sleep(half)  # the way back
            return response
        finally:
            state.leave()

    app.add_url_rule("/rest/", "rest_root", lambda: rest(""), methods=["GET", "POST"])
    app.add_url_rule("/rest/<path:tail>", "rest", rest, methods=["GET", "POST"])

    from .admin import admin_blueprint
    from .page import page_blueprint

    app.register_blueprint(admin_blueprint(state))
    app.register_blueprint(page_blueprint(state))
    from .phone import phone_blueprint

    app.register_blueprint(phone_blueprint(state))
    return app


def _handle(state: PortalState, methods: dict, tail: str) -> Response:
    s = state.settings
    started = time.time()
    if state.chance(s.fail_503_share):
        state.count("http_503")
        state.count("http_503_fault")
        return error_response(RestError("QUERY_LIMIT_EXCEEDED", status=503))
    if s.rate_limit_enabled and not state.bucket.try_add(time.time(), s.rate, s.burst):
        state.count("http_503")
        return error_response(RestError("QUERY_LIMIT_EXCEEDED", status=503))

    parts = [p for p in tail.split("/") if p]
    webhook: tuple[str, str] | None = None
    if len(parts) == 1:
        method = parts[0]
    elif len(parts) == 3:
        webhook, method = (parts[0], parts[1]), parts[2]
    else:
        return error_response(RestError("ERROR_METHOD_NOT_FOUND", status=404))
    if method.lower().endswith(".json"):
        method = method[:-5]

    try:
        params = request_params(request.query_string.decode("utf-8", errors="replace"),
                                request.content_type or "", request.get_data(cache=True),
                                request.form.items(multi=True) if request.mimetype == "multipart/form-data"
                                else None)
    except ParamsError as exc:
        return error_response(RestError("ERROR_ARGUMENT", str(exc), 400))

    ctx = RequestCtx(state, started=started)
    try:
        if method.strip().lower() == "batch":
            try:
                out = batch_mod.run(ctx, methods, params, webhook)
            except RestError as err:
                state.count_call("batch", err.code)
                return error_response(err)
            finished = time.time()
            state.count_call("batch")
            return json_response({"result": out["result"],
                                  "time": batch_mod.outer_time(ctx, started, finished, out["processing"])})
        outcome = execute(ctx, methods, method, params, webhook)
        if outcome.error is not None:
            return error_response(outcome.error)
        body: dict[str, Any] = {"result": outcome.result}
        if outcome.next is not None:
            body["next"] = outcome.next
        if outcome.total is not None:
            body["total"] = outcome.total
        body["time"] = outcome.time
        return json_response(body)
    except Exception:  # a bug here must still look like the portal's 500, not an HTML page
        log.exception("sandbox REST call %s failed", method)
        return error_response(RestError("INTERNAL_SERVER_ERROR", "Internal server error", 500))
    finally:
        ctx.commit()  # billing lands when the request ends (L11)
