"""The one URL every portal event is posted to."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify, request

from .. import ratelimit
from ..bitrix.payloads import PayloadError, parse_event
from ..messages import message
from . import service
from .tasks import process_event

bp = Blueprint("inbox", __name__)
log = logging.getLogger(__name__)


@bp.post("/b24/events")
def receive():
    try:
        ev = parse_event(request.form.items(multi=True))
    except PayloadError as exc:
        return _refused(jsonify(error="bad_event", field=str(exc)), 400)
    try:
        inbox_id = service.accept(ev)
    except service.EventRefused as exc:
        within = ratelimit.count("refused_event")
        if within:  # over the limit: no log line per forged event either
            log.warning("event %s refused for member=%s: %s", ev.event, ev.member_id, exc.reason)
        return _refused(jsonify(error="refused"), exc.status, within)
    if inbox_id is not None:
        try:
            process_event(inbox_id)
        except Exception:  # the row is stored; the sweeper or a retry will process it
            log.exception("event %s inbox=%s: processing deferred", ev.event, inbox_id)
    return jsonify(result="ok", duplicate=inbox_id is None)


def _refused(body, status: int, within: bool | None = None):
    """A refusal, or a 429 once this address has been refused too often (accepted events are never counted)."""
    if ratelimit.count("refused_event") if within is None else within:
        return body, status
    return jsonify(error="too_many_requests", message=message("http.429")), 429, {"Retry-After": "60"}
