"""Call settings endpoints inside the settings page: import progress and a new import."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, redirect, request, url_for

from ..extensions import db
from ..portals.frame import frame_api, require_role
from ..portals.models import Portal
from ..portals.routes import render_settings
from ..portals.sections import register
from . import rules_form
from .history import start_import
from .progress import progress

bp = Blueprint("calls", __name__)


def _import_context(viewer) -> dict:
    return {"import_progress": progress(viewer.portal_id)}


def _rules_context(viewer) -> dict:
    from ..portals.roles import departments, users

    people = users(viewer.portal_id)
    return {"call_rules": rules_form.current(viewer.portal_id), "rule_users": people,
            "rule_departments": departments(viewer.portal_id), "rule_lines": rules_form.lines_seen(viewer.portal_id)}


def _days(form) -> int | None:
    """A number of past days for an import or a re-apply: 1 to 365."""
    raw = (form.get("days") or "").strip()
    return int(raw) if raw.isdigit() and 1 <= int(raw) <= 365 else None


register("rules", "calls/_rules_section.html", _rules_context)
register("import", "calls/_import_section.html", _import_context)


@bp.get("/b24/calls/import/status")
@frame_api
def import_status():
    return jsonify(progress(g.viewer.portal_id))


@bp.post("/b24/calls/import")
@frame_api
@require_role("admin")
def import_start():
    days = _days(request.form)
    if days is None:
        return render_settings("calls.bad_days", "error", 400)
    start_import(db.session.get(Portal, g.viewer.portal_id), days)
    return redirect(url_for("portals.settings", ft=g.frame_token, msg="calls.import_started"), 303)


@bp.post("/b24/calls/rules")
@frame_api
@require_role("admin")
def save_rules():
    try:
        rules = rules_form.parse(request.form)
    except rules_form.RulesInvalid as exc:
        return render_settings(exc.keys[0], "error", 400)
    rules_form.save(g.viewer.portal_id, rules)
    return redirect(url_for("portals.settings", ft=g.frame_token, msg="calls.rules_saved"), 303)


@bp.post("/b24/calls/rules/reapply")
@frame_api
@require_role("admin")
def reapply_rules():
    days = _days(request.form)
    if days is None:
        return render_settings("calls.bad_days", "error", 400)
    rules_form.reapply(g.viewer.portal_id, days)
    return redirect(url_for("portals.settings", ft=g.frame_token, msg="calls.rules_reapplied"), 303)
