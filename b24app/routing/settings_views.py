"""The «Распределение звонков» settings section: which deals decide a contact's responsible, who never receives
contacts, the PBX fallback and key, callback tasks for lost calls, and the bulk alignment (dry run, run, undo)
with its progress and history. Admins edit; directors and QA reviewers read."""

from __future__ import annotations

import logging
from datetime import datetime

from flask import Blueprint, abort, current_app, g, jsonify, redirect, request, url_for
from flask_babel import lazy_gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..analytics.recount import portal_tz
from ..bitrix import errors as E
from ..extensions import db
from ..messages import message, register
from ..portals.frame import frame_api, require_role
from ..portals.models import Portal
from ..portals.roles import names_for
from ..portals.routes import render_settings
from ..portals.sections import register as register_section
from . import settings_store as store
from .models import AlignmentRun

log = logging.getLogger(__name__)
bp = Blueprint("routing_settings", __name__)

READERS = ("admin", "director", "qa")
WATCHERS = ("admin", "director")   # the run's status route
ANCHOR = "routing"
SAVED, STARTED, UNDO_STARTED = "routing_settings.saved", "routing_settings.run_started", "routing_settings.undo_started"
SAMPLE = 50

register({
    SAVED: _("Настройки распределения звонков сохранены."),
    STARTED: _("Прогон запущен: его ход — в блоке «Выравнивание ответственных» ниже."),
    UNDO_STARTED: _("Отмена прогона запущена: ответственные возвращаются к прежним."),
    "routing_settings.key_created": _("Ключ для АТС создан. Скопируйте его сейчас: больше он показан не будет."),
    "routing_settings.invalid": _("Настройки распределения звонков не сохранены: исправьте ошибки."),
    "routing_settings.stale": _("Пока форма была открыта, настройки распределения изменил другой администратор. "
                                "Ваши значения остались в форме: проверьте их и сохраните ещё раз."),
    "routing_settings.bad_version": _("Форма настроек распределения повреждена. Обновите страницу."),
    "routing_settings.bad_flag": _("Флажок в настройках распределения: включено или выключено."),
    "routing_settings.unknown_category": _("Среди выбранных воронок есть воронка, которой нет на портале."),
    "routing_settings.unknown_stage": _("Среди выбранных стадий есть стадия, которой нет в выбранных воронках портала."),
    "routing_settings.bad_winner": _("Выберите, какая сделка решает, если у контакта их несколько."),
    "routing_settings.bad_on_excluded": _("Выберите, что делать с контактом сотрудника, которому контакты не передаются."),
    "routing_settings.unknown_user": _("Среди сотрудников, которым не передавать контакты, есть сотрудник, которого "
                                       "нет на портале или который уволен."),
    "routing_settings.bad_fallback": _("Выберите, куда направлять звонок без ответственного: сотруднику, в очередь или "
                                       "никуда."),
    "routing_settings.unknown_fallback_user": _("Выберите сотрудника портала, которому направлять звонки без "
                                                "ответственного."),
    "routing_settings.bad_queue": _("Название очереди АТС: от 1 до 64 символов."),
    "routing_settings.bad_hours": _("Срок задачи перезвонить — целое число часов от 1 до 72."),
    "routing_settings.portal_unavailable": _("Портал не ответил, настройки распределения не сохранены. "
                                             "Попробуйте ещё раз через минуту."),
    "routing_settings.bad_kind": _("Выберите прогон: пробный, применить или отменить."),
    "routing_settings.busy": _("Прогон уже идёт. Дождитесь его окончания и запустите снова."),
    "routing_settings.no_undo": _("Отменять нечего: нет завершённого прогона, который можно отменить."),
    "routing_settings.unavailable": _("Выравнивание ответственных сейчас недоступно."),
})

KIND_LABELS = {"dry": _("Пробный прогон"), "apply": _("Применение"), "undo": _("Отмена прогона")}
STATUS_LABELS = {"queued": _("В очереди"), "running": _("Идёт"), "done": _("Завершён"), "failed": _("Ошибка")}


def _alignment():
    """The bulk alignment module, or None while it is not installed (the section still shows the rules)."""
    try:
        from . import alignment
    except ImportError:
        return None
    return alignment


def _portal(portal_id: int) -> Portal:
    return db.session.get(Portal, portal_id)


