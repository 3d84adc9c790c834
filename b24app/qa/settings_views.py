"""The «Оценка качества» settings section: the dispute window, the arbiter, the manager's message, the weekly quota."""

from __future__ import annotations

from flask import Blueprint, g, redirect, request, url_for
from sqlalchemy import select

from ..extensions import db
from ..portals.frame import frame_api, require_role
from ..portals.models import PortalUser
from ..portals.roles import names_for, users
from ..portals.routes import render_settings
from ..portals.sections import register
from . import feedback, history
from .feedback import FeedbackRefused

bp = Blueprint("qa_settings", __name__)
QUOTA_MAX = 50


def _context(viewer) -> dict:
    pid = viewer.portal_id
    settings = feedback.settings_of(pid)  # reading the page never writes
    arbiter = settings.arbiter_id
    return {"qa_settings": {
        "row": settings, "users": users(pid), "can_edit": viewer.has("admin"),
        "arbiter_name": names_for(pid, [arbiter]).get(arbiter) if arbiter else None,
        "admins": list(names_for(pid, feedback.admins(pid)).values()),
        "form": g.get("qa_settings_form"), "days_max": feedback.DISPUTE_DAYS_MAX, "quota_max": QUOTA_MAX,
    }}


register("qa_settings", "qa/_qa_settings_section.html", _context, notices=("qa_settings.saved",))


def _number(raw, top: int, key: str) -> int:
    raw = (raw or "").strip() if isinstance(raw, str) else raw
    if not isinstance(raw, str) or not raw.isdigit() or len(raw) > 3 or int(raw) > top:
        raise FeedbackRefused(key, 400)
    return int(raw)


def parse(portal_id: int, form) -> dict:
    """Validated values from the section's form; the first problem refuses all of it."""
    days = _number(form.get("dispute_days"), feedback.DISPUTE_DAYS_MAX, "qa_settings.bad_days")
    quota = _number(form.get("weekly_quota"), QUOTA_MAX, "qa_settings.bad_quota")
    raw = (form.get("arbiter_id") or "").strip()
    arbiter = None
    if raw:
        if not raw.isdigit() or len(raw) > 12:
            raise FeedbackRefused("qa_settings.bad_arbiter", 400)
        known = db.session.scalar(select(PortalUser.id).where(PortalUser.portal_id == portal_id,
                                                              PortalUser.user_id == int(raw),
                                                              PortalUser.active.is_(True)))
        if known is None:
            raise FeedbackRefused("qa_settings.bad_arbiter", 400)
        arbiter = int(raw)
    flags = form.getlist("notify_manager") if hasattr(form, "getlist") else [form.get("notify_manager", "0")]
    if any(v not in ("0", "1") for v in flags) or len(flags) > 2:
        raise FeedbackRefused("qa_settings.bad_flag", 400)
    return {"dispute_days": days, "weekly_quota": quota, "arbiter_id": arbiter, "notify_manager": "1" in flags}


def save(portal_id: int, form) -> None:
    values = parse(portal_id, form)
    row = history.settings_for(portal_id)
    for k, v in values.items():
        setattr(row, k, v)
    db.session.commit()


@bp.post("/b24/qa/settings")
@frame_api
@require_role("admin")
def save_settings():
    try:
        save(g.viewer.portal_id, request.form)
    except FeedbackRefused as exc:
        db.session.rollback()
        g.qa_settings_form = request.form
        return render_settings(exc.key, "error", exc.status)
    return redirect(url_for("portals.settings", ft=g.frame_token, msg="qa_settings.saved"), 303)
