"""The read-only result of a score for its manager and the arbiter: the page and its three actions.

Opened two ways: from the chat message's personal link (`/b24/qa/result?auth=<signed link>`, outside
any placement: the link names the portal, the user and the score, and is the credential of the page
and of its forms), or inside the app with a frame token (`/b24/qa/scores/<id>?ft=…`).
"""

from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, request, url_for

from .. import ratelimit
from ..extensions import db
from ..messages import message
from ..portals.frame import FrameRefused, frame_api, mint_frame_token, viewer_from_token
from ..portals.models import Portal
from ..security import cross_site
from . import clock, feedback, history, scoring
from .feedback import FeedbackRefused

bp = Blueprint("qa_feedback", __name__)
NOTICES = ("feedback.acknowledged", "feedback.disputed", "feedback.kept", "feedback.changed")


class _Access:
    """The credential a request carries: a personal link (`auth`) or a frame token."""

    def __init__(self, actor: feedback.Actor, link: str | None, score_id: int | None, lang: str):
        self.actor, self.link, self.score_id, self.lang = actor, link, score_id, lang


def _from_link(token: str) -> _Access:
    portal, score_id, user_id = feedback.read_link(token)
    g.locale = portal.language if portal.language in ("ru", "en") else "ru"
    g.frame_origin = portal.origin  # the portal may open it in its slider
    return _Access(feedback.link_actor(portal, user_id), token, score_id, g.locale)


def _from_frame(token: str) -> _Access:
    viewer = viewer_from_token(token)
    portal = db.session.get(Portal, viewer.portal_id)
    g.viewer, g.frame_token, g.frame_origin = viewer, mint_frame_token(viewer, portal), portal.origin
    return _Access(feedback.actor_of(viewer), None, None, viewer.lang)


def _render(access: _Access, score_id, notice: str | None = None, kind: str = "ok", status: int = 200):
    try:
        res = feedback.result(access.actor, score_id)
    except FeedbackRefused as exc:
        return _error(exc)
    tz = clock.portal_tz(access.actor.portal_id)
    resp = render_template(
        "qa/result.html", r=res, access=access, tz=tz, local=clock.local, label=history.label,
        percent=lambda p: feedback.percent_text(p, access.lang), answer_text=_answer_text,
        scales=scoring.SCALES, scale_of=scoring.scale_of, items=scoring.items, notice=notice, notice_kind=kind,
        text_max=feedback.TEXT_MAX)
    return resp, status, {"Cache-Control": "no-store"}


def _error(exc: FeedbackRefused | FrameRefused):
    key = exc.key if isinstance(exc, FeedbackRefused) else exc.message_key
    return render_template("error.html", text=message(key)), exc.status, {"Cache-Control": "no-store"}


def _answer_text(item: dict, value) -> str:
    from flask_babel import gettext as _

    if value is None or value == "":
        return "—"
    if value == "na":
        return _("не применимо")
    if scoring.scale_of(item) == "points":
        return _("%(n)s из %(max)s", n=value, max=item.get("max_points"))
    return {"yes": _("да"), "partly": _("частично"), "no": _("нет")}.get(value, str(value))


@bp.get("/b24/qa/result")
def result_link():
    """The result, opened from the chat message (the signed link is the credential)."""
    ratelimit.enforce("prompt")
    try:
        access = _from_link(request.args.get("auth", ""))
    except FeedbackRefused as exc:
        return _error(exc)
    msg = request.args.get("msg")
    return _render(access, access.score_id, message(msg) if msg in NOTICES else None)


@bp.get("/b24/qa/scores/<int:score_id>")
@frame_api
def result_page(score_id: int):
    """The same page inside the app (a frame token in `?ft=`)."""
    access = _Access(feedback.actor_of(g.viewer), None, None, g.viewer.lang)
    msg = request.args.get("msg")
    return _render(access, score_id, message(msg) if msg in NOTICES else None)


def _access_for_post() -> tuple[_Access, int | None]:
    """Who posts, and about which score; a page elsewhere, a forged link or no credential is refused."""
    if cross_site():
        raise FrameRefused("frame.cross_site", 403)
    link = request.form.get("auth")
    if link:
        access = _from_link(link)
        return access, access.score_id
    token = request.headers.get("X-Frame-Token") or request.form.get("frame_token")
    if not token:
        raise FrameRefused("frame.token_missing", 401)
    access = _from_frame(token)
    raw = request.form.get("score_id", "")
    return access, int(raw) if raw.isdigit() and len(raw) <= 18 else None


def _act(action, done_key: str):
    try:
        access, score_id = _access_for_post()
    except (FeedbackRefused, FrameRefused) as exc:
        return _error(exc)
    if score_id is None:
        return _error(FeedbackRefused("feedback.not_found", 404))
    try:
        action(access.actor, score_id)
    except FeedbackRefused as exc:
        db.session.rollback()
        return _render(access, score_id, message(exc.key), "error", exc.status)
    if access.link:
        return redirect(url_for("qa_feedback.result_link", auth=access.link, msg=done_key), 303)
    return redirect(url_for("qa_feedback.result_page", score_id=score_id, ft=g.frame_token, msg=done_key), 303)


@bp.post("/b24/qa/feedback/acknowledge")
def acknowledge():
    return _act(lambda actor, sid: feedback.acknowledge(actor, sid, request.form.get("revision")),
                "feedback.acknowledged")


@bp.post("/b24/qa/feedback/dispute")
def dispute():
    return _act(lambda actor, sid: feedback.dispute(actor, sid, request.form.get("revision"),
                                                    request.form.get("comment")), "feedback.disputed")


@bp.post("/b24/qa/feedback/decide")
def decide():
    outcome = request.form.get("outcome")

    def run(actor, sid):
        feedback.decide(actor, sid, request.form.get("revision"), outcome, request.form.get("reason"),
                        request.form)

    return _act(run, "feedback.changed" if outcome == "change" else "feedback.kept")
