"""The CALL_CARD placement: client summary and topic buttons in the call popup.

The placement POST renders from the database and the PLACEMENT_OPTIONS only (no REST call after the
portal's verification of AUTH_ID, which is cached), so the popup opens fast; the CRM summary comes by
a second request, and the topic choice is saved by a third, both carrying the frame token.
"""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, render_template, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select

from ..calls.models import Call
from ..extensions import db
from ..messages import message
from ..portals.frame import frame_api, placement_view
from . import client_info, service

bp = Blueprint("topic_card", __name__)
client_info.warm_up()  # phone metadata and zone names load once per process, not in a popup's request

STATES = ("idle", "connecting", "connected", "ringing")
DIRECTIONS = ("incoming", "outgoing", "callback")
SEARCH_FROM = 8       # topics in the catalogue from which the search box is shown
CLIENT_REF_TTL = 6 * 3600


def _ref_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="cq-call-card-client")


def _client_options(opts: dict) -> dict:
    """Only what the client summary needs, signed into the page so the XHR asks about this call's client."""
    keep = {k: opts.get(k) for k in ("CRM_ENTITY_TYPE", "CRM_ENTITY_ID", "PHONE_NUMBER") if opts.get(k)}
    bindings = opts.get("CRM_BINDINGS")
    if isinstance(bindings, list) and bindings:
        keep["CRM_BINDINGS"] = [{"ENTITY_TYPE": b.get("ENTITY_TYPE"), "ENTITY_ID": b.get("ENTITY_ID")}
                                for b in bindings[:10] if isinstance(b, dict)]
    return keep


def _privileged(viewer) -> bool:
    return viewer.has("admin") or viewer.has("qa")


def _refused(key: str, status: int):
    return jsonify(error=message(key), key=key), status


@bp.route("/b24/call-card", methods=["GET", "POST"])
@placement_view(accept=("CALL_CARD",))
def call_card():
    v = g.viewer
    opts = g.placement.options if g.get("placement") else {"CALL_ID": request.args.get("call_id", "")}
    call_id = str(opts.get("CALL_ID") or "").strip()
    if not call_id or len(call_id) > 128:
        return render_template("error.html", text=message("topics.bad_call")), 400
    topics = service.ranked_for(v.portal_id, v.user_id)
    chosen = service.topic_of(v.portal_id, call_id)
    current = None
    if chosen is not None:
        current = next((t for t in topics if t.id == chosen.topic_id), None) or service.topic(v.portal_id,
                                                                                              chosen.topic_id)
    call = db.session.execute(select(Call.scored_at, Call.portal_user_id).where(
        Call.portal_id == v.portal_id, Call.call_id == call_id)).first()
    blocked = None
    if call is not None and call.scored_at is not None:
        blocked = "topics.locked"
    elif call is not None and call.portal_user_id and call.portal_user_id != v.user_id and not _privileged(v):
        blocked = "topics.not_yours"
    phone = str(opts.get("PHONE_NUMBER") or "").strip()
    state = str(opts.get("CALL_STATE") or "")
    direction = str(opts.get("CALL_DIRECTION") or "")
    ref = _ref_serializer().dumps({"p": v.portal_id, "o": _client_options(opts)})
    return render_template(
        "topics/call_card.html", viewer=v, call_id=call_id, topics=topics, current=current,
        blocked=message(blocked) if blocked else None, phone=phone if phone.lower() != "hidden" else "",
        phone_hidden=phone.lower() == "hidden", state=state if state in STATES else "",
        direction=direction if direction in DIRECTIONS else "", show_search=len(topics) >= SEARCH_FROM,
        local=client_info.local_time_for_phone(phone, v.lang), client_ref=ref,
        line=str(opts.get("LINE_NAME") or opts.get("LINE_NUMBER") or ""),
    )


@bp.post("/b24/call-card/topic")
@frame_api
def choose_topic():
    v = g.viewer
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        data = request.form
    call_id = str(data.get("call_id") or "").strip()
    raw_topic = str(data.get("topic_id") or "").strip()
    if not call_id:
        return _refused("topics.bad_call", 400)
    if not raw_topic.isdigit() or len(raw_topic) > 12:
        return _refused("topics.unknown", 400)
    try:
        chosen, changed = service.choose(v.portal_id, call_id, int(raw_topic), v.user_id, "card",
                                         privileged=_privileged(v))
    except service.TopicRefused as exc:
        return _refused(exc.key, exc.status)
    t = service.topic(v.portal_id, chosen.topic_id)
    return jsonify(ok=True, changed=changed, call_id=chosen.call_id, topic_id=chosen.topic_id,
                   topic=t.name if t else "", message=message("card.saved"))


@bp.get("/b24/call-card/client")
@frame_api
def client_summary():
    v = g.viewer
    try:
        data = _ref_serializer().loads(request.args.get("ref", ""), max_age=CLIENT_REF_TTL)
    except BadSignature:
        return _refused("card.bad_ref", 400)
    if not isinstance(data, dict) or data.get("p") != v.portal_id or not isinstance(data.get("o"), dict):
        return _refused("card.bad_ref", 400)
    try:
        out = client_info.client_summary(v.member_id, v.portal_id, data["o"], v.lang)
    except client_info.ClientUnavailable:
        current_app.logger.warning("call card: the portal did not answer the client summary (%s)", v.member_id)
        return _refused("card.portal_unavailable", 503)
    if not out.get("found"):
        out = {**out, "message": message("card.no_client")}
    return jsonify(out)