def _when(moment: datetime | None, portal_id: int) -> str:
    return moment.astimezone(portal_tz(portal_id)).strftime("%d.%m.%Y %H:%M") if moment else ""


def _run_view(run: AlignmentRun) -> dict:
    return {"id": run.id, "kind": run.kind, "kind_text": str(KIND_LABELS.get(run.kind, run.kind)),
            "status": run.status, "status_text": str(STATUS_LABELS.get(run.status, run.status)),
            "progress": int(run.progress or 0), "stage": run.stage, "planned": int(run.planned or 0),
            "applied": int(run.applied or 0), "deals_read": int(run.deals_read or 0), "deals_total": run.deals_total,
            "error": run.error if run.status == "failed" else "", "undo_of": run.undo_of}


def _pbx_path() -> str:
    """The routing answer's path, as the PBX helper's blueprint registers it (found by name, so this
    section does not hard-code another module's URL)."""
    for rule in current_app.url_map.iter_rules():
        if rule.endpoint.startswith("routing_pbx.") or (rule.endpoint.startswith("routing") and "pbx" in rule.rule
                                                        and "GET" in (rule.methods or ())):
            return rule.rule
    return "/b24/routing/pbx"


def _alignment_context(pid: int, origin: str) -> dict:
    al = _alignment()
    if al is None:
        return {"available": False}
    latest = al.latest(pid)
    runs = al.history(pid, limit=10)
    out: dict = {"available": True, "latest": _run_view(latest) if latest else None,
                 "history": [{**_run_view(r), "created": _when(r.created_at, pid)} for r in runs],
                 "counts": [], "sample": [], "dry_total": None, "undo": None}
    if latest is not None and latest.status == "done" and latest.kind in ("dry", "apply"):
        counts = al.manager_counts(latest)
        out["counts"] = [{"user_id": c.user_id, "name": c.name, "before": c.before, "after": c.after}
                         for c in counts]
        changes = al.sample(latest, limit=SAMPLE)
        names = names_for(pid, [x.old_user_id for x in changes] + [x.new_user_id for x in changes])
        out["sample"] = [{"id": x.entity_id, "entity": x.entity,
                          "url": f"{origin}/crm/{x.entity}/details/{x.entity_id}/",
                          "old": names.get(x.old_user_id, f"#{x.old_user_id}"),
                          "new": names.get(x.new_user_id, f"#{x.new_user_id}")} for x in changes]
    dry = next((r for r in runs if r.kind == "dry" and r.status == "done"), None)
    if dry is not None:
        out["dry_total"] = int(dry.planned or 0)
    undo = next((r for r in runs if r.kind == "apply" and al.undoable(r)), None)
    if undo is not None:
        out["undo"] = {"id": undo.id, "created": _when(undo.created_at, pid)}
    return out


def _context(viewer) -> dict:
    if not any(viewer.has(r) for r in READERS):
        return {"routing_settings": None}
    pid = viewer.portal_id
    s = store.stored(pid)
    can = viewer.has("admin")
    kept = g.get("routing_settings_form")
    portal = _portal(pid)
    funnels, unavailable = [], False
    try:
        funnels = store.funnels(portal)
    except E.BitrixError as exc:
        log.warning("portal=%s routing settings: funnels not read (%s)", pid, E.root_code(exc))
        unavailable = True
    form = kept if kept is not None else store.fields_of(s)
    chosen = {int(c) for c in s.categories or []}
    users = store.active_users(pid)
    excluded_names = names_for(pid, s.excluded_users or [])
    key_at = s.pbx_key_created_at
    return {"routing_settings": {
        "can_edit": can, "can_watch": any(viewer.has(r) for r in WATCHERS), "form": form, "stored": s, "errors": g.get("routing_settings_errors") or [],
        "version": g.get("routing_settings_version") or (kept.get("version") if kept is not None else None)
        or str(s.version),
        "funnels": funnels, "unavailable": unavailable, "users": users if can else [],
        "chosen_names": [f["name"] for f in funnels if f["id"] in chosen],
        "stage_names": [st["name"] for f in funnels for st in f["stages"] if st["id"] in set(s.stages or [])],
        "excluded_names": [excluded_names[u] for u in s.excluded_users or []],
        "fallback_user": names_for(pid, [s.fallback_user_id]).get(s.fallback_user_id) if s.fallback_user_id else "",
        "hours_min": store.HOURS_MIN, "hours_max": store.HOURS_MAX,
        "pbx": {"has_key": bool(s.pbx_key_hash), "created": _when(key_at, pid) if key_at else "",
                "new_key": g.get("routing_new_key"),
                "url": (current_app.config.get("PUBLIC_URL") or request.url_root).rstrip("/") + _pbx_path()},
        "runs": _alignment_context(pid, portal.origin),
    }}


