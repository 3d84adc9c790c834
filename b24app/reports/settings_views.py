"""The «Отчёты» settings section: the weekly and monthly schedule, the Disk folder, the chat, the scope,
the run history and «Отправить сейчас». Admins edit; directors and QA reviewers read."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from flask import Blueprint, g, redirect, request, url_for
from flask_babel import lazy_gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..analytics.recount import portal_tz
from ..bitrix import errors as E
from ..extensions import db
from ..messages import message, register
from ..models_base import store_if_unchanged, utcnow
from ..portals.frame import frame_api, require_role
from ..portals.models import Portal, PortalDepartment, PortalUser
from ..portals.routes import render_settings
from ..portals.sections import register as register_section
from . import delivery, runs, schedule
from .models import ReportRun, ReportSettings

log = logging.getLogger(__name__)
bp = Blueprint("report_settings", __name__)

READERS = ("admin", "director", "qa")
HISTORY = 20
NAME_MAX = 100
MEMBERS_MAX = 100
SAVED, SENT = "report_settings.saved", "report_settings.sent"
_BAD_NAME = re.compile(r"[\\/:*?\"<>|]")

register({
    SAVED: _("Настройки отчётов сохранены."),
    SENT: _("Отчёт отправляется: его ход и итог — в истории отправок ниже."),
    "report_settings.invalid": _("Настройки отчётов не сохранены: исправьте ошибки."),
    "report_settings.stale": _("Пока форма была открыта, настройки отчётов изменил другой администратор. "
                               "Ваши значения остались в форме: проверьте их и сохраните ещё раз."),
    "report_settings.bad_version": _("Форма настроек отчётов повреждена. Обновите страницу."),
    "report_settings.bad_flag": _("Расписание отчёта: включено или выключено."),
    "report_settings.bad_hour": _("Час отправки — целое число от 0 до 23."),
    "report_settings.unknown_storage": _("Такого хранилища на Диске портала нет. Выберите его из списка."),
    "report_settings.bad_folder": _("Название папки для отчётов: от 1 до 100 символов, без / \\ : * ? \" < > |."),
    "report_settings.bad_chat_mode": _("Выберите, куда отправлять сводку: в существующий чат, в новый или никуда."),
    "report_settings.bad_chat": _("Номер чата — это число или «chat» и число, например chat12."),
    "report_settings.unknown_chat": _("Такого чата нет, или приложение не может в него писать: пользователь, "
                                      "установивший приложение, должен быть его участником."),
    "report_settings.chat_title": _("Название нового чата: от 1 до 100 символов."),
    "report_settings.no_members": _("Выберите участников нового чата."),
    "report_settings.unknown_user": _("Среди участников чата есть сотрудник, которого нет на портале."),
    "report_settings.bad_scope": _("Охват отчёта: вся компания или выбранные отделы."),
    "report_settings.no_departments": _("Выберите хотя бы один отдел или охват «Вся компания»."),
    "report_settings.unknown_department": _("Среди выбранных отделов есть отдел, которого нет на портале."),
    "report_settings.no_target": _("Чтобы отчёт уходил по расписанию, выберите папку на Диске или чат."),
    "report_settings.portal_unavailable": _("Портал не ответил, настройки отчётов не сохранены. "
                                            "Попробуйте ещё раз через минуту."),
    "report_settings.bad_period": _("Выберите, за какой период отправить отчёт: за прошлую неделю или прошлый месяц."),
    "report_settings.no_target_saved": _("Сначала сохраните папку на Диске или чат для отчётов."),
})

KIND_LABELS = {"weekly": _("Еженедельный"), "monthly": _("Ежемесячный"), "manual": _("По запросу")}
STATUS_LABELS = {"queued": _("В очереди"), "running": _("Строится"), "done": _("Отправлен"), "failed": _("Ошибка")}
STORAGE_KINDS = {"group": _("группа"), "user": _("пользователь")}
DEFAULT_FOLDER = "Отчёты по звонкам"


class SettingsInvalid(Exception):
    def __init__(self, keys: list[str], status: int = 400):
        super().__init__(keys[0])
        self.keys, self.status = keys, status


@dataclass
class Values:
    weekly: bool
    monthly: bool
    hour: int
    storage_id: str = ""
    storage_name: str = ""
    folder_name: str = DEFAULT_FOLDER
    dialog_id: str = ""
    chat_title: str = ""
    new_chat: tuple[str, list[int]] | None = None   # (title, members) of a chat to create on save
    departments: list[int] = field(default_factory=list)


def stored(portal_id: int) -> ReportSettings:
    """The portal's report settings, or the defaults (unsaved, version 0) when it has none: reading never writes."""
    row = db.session.scalar(select(ReportSettings).where(ReportSettings.portal_id == portal_id))
    if row is not None:
        return row
    return ReportSettings(portal_id=portal_id, weekly=False, monthly=False, hour=9, storage_id="", storage_name="",
                          folder_name=DEFAULT_FOLDER, dialog_id="", chat_title="", departments=[], version=0)


