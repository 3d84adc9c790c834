"""The QA card's detail tab (CRM_DYNAMIC_<id>_DETAIL_TAB): the reviewer's scoring form, its saves and the recording."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import requests
from flask import Blueprint, Response, g, jsonify, render_template, request, stream_with_context

from ..bitrix import errors as E
from ..extensions import db
from ..messages import message
from ..portals.frame import frame_api, placement_view
from ..portals.models import Portal
from ..portals.rest import client_for
from ..portals.roles import names_for
from . import clock, history, review
from . import review_texts as _texts  # noqa: F401  (registers the form's messages)
from .scoring import SCALES

log = logging.getLogger(__name__)
bp = Blueprint("qa", __name__)
RECORD_CHUNK = 64 * 1024
RECORD_MAX = 64 * 1024 * 1024  # a recording longer than this is streamed, not sliced


def _item_id_from_placement() -> int | None:
    raw = str((g.placement.options if g.get("placement") else {}).get("ID", "")).strip()
    return int(raw) if raw.isdigit() and len(raw) <= 12 else None


def _refused(exc: review.ReviewRefused):
    text = message(exc.key)
    if exc.key == "review.held" and exc.details.get("by"):
        text = f"{text} ({exc.details['by']})"
    return jsonify(error=text, key=exc.key, **{k: v for k, v in exc.details.items() if k != "by"}), exc.status


def _render(item_id: int | None):
    if item_id is None:
        return render_template("error.html", text=message("review.no_card")), 404
    try:
        st = review.load(g.viewer, item_id)
    except review.ReviewRefused as exc:
        return render_template("error.html", text=message(exc.key)), exc.status
    tz = clock.portal_tz(g.viewer.portal_id)
    events = history.history_for(g.viewer.portal_id, item_id)
    names = st.names | names_for(g.viewer.portal_id, [e.actor_id for e in events])
    topics = []
    if st.score is None and st.may_score or (st.refusal == "review.no_checklist" and review.is_scorer(g.viewer)):
        from ..topics.service import catalogue  # topics sit above qa

        topics = [t for t in catalogue(g.viewer.portal_id) if t.checklist_id]
    return render_template(
        "qa/card_form.html", st=st, viewer=g.viewer, tz=tz, local=clock.local, events=events, names=names,
        label=history.label, topics=topics, scales=SCALES, refusal=message(st.refusal) if st.refusal else None,
        item_id=item_id)


@bp.route("/b24/qa/card", methods=["GET", "POST"])
@placement_view(accept=(r"CRM_DYNAMIC_\d+_DETAIL_TAB",))
def card_tab():
    item_id = _item_id_from_placement() if g.get("placement") else request.args.get("item", type=int)
    return _render(item_id)


def _json_body():
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else None


SAVED = {"draft": "review.draft_saved", "submitted": "review.submitted", "unscorable": "review.marked_unscorable"}


def write_json(action, target_id: int, saved: dict[str, str] = SAVED):
    """A form's JSON save: parse, call the service with the viewer, answer the score's state or the refusal.

    The card's form and a calibration's form both post here; `saved` names the notice for each status.
    """
    data = _json_body()
    try:
        if data is None:
            raise review.ReviewRefused("review.bad_form", 400)
        score = action(g.viewer, target_id, data)
    except review.ReviewRefused as exc:
        return _refused(exc)
    return jsonify(ok=True, status=score.status, revision=score.revision, percent=score.percent,
                   critical_failed=score.critical_failed, message=message(saved[score.status]))


@bp.post("/b24/qa/card/<int:item_id>/draft")
@frame_api
def save_draft(item_id: int):
    return write_json(review.save_draft, item_id)


@bp.post("/b24/qa/card/<int:item_id>/submit")
@frame_api
def submit(item_id: int):
    return write_json(review.submit, item_id)


@bp.post("/b24/qa/card/<int:item_id>/unscorable")
@frame_api
def unscorable(item_id: int):
    return write_json(review.unscorable, item_id)


@bp.post("/b24/qa/card/<int:item_id>/topic")
@frame_api
def choose_topic(item_id: int):
    """A card without a topic: the reviewer picks it here, which picks the checklist."""
    from ..topics import service as topics

    data = _json_body() or request.form
    raw = str(data.get("topic_id") or "").strip()
    call = review.card_call(g.viewer.portal_id, item_id)
    if call is None:
        return _refused(review.ReviewRefused("review.no_card", 404))
    if not review.is_scorer(g.viewer):
        return _refused(review.ReviewRefused("review.not_reviewer", 403))
    if not raw.isdigit() or len(raw) > 12:
        return jsonify(error=message("topics.unknown"), key="topics.unknown"), 400
    if review.real_score(g.viewer.portal_id, item_id) is not None:
        return _refused(review.ReviewRefused("review.topic_locked", 409))
    try:
        topics.choose(g.viewer.portal_id, call.call_id, int(raw), g.viewer.user_id, "card", privileged=True)
    except topics.TopicRefused as exc:
        return jsonify(error=message(exc.key), key=exc.key), exc.status
    return jsonify(ok=True)


@bp.get("/b24/qa/card/<int:item_id>/record")
@frame_api
def record(item_id: int):
    """The call's recording, fetched from the portal's Disk with the app's token and streamed to the player.

    The portal's download links need the portal's authorisation, which the browser inside our iframe does
    not have; only the portal's own host is ever fetched (the URL comes from the portal, but is checked).
    """
    v = g.viewer
    call = review.card_call(v.portal_id, item_id)
    if call is None or not (review.is_scorer(v) or v.has("director") or call.portal_user_id == v.user_id):
        return jsonify(error=message("review.no_card"), key="review.no_card"), 404
    return stream_record(v.portal_id, call.record_file_id)


def stream_record(portal_id: int, record_file_id: int | None):
    """A recording on the portal's Disk as the player's answer, byte ranges honoured; the caller has
    already decided the viewer may hear it (the QA card's tab, the analytics call page)."""
    if not record_file_id:
        return jsonify(error=message("review.no_record"), key="review.no_record"), 404
    portal = db.session.get(Portal, portal_id)
    try:
        info = client_for(portal.member_id, max_attempts=2).call("disk.file.get", {"id": record_file_id}).result
    except E.BitrixError as exc:
        status = 404 if exc.code in ("ERROR_NOT_FOUND", "NOT_FOUND") else 502
        key = "review.no_record" if status == 404 else "review.record_unavailable"
        return jsonify(error=message(key), key=key), status
    url = str((info or {}).get("DOWNLOAD_URL") or "")
    if urlsplit(url).hostname != urlsplit(portal.client_endpoint).hostname:
        log.warning("portal=%s: a recording URL off the portal's host was refused", portal.member_id)
        return jsonify(error=message("review.record_unavailable"), key="review.record_unavailable"), 502
    headers = {"Range": request.headers["Range"]} if "Range" in request.headers else {}
    try:
        upstream = requests.get(url, headers=headers, stream=True, timeout=(5, 30))
    except requests.RequestException:
        return jsonify(error=message("review.record_unavailable"), key="review.record_unavailable"), 502
    if upstream.status_code not in (200, 206):
        upstream.close()
        return jsonify(error=message("review.no_record"), key="review.no_record"), 404
    name = str(info.get("NAME") or "")
    ctype = upstream.headers.get("Content-Type", "")
    if not ctype.startswith("audio/"):
        ctype = "audio/wav" if name.lower().endswith(".wav") else "audio/mpeg"
    out = {"Content-Type": ctype, "Accept-Ranges": "bytes", "Cache-Control": "private, no-store"}
    wanted = _byte_range(request.headers.get("Range", ""))
    if wanted is not None and upstream.status_code == 200:
        # The portal ignored the range: answer it from the whole file, so the player can seek (±10 s).
        body = upstream.raw.read(RECORD_MAX + 1, decode_content=True)
        upstream.close()
        if len(body) > RECORD_MAX:
            return jsonify(error=message("review.record_unavailable"), key="review.record_unavailable"), 502
        start, end = wanted
        end = len(body) - 1 if end is None or end >= len(body) else end
        if start >= len(body) or start > end:
            return Response(status=416, headers={"Content-Range": f"bytes */{len(body)}"})
        out["Content-Range"] = f"bytes {start}-{end}/{len(body)}"
        return Response(body[start:end + 1], status=206, headers=out)
    for h in ("Content-Length", "Content-Range"):
        if h in upstream.headers:
            out[h] = upstream.headers[h]
    return Response(stream_with_context(upstream.iter_content(RECORD_CHUNK)), status=upstream.status_code,
                    headers=out)


def _byte_range(header: str) -> tuple[int, int | None] | None:
    """`bytes=a-b` or `bytes=a-` as (a, b); anything else (several ranges, suffixes) is served whole."""
    unit, _, spec = header.partition("=")
    first, dash, last = spec.strip().partition("-")
    if unit.strip() != "bytes" or not dash or not first.isdigit() or (last and not last.isdigit()):
        return None
    return int(first), int(last) if last else None
