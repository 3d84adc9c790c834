"""Portal-facing pages: the install handler, the settings page (LEFT_MENU) and its role section."""

from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, request, url_for

from .. import ratelimit
from ..bitrix import errors as E
from ..manifest import load_manifest
from ..messages import message, role_label
from . import lifecycle, roles
from .frame import frame_api, frame_request, placement_view, require_role
from .models import ROLES
from .sections import NOTICES as SECTION_NOTICES
from .sections import SECTIONS

bp = Blueprint("portals", __name__)
NOTICES = ("roles.saved", "roles.revoked", "calls.import_started", "calls.rules_saved", "calls.rules_reapplied",
           "catalogue.added", "catalogue.saved", "catalogue.archived", "catalogue.restored", "catalogue.deleted",
           "catalogue.reordered", "catalogue.settings_saved")


@bp.post("/b24/install")
def install():
    ratelimit.enforce("install")
    req = frame_request()
    g.frame_origin = req.origin
    g.locale = req.lang if req.lang in ("ru", "en") else "ru"
    try:
        lifecycle.install(req)
    except lifecycle.InstallRefused as exc:
        return render_template("error.html", text=message(exc.message_key)), exc.status
    except E.BitrixError:
        return render_template("error.html", text=message("frame.portal_unavailable")), 502
    man = load_manifest()
    return render_template("portals/install.html", placements=len(man.placements), events=len(man.events))


def render_settings(notice_key: str | None = None, kind: str = "ok", status: int = 200):
    v = g.viewer
    users = roles.users(v.portal_id)
    extra: dict = {}
    for section in SECTIONS:
        extra.update(section.context(v))
    return render_template(
        "portals/settings.html", viewer=v, viewer_roles=sorted(v.roles), grants=roles.grants(v.portal_id),
        users=users, names={u.user_id: u.name for u in users}, roles=ROLES, role_label=role_label,
        can_edit=v.has("admin"), notice=message(notice_key) if notice_key else None, notice_kind=kind,
        sections=SECTIONS, **extra,
    ), status


@bp.route("/b24/app", methods=["GET", "POST"])
@placement_view
def settings():
    msg = request.args.get("msg")
    return render_settings(msg if msg in NOTICES or msg in SECTION_NOTICES else None)


@bp.post("/b24/settings/roles")
@frame_api
@require_role("admin")
def grant_role():
    raw_user = (request.form.get("user_id") or "").strip()
    if not raw_user.isdigit():
        return render_settings("roles.bad_user", "error", 400)
    try:
        roles.grant(g.viewer.portal_id, int(raw_user), request.form.get("role", ""), g.viewer.user_id)
    except roles.RoleError as exc:
        return render_settings(exc.message_key, "error", 400)
    return redirect(url_for("portals.settings", ft=g.frame_token, msg="roles.saved"), 303)


@bp.post("/b24/settings/roles/<int:grant_id>/delete")
@frame_api
@require_role("admin")
def revoke_role(grant_id: int):
    if not roles.revoke(g.viewer.portal_id, grant_id):
        return render_settings("roles.not_found", "error", 404)
    return redirect(url_for("portals.settings", ft=g.frame_token, msg="roles.revoked"), 303)


