"""The topic catalogue section of the settings page (LEFT_MENU): the admin's forms and the drag-and-drop order."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, redirect, request, url_for

from ..messages import message
from ..portals.frame import frame_api, require_role
from ..portals.routes import render_settings
from ..portals.sections import register
from ..qa.checklists import checklists
from . import catalogue as cat
from .service import USAGE_DAYS, catalogue, settings_for, usage

bp = Blueprint("topic_catalogue", __name__)


def _context(viewer) -> dict:
    pid = viewer.portal_id
    every = catalogue(pid, include_archived=True)
    lists = checklists(pid, include_archived=True)
    active = [t for t in every if not t.archived]
    return {
        "topic_groups": cat.grouped(active), "topic_next_color": cat.PALETTE[len(active) % len(cat.PALETTE)],
        "topic_archive": [t for t in every if t.archived],
        "topic_usage": usage(pid), "topic_used": cat.used_ids(pid), "topic_usage_days": USAGE_DAYS,
        "topic_settings": settings_for(pid), "topic_palette": cat.PALETTE,
        "topic_checklists": [c for c in lists if not c.archived],
        "topic_checklist_names": {c.id: c.name for c in lists},
        "topic_checklist_summary": cat.checklist_summary(pid),
        "topic_errors": g.get("catalogue_errors") or [],
        "topic_form": g.get("catalogue_form"), "topic_form_for": g.get("catalogue_form_for"),
    }


register("topics", "topics/catalogue_section.html", _context)


def _refused(exc: cat.CatalogueInvalid, form_for: str | int | None = None):
    """Render the page again with the admin's input kept and every problem named; nothing was saved."""
    g.catalogue_errors = [message(k) for k in exc.keys]
    g.catalogue_form, g.catalogue_form_for = request.form, form_for
    return render_settings(exc.keys[0], "error", exc.status)


def _done(key: str):
    return redirect(url_for("portals.settings", ft=g.frame_token, msg=key), 303)


def _run(key: str, action, form_for: str | int | None = None):
    try:
        action()
    except cat.CatalogueInvalid as exc:
        return _refused(exc, form_for)
    return _done(key)


@bp.post("/b24/topics/catalogue")
@frame_api
@require_role("admin")
def add_topic():
    return _run("catalogue.added", lambda: cat.add(g.viewer.portal_id, request.form), "new")


@bp.post("/b24/topics/catalogue/<int:topic_id>")
@frame_api
@require_role("admin")
def update_topic(topic_id: int):
    return _run("catalogue.saved", lambda: cat.update(g.viewer.portal_id, topic_id, request.form), topic_id)


@bp.post("/b24/topics/catalogue/<int:topic_id>/archive")
@frame_api
@require_role("admin")
def archive_topic(topic_id: int):
    return _run("catalogue.archived", lambda: cat.archive(g.viewer.portal_id, topic_id))


@bp.post("/b24/topics/catalogue/<int:topic_id>/restore")
@frame_api
@require_role("admin")
def restore_topic(topic_id: int):
    return _run("catalogue.restored", lambda: cat.restore(g.viewer.portal_id, topic_id))


@bp.post("/b24/topics/catalogue/<int:topic_id>/delete")
@frame_api
@require_role("admin")
def delete_topic(topic_id: int):
    return _run("catalogue.deleted", lambda: cat.delete(g.viewer.portal_id, topic_id))


@bp.post("/b24/topics/catalogue/<int:topic_id>/move")
@frame_api
@require_role("admin")
def move_topic(topic_id: int):
    step = -1 if request.form.get("direction") == "up" else 1
    return _run("catalogue.reordered", lambda: cat.move(g.viewer.portal_id, topic_id, step))


@bp.post("/b24/topics/catalogue/groups/move")
@frame_api
@require_role("admin")
def move_group():
    step = -1 if request.form.get("direction") == "up" else 1
    return _run("catalogue.reordered", lambda: cat.move_group(g.viewer.portal_id, request.form.get("group", ""), step))


@bp.post("/b24/topics/catalogue/order")
@frame_api
@require_role("admin")
def reorder():
    """The whole order at once (drag and drop posts it with fetch and wants JSON back)."""
    wants_json = request.accept_mimetypes.best == "application/json"
    try:
        topics = cat.reorder(g.viewer.portal_id, request.form.getlist("ids"))
    except cat.CatalogueInvalid as exc:
        if wants_json:
            return jsonify(error=message(exc.keys[0])), exc.status
        return _refused(exc)
    if wants_json:
        return jsonify(ids=[t.id for t in topics])
    return _done("catalogue.reordered")


@bp.post("/b24/topics/settings")
@frame_api
@require_role("admin")
def save_settings():
    return _run("catalogue.settings_saved", lambda: cat.save_settings(g.viewer.portal_id, request.form), "settings")
