"""The «Аналитика» settings section: thresholds, the working schedule, holidays, the plan, the missed target."""

from __future__ import annotations

from flask import g, redirect, request, url_for
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models_base import store_if_unchanged, utcnow
from ..portals.frame import frame_api, require_role
from ..portals.routes import render_settings
from ..portals.sections import register
from . import recount
from . import settings_form as sf
from .blueprint import bp
from .models import AnalyticsSettings, StatsDirty
from .settings import load, russian_holidays

# Who reads the section; only admins change it. Managers see the link to the analytics, not the rules.
READERS = ("admin", "director", "qa")
SAVED, SAVED_RECOUNT = "analytics_settings.saved", "analytics_settings.saved_recount"


def _today(portal_id: int):
    return utcnow().astimezone(recount.portal_tz(portal_id)).date()


def _context(viewer) -> dict:
    if not any(viewer.has(r) for r in READERS):
        return {"analytics_settings": None}
    pid = viewer.portal_id
    stored = load(pid)
    kept = g.get("analytics_settings_form")
    form = kept if kept is not None else sf.fields(stored)
    year = _today(pid).year
    pending = db.session.scalar(select(func.count()).select_from(StatsDirty).where(StatsDirty.portal_id == pid))
    return {"analytics_settings": {
        "can_edit": viewer.has("admin"), "form": form,
        # a stale form keeps the admin's values but carries the version now stored, so saving again applies them
        "version": g.get("analytics_settings_version") or form.get("version") or str(stored.version),
        "errors": g.get("analytics_settings_errors") or [], "weekdays": sf.WEEKDAYS,
        "year": year, "calendar": sf.runs(russian_holidays(year)), "recounting": pending or 0,
    }}


register("analytics", "analytics/_settings_section.html", _context, notices=(SAVED, SAVED_RECOUNT))


def _refused(texts: list[str], key: str, status: int):
    g.analytics_settings_errors, g.analytics_settings_form = texts, request.form
    return render_settings(key, "error", status)


def store(portal_id: int, values: sf.Values, opened: int, user_id: int) -> bool:
    """Write the values if the settings are still at version `opened` (0: never saved); False when not.
    In the caller's transaction."""
    columns = {
        "success_seconds": values.success_seconds, "callback_hours": values.callback_hours,
        "service_level_seconds": values.service_level_seconds, "schedule": values.schedule,
        "russian_holidays": values.russian_holidays, "holidays": values.holidays, "workdays": values.workdays,
        "plan": values.plan, "missed_target": values.missed_target, "updated_by": user_id, "updated_at": utcnow(),
    }
    return store_if_unchanged(AnalyticsSettings, portal_id, opened, columns)


@bp.post("/b24/analytics/settings")
@frame_api
@require_role("admin")
def save_settings():
    pid = g.viewer.portal_id
    opened = sf.version_of(request.form)
    if opened is None:
        return _refused([sf.text("analytics_settings.bad_version")], "analytics_settings.bad_version", 400)
    try:
        values = sf.parse(request.form, _today(pid))
    except sf.SettingsInvalid as exc:
        return _refused(exc.texts(), "analytics_settings.invalid", 400)
    before = load(pid).recount_key
    try:
        stored = store(pid, values, opened, g.viewer.user_id)
    except IntegrityError:  # another admin's first save won the insert
        stored = False
    if not stored:
        db.session.rollback()
        g.analytics_settings_version = str(load(pid).version)
        return _refused([sf.text("analytics_settings.stale")], "analytics_settings.stale", 409)
    db.session.expire_all()
    changed = load(pid).recount_key != before
    if changed:
        # Marked in the same transaction as the settings: a crash before the recount leaves marked days
        # (the sweep recounts them), never new settings over figures counted by the old ones.
        recount.mark_all(pid)
    db.session.commit()
    if changed:
        recount.kick(pid)
    return redirect(url_for("portals.settings", ft=g.frame_token, msg=SAVED_RECOUNT if changed else SAVED), 303)