register_section("routing", "routing/_settings_section.html", _context, notices=(SAVED, STARTED, UNDO_STARTED))


# --- the forms -----------------------------------------------------------------------------------------

def _refused(keys: list[str], status: int, version: str | None = None, keep_form: bool = True):
    g.routing_settings_errors = [message(k) for k in keys]
    if keep_form:
        g.routing_settings_form = store.posted(request.form)
    if version is not None:
        g.routing_settings_version = version
    return render_settings(keys[0] if len(keys) == 1 else "routing_settings.invalid", "error", status)


def _version(form) -> int | None:
    raw = (form.get("version") or "").strip()
    return int(raw) if raw.isdigit() and len(raw) < 10 else None


def _back(msg: str):
    return redirect(url_for("portals.settings", ft=g.frame_token, msg=msg, _anchor=ANCHOR), 303)


@bp.post("/b24/routing/settings")
@frame_api
@require_role("admin")
def save_settings():
    pid = g.viewer.portal_id
    opened = _version(request.form)
    if opened is None:
        return _refused(["routing_settings.bad_version"], 400)
    try:
        values = store.parse(_portal(pid), request.form)
    except store.SettingsInvalid as exc:
        return _refused(exc.keys, exc.status)
    except E.BitrixError as exc:
        log.warning("portal=%s routing settings not checked: %s", pid, E.root_code(exc))
        return _refused(["routing_settings.portal_unavailable"], 502)
    try:
        saved = store.store(pid, values, opened, g.viewer.user_id)
    except IntegrityError:  # another admin's first save won the insert
        saved = False
    if not saved:
        db.session.rollback()
        return _refused(["routing_settings.stale"], 409, str(store.stored(pid).version))
    db.session.commit()
    if values.enabled:
        from . import index

        index.schedule_build(pid)  # the routing answer's index, read once when distribution is first on
    return _back(SAVED)


@bp.post("/b24/routing/pbx-key")
@frame_api
@require_role("admin")
def create_pbx_key():
    """A new key for the PBX, shown on this one page only: the app keeps only its hash."""
    from . import pbx

    key = pbx.new_key(g.viewer.portal_id)
    db.session.commit()
    g.routing_new_key = key
    return render_settings("routing_settings.key_created", "ok", 200)


@bp.post("/b24/routing/runs")
@frame_api
@require_role("admin")
def start_run():
    pid = g.viewer.portal_id
    kind = request.form.get("kind") or ""
    if kind not in ("dry", "apply", "undo"):
        return _refused(["routing_settings.bad_kind"], 400, keep_form=False)
    al = _alignment()
    if al is None:
        return _refused(["routing_settings.unavailable"], 503, keep_form=False)
    undo_of = None
    if kind == "undo":
        target = next((r for r in al.history(pid, limit=10) if r.kind == "apply" and al.undoable(r)), None)
        if target is None:
            return _refused(["routing_settings.no_undo"], 409, keep_form=False)
        undo_of = target.id
    try:
        al.start(pid, kind, requested_by=g.viewer.user_id, undo_of=undo_of)
    except al.Busy:
        db.session.rollback()
        return _refused(["routing_settings.busy"], 409, keep_form=False)
    except ValueError as exc:
        db.session.rollback()
        g.routing_settings_errors = [str(exc)]
        return render_settings(None, "error", 400)
    return _back(UNDO_STARTED if kind == "undo" else STARTED)


@bp.get("/b24/routing/runs/<int:run_id>")
@frame_api
@require_role(*WATCHERS)
def run_status(run_id: int):
    """A run's progress for the section's progress bar (polled while it is queued or running)."""
    run = db.session.scalar(select(AlignmentRun).where(AlignmentRun.id == run_id,
                                                       AlignmentRun.portal_id == g.viewer.portal_id))
    if run is None:
        abort(404)
    return jsonify(_run_view(run))