def _portal(portal_id: int) -> Portal:
    return db.session.get(Portal, portal_id)


def tz_label(portal_id: int) -> str:
    minutes = int(portal_tz(portal_id).utcoffset(None).total_seconds() // 60)
    sign = "+" if minutes >= 0 else "−"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def storage_label(s: dict) -> str:
    entity = str(s.get("ENTITY_TYPE", "")).lower()
    kind = STORAGE_KINDS.get(entity, "") if entity != "common" else ""  # «Общий диск» says it already
    return f"{s.get('NAME', '')} ({kind})" if kind else str(s.get("NAME", ""))


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    from ..analytics.summary import display

    return f"{display(float(seconds))} " + str(_("с"))


def history(portal_id: int) -> list[dict]:
    rows = db.session.scalars(select(ReportRun).where(ReportRun.portal_id == portal_id)
                              .order_by(ReportRun.id.desc()).limit(HISTORY)).all()
    return [{"id": r.id, "kind": str(KIND_LABELS.get(r.kind, r.kind)), "status": r.status,
             "status_text": str(STATUS_LABELS.get(r.status, r.status)),
             "period": f"{r.first.strftime('%d.%m.%Y')}–{r.last.strftime('%d.%m.%Y')}",
             "duration": _duration(r.seconds), "file_url": r.file_url, "file_name": r.file_name,
             "error": r.error if r.status == "failed" else "", "chat": bool(r.message_id)} for r in rows]


def _context(viewer) -> dict:
    if not any(viewer.has(r) for r in READERS):
        return {"report_settings": None}
    pid = viewer.portal_id
    s = stored(pid)
    can = viewer.has("admin")
    kept = g.get("report_settings_form")
    storages, chats, unavailable = [], [], False
    if can:
        portal = _portal(pid)
        try:
            storages = [{"id": str(x["ID"]), "label": storage_label(x)}
                        for x in delivery.storages(portal, viewer.user_id)]
            chats = [{"id": c.dialog_id, "title": c.title} for c in delivery.chats(portal)]
        except E.BitrixError as exc:
            log.warning("portal=%s report settings: portal lists not read (%s)", pid, E.root_code(exc))
            unavailable = True
    if s.storage_id and not any(x["id"] == s.storage_id for x in storages):
        storages.append({"id": s.storage_id, "label": s.storage_name or s.storage_id})
    if s.dialog_id and not any(c["id"] == s.dialog_id for c in chats):
        chats.append({"id": s.dialog_id, "title": s.chat_title or s.dialog_id})
    form = kept if kept is not None else _fields(s)
    return {"report_settings": {
        "can_edit": can, "form": form, "stored": s, "errors": g.get("report_settings_errors") or [],
        "version": g.get("report_settings_version") or (kept.get("version") if kept is not None else None)
        or str(s.version),
        "hours": list(range(24)), "tz": tz_label(pid), "storages": storages, "chats": chats,
        "unavailable": unavailable, "history": history(pid),
        "users": db.session.scalars(select(PortalUser).where(PortalUser.portal_id == pid, PortalUser.active.is_(True))
                                    .order_by(PortalUser.name)).all() if can else [],
        "departments": db.session.scalars(select(PortalDepartment).where(PortalDepartment.portal_id == pid)
                                          .order_by(PortalDepartment.name)).all(),
    }}


def _fields(s: ReportSettings) -> dict:
    """The form's values for the stored settings (the same shape as a posted form)."""
    return {"weekly": "1" if s.weekly else "", "monthly": "1" if s.monthly else "", "hour": str(s.hour),
            "storage_id": s.storage_id, "folder_name": s.folder_name, "chat_mode": "existing" if s.dialog_id else "none",
            "dialog_id": s.dialog_id, "chat_id": "", "chat_title": "", "chat_users": [],
            "scope": "departments" if s.departments else "company",
            "departments": [str(d) for d in s.departments or []]}


register_section("reports", "reports/_settings_section.html", _context, notices=(SAVED, SENT))


# --- the form --------------------------------------------------------------------------------------

def _flag(form, name: str, problems: list[str]) -> bool:
    raw = form.get(name, "")
    if raw not in ("", "1", "on"):
        problems.append("report_settings.bad_flag")
    return raw in ("1", "on")


def _ints(values: list[str]) -> list[int] | None:
    if not all(v.strip().isdigit() and len(v.strip()) < 10 for v in values):
        return None
    return sorted({int(v) for v in values})


def parse(portal: Portal, form) -> Values:
    """The admin's input checked field by field; SettingsInvalid names every problem. Reads the portal
    (storages, the chat) to check what it names; creates nothing."""
    problems: list[str] = []
    weekly, monthly = _flag(form, "weekly", problems), _flag(form, "monthly", problems)
    raw_hour = (form.get("hour") or "").strip()
    hour = int(raw_hour) if raw_hour.isdigit() and len(raw_hour) <= 2 else -1
    if not 0 <= hour <= 23:
        problems.append("report_settings.bad_hour")
    v = Values(weekly, monthly, hour)

    v.storage_id = (form.get("storage_id") or "").strip()
    if v.storage_id:
        found = delivery.storage(portal, v.storage_id) if v.storage_id.isdigit() and len(v.storage_id) <= 12 else None
        if found is None:
            problems.append("report_settings.unknown_storage")
        else:
            v.storage_name = storage_label(found)[:255]
    v.folder_name = " ".join((form.get("folder_name") or "").split())
    if v.storage_id and (not v.folder_name or len(v.folder_name) > NAME_MAX or _BAD_NAME.search(v.folder_name)
                         or v.folder_name.strip(".") == ""):
        problems.append("report_settings.bad_folder")
    if not v.storage_id:
        v.folder_name = v.folder_name if v.folder_name and len(v.folder_name) <= NAME_MAX \
            and not _BAD_NAME.search(v.folder_name) else DEFAULT_FOLDER

    mode = form.get("chat_mode") or "none"
    if mode == "existing":
        dialog = delivery.dialog_id(form.get("chat_id") or "") if (form.get("chat_id") or "").strip() \
            else delivery.dialog_id(form.get("dialog_id") or "")
        if dialog is None:
            problems.append("report_settings.bad_chat")
        else:
            title = delivery.chat_title(portal, dialog)
            if title is None:
                problems.append("report_settings.unknown_chat")
            else:
                v.dialog_id, v.chat_title = dialog, title[:255]
    elif mode == "new":
        title = " ".join((form.get("chat_title") or "").split())
        if not title or len(title) > NAME_MAX:
            problems.append("report_settings.chat_title")
        members = _ints(form.getlist("chat_users"))
        if members is None:
            problems.append("report_settings.unknown_user")
        elif not members:
            problems.append("report_settings.no_members")
        elif len(members) > MEMBERS_MAX or len(members) != len(db.session.scalars(select(PortalUser.user_id).where(
                PortalUser.portal_id == portal.id, PortalUser.active.is_(True),
                PortalUser.user_id.in_(members))).all()):
            problems.append("report_settings.unknown_user")
        else:
            v.new_chat, v.chat_title = (title, members), title
    elif mode != "none":
        problems.append("report_settings.bad_chat_mode")

    scope = form.get("scope") or "company"
    if scope == "departments":
        ids = _ints(form.getlist("departments"))
        if ids is None:
            problems.append("report_settings.unknown_department")
        elif not ids:
            problems.append("report_settings.no_departments")
        else:
            known = set(db.session.scalars(select(PortalDepartment.department_id).where(
                PortalDepartment.portal_id == portal.id, PortalDepartment.department_id.in_(ids))).all())
            if known != set(ids):
                problems.append("report_settings.unknown_department")
            v.departments = ids
    elif scope != "company":
        problems.append("report_settings.bad_scope")

    if (weekly or monthly) and not v.storage_id and not (v.dialog_id or v.new_chat):
        problems.append("report_settings.no_target")
    if problems:
        raise SettingsInvalid(list(dict.fromkeys(problems)))
    return v


def store(portal_id: int, v: Values, opened: int, user_id: int) -> bool:
    """Write the values if the settings are still at version `opened` (0: never saved); False when not.
    In the caller's transaction."""
    columns = {"weekly": v.weekly, "monthly": v.monthly, "hour": v.hour, "storage_id": v.storage_id,
               "storage_name": v.storage_name, "folder_name": v.folder_name, "dialog_id": v.dialog_id,
               "chat_title": v.chat_title, "departments": v.departments, "updated_by": user_id,
               "updated_at": utcnow()}
    return store_if_unchanged(ReportSettings, portal_id, opened, columns)


def _refused(keys: list[str], status: int, version: str | None = None):
    g.report_settings_errors = [message(k) for k in keys]
    g.report_settings_form = {**request.form.to_dict(), "chat_users": request.form.getlist("chat_users"),
                              "departments": request.form.getlist("departments")}
    if version is not None:
        g.report_settings_version = version
    return render_settings(keys[0] if len(keys) == 1 else "report_settings.invalid", "error", status)


def _version(form) -> int | None:
    raw = (form.get("version") or "").strip()
    return int(raw) if raw.isdigit() and len(raw) < 10 else None


@bp.post("/b24/reports/settings")
@frame_api
@require_role("admin")
def save_settings():
    pid = g.viewer.portal_id
    opened = _version(request.form)
    if opened is None:
        return _refused(["report_settings.bad_version"], 400)
    portal = _portal(pid)
    try:
        values = parse(portal, request.form)
    except SettingsInvalid as exc:
        return _refused(exc.keys, exc.status)
    except E.BitrixError as exc:
        log.warning("portal=%s report settings not checked: %s", pid, E.root_code(exc))
        return _refused(["report_settings.portal_unavailable"], 502)
    if stored(pid).version != opened:
        db.session.rollback()
        return _refused(["report_settings.stale"], 409, str(stored(pid).version))
    if values.new_chat is not None:
        title, members = values.new_chat
        try:
            values.dialog_id = delivery.create_chat(portal, title, members,
                                                    str(_("Сводки отчётов по звонкам")))
        except E.BitrixError as exc:
            log.warning("portal=%s report chat not created: %s", pid, E.root_code(exc))
            return _refused(["report_settings.portal_unavailable"], 502)
    try:
        saved = store(pid, values, opened, g.viewer.user_id)
    except IntegrityError:  # another admin's first save won the insert
        saved = False
    if not saved:
        db.session.rollback()
        return _refused(["report_settings.stale"], 409, str(stored(pid).version))
    db.session.commit()
    return redirect(url_for("portals.settings", ft=g.frame_token, msg=SAVED, _anchor="reports"), 303)


@bp.post("/b24/reports/send")
@frame_api
@require_role("admin")
def send_now():
    """«Отправить сейчас»: the last finished week or month, to the saved folder and chat, now."""
    pid = g.viewer.portal_id
    kind = request.form.get("period") or ""
    if kind not in ("weekly", "monthly"):
        return _refused(["report_settings.bad_period"], 400)
    s = stored(pid)
    if not (s.storage_id or s.dialog_id):
        return _refused(["report_settings.no_target_saved"], 409)
    today = (utcnow().astimezone(portal_tz(pid))).date()
    first, last = schedule.last_period(kind, today)
    runs.start(pid, kind, first, last, departments=s.departments or [], to_disk=bool(s.storage_id),
               to_chat=bool(s.dialog_id), requested_by=g.viewer.user_id)
    return redirect(url_for("portals.settings", ft=g.frame_token, msg=SENT, _anchor="reports"), 303)

