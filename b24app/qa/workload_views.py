"""The «Мои звонки на оценку» settings section: a reviewer's queue, any queue for admins, «Передать карточки…»."""

from __future__ import annotations

import logging

from flask import Blueprint, abort, g, redirect, request, url_for

from ..bitrix import errors as E
from ..extensions import db
from ..portals.frame import frame_api, require_role
from ..portals.models import Portal
from ..portals.roles import names_for
from ..portals.routes import render_settings
from ..portals.sections import register
from . import clock, workload, workload_texts  # noqa: F401  (workload_texts registers the section's messages)

log = logging.getLogger(__name__)
bp = Blueprint("workload", __name__)
NOTICES = ("workload.reassigned", "workload.nothing_moved")


def _choices(viewer) -> list[int]:
    """Whose queue this viewer may open: an admin any reviewer's (and his own), a reviewer only his own."""
    if not viewer.has("admin"):
        return [viewer.user_id]
    every = workload.reviewers(viewer.portal_id)
    return every + ([viewer.user_id] if viewer.user_id not in every else [])


def _context(viewer) -> dict:
    if not (viewer.has("qa") or viewer.has("admin")):
        return {"queue": None}
    pid = viewer.portal_id
    choices = _choices(viewer)
    own_first = viewer.has("qa") or len(choices) == 1
    shown = g.get("queue_reviewer") or (viewer.user_id if own_first else choices[0])
    gone = workload.absent(pid, choices)
    items = workload.queue(pid, shown)
    names = names_for(pid, [*choices, *(i.draft_by for i in items)])
    return {"queue": {
        "reviewer": shown, "own": shown == viewer.user_id, "rows": items, "counts": workload.counts(pid, shown),
        "tz": clock.portal_tz(pid), "choices": choices, "absent": gone, "names": names,
        "is_reviewer": shown in workload.reviewers(pid), "can_switch": viewer.has("admin"),
    }}


register("workload", "qa/_queue_section.html", _context, first=True, notices=NOTICES)


def _reviewer_arg(raw: str | None) -> int | None:
    raw = (raw or "").strip()
    return int(raw) if raw.isdigit() and len(raw) <= 12 else None


@bp.get("/b24/qa/queue")
@frame_api
@require_role("qa", "admin")
def queue_view():
    """The settings page with one reviewer's queue in its first section (an admin switching queues)."""
    raw = request.args.get("reviewer")
    if raw is not None:
        rid = _reviewer_arg(raw)
        if rid is None or rid not in _choices(g.viewer):
            if rid is not None and not g.viewer.has("admin"):
                abort(403)
            return render_settings("workload.bad_reviewer", "error", 400)
        g.queue_reviewer = rid
    msg = request.args.get("msg")
    return render_settings(msg if msg in NOTICES else None)


@bp.post("/b24/qa/queue/reassign")
@frame_api
@require_role("admin")
def reassign():
    rid = _reviewer_arg(request.form.get("reviewer_id"))
    if rid is None:
        return render_settings("workload.bad_reviewer", "error", 400)
    portal = db.session.get(Portal, g.viewer.portal_id)
    try:
        res = workload.reassign(portal, rid, g.viewer.user_id)
    except workload.WorkloadRefused as exc:
        db.session.rollback()
        if exc.key != "workload.unknown_reviewer":
            g.queue_reviewer = rid
        return render_settings(exc.key, "error", exc.status)
    except E.BitrixError as exc:
        db.session.rollback()
        log.warning("portal=%s: reassign of %s failed: %s", portal.member_id, rid, exc.code)
        g.queue_reviewer = rid
        return render_settings("workload.portal_unavailable", "error", 503)
    key = "workload.reassigned" if res.moved else "workload.nothing_moved"
    return redirect(url_for("workload.queue_view", ft=g.frame_token, reviewer=rid, msg=key), 303)
