"""GET /api/routing/owner: the machine API an external PBX asks «whose client is calling» (D3).

A bearer key, no cookies and no browser; the answer never calls the portal.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask_babel import gettext as _

from .. import ratelimit
from . import pbx

bp = Blueprint("routing_pbx", __name__)

# Per client address: a PBX asks once per incoming call; refused keys are counted apart, as refused events.


def _json(body: dict, status: int = 200, **headers):
    resp = jsonify(body)
    resp.status_code = status
    resp.headers["Cache-Control"] = "no-store"
    for name, value in headers.items():
        resp.headers[name.replace("_", "-")] = value
    return resp


def _too_many():
    return _json({"error": "too_many_requests", "message": _("Слишком много запросов. Повторите через минуту.")},
                 429, Retry_After="60")


def _bearer() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _sep, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


# GET only: any other method is the app's 405 with Allow (JSON when the client accepts JSON), and no
# route here takes a POST, so the origin check on state-changing requests has nothing to guard.
@bp.get("/api/routing/owner")
def owner():
    if not ratelimit.count("pbx"):
        return _too_many()
    portal_id = pbx.portal_for_key(_bearer())
    if portal_id is None:
        if not ratelimit.count("pbx_refused"):
            return _too_many()
        return _json({"error": "unauthorized",
                      "message": _("Нужен ключ АТС: заголовок Authorization: Bearer <ключ>.")}, 401,
                     WWW_Authenticate='Bearer realm="routing"')
    try:
        digits = pbx.normalise(request.args.get("phone"))
    except pbx.BadNumber as exc:
        return _json({"error": "bad_phone", "message": str(exc)}, 400)
    return _json(pbx.lookup(portal_id, digits).as_dict())
