"""Callback tasks for lost calls: when a portal switches them on, every call lost since then (analytics'
definition of «lost») gets one task «Перезвонить клиенту» for the client's responsible, with a deadline."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask_babel import force_locale, gettext
from sqlalchemy import delete, exists, select, update
from sqlalchemy.exc import IntegrityError

from ..analytics.call_list import outcome_condition
from ..analytics.metrics import phone_key
from ..analytics.recount import portal_tz
from ..analytics.settings import load as analytics_settings
from ..bitrix import errors as E
from ..calls.models import Call
from ..extensions import db
from ..jobs import app_periodic_task, every_minutes
from ..models_base import utcnow
from ..portals.models import STATUS_ACTIVE, Portal, PortalUser
from ..portals.rest import client_for
from .models import CallbackTask, ContactOwner, ContactPhone, RoutingSettings

log = logging.getLogger(__name__)

PER_TICK = 200                        # tasks made per portal per tick: the rest wait for the next one
SENDING, QUEUED, DONE, FAILED = "sending", "queued", "done", "failed"
STUCK = timedelta(minutes=30)         # a "sending" row this old lost its worker: send it again


def since(s: RoutingSettings) -> datetime:
    """Calls lost after this moment get tasks: when the tasks were switched on (not the portal's whole past)."""
    return s.callback_since or s.updated_at


def task_url(origin: str, user_id: int, task_id: int) -> str:
    return f"{origin}/company/personal/user/{int(user_id)}/tasks/task/view/{int(task_id)}/"


def links(portal_id: int, ids) -> dict[int, str]:
    """The task link of each call (by the app's Call.id) of `ids` that has a task, for the missed-calls board."""
    wanted = sorted({int(i) for i in ids if i})
    if not wanted:
        return {}
    portal = db.session.get(Portal, portal_id)
    rows = db.session.execute(select(Call.id, CallbackTask.user_id, CallbackTask.task_id).join(
        CallbackTask, (CallbackTask.portal_id == Call.portal_id) & (CallbackTask.call_id == Call.call_id)).where(
        Call.portal_id == portal_id, Call.id.in_(wanted), CallbackTask.task_id.is_not(None)))
    return {cid: task_url(portal.origin, uid, tid) for cid, uid, tid in rows}


def _display(number: str) -> str:
    key = phone_key(number)
    return f"+{key}" if len(key) == 11 and key.startswith("7") else (number or "")


def _active(portal_id: int, user_id: int | None) -> bool:
    if not user_id or user_id <= 0:
        return False
    active = db.session.scalar(select(PortalUser.active).where(PortalUser.portal_id == portal_id,
                                                               PortalUser.user_id == user_id))
    return active is not False  # a user the directory has not synced yet is given the benefit of the doubt


def responsible(portal_id: int, call: Call) -> tuple[int | None, int | None]:
    """(whom the task goes to, the client's contact ID or None): the contact's responsible from the routing
    index (the call's own CRM contact, else the contact with the caller's number), else the call's manager."""
    contact = int(call.crm_entity_id) if call.crm_entity_type == "CONTACT" and call.crm_entity_id else None
    if contact is None:
        key = phone_key(call.phone_number)
        if key:
            contact = db.session.scalar(select(ContactPhone.contact_id).where(
                ContactPhone.portal_id == portal_id, ContactPhone.phone == key).order_by(ContactPhone.contact_id))
    if contact is not None:
        owner = db.session.scalar(select(ContactOwner.user_id).where(ContactOwner.portal_id == portal_id,
                                                                     ContactOwner.contact_id == contact))
        if _active(portal_id, owner):
            return int(owner), contact
    manager = call.portal_user_id
    return (int(manager) if _active(portal_id, manager) else None), contact


def _fields(portal: Portal, s: RoutingSettings, call: Call, user_id: int, contact: int | None) -> dict:
    tz = portal_tz(portal.id)
    start = call.call_start_date.astimezone(tz)
    entity = ("contact", contact) if contact else (
        (call.crm_entity_type.lower(), call.crm_entity_id) if call.crm_entity_type and call.crm_entity_id else None)
    with force_locale(portal.language or "ru"):
        title = gettext("Перезвонить клиенту %(phone)s", phone=_display(call.phone_number))
        text = gettext("Пропущенный звонок %(when)s с номера %(phone)s: никто не перезвонил.",
                       when=start.strftime("%d.%m.%Y %H:%M"), phone=_display(call.phone_number))
        if entity is not None:
            text += "\n" + gettext("Клиент: %(url)s", url=f"{portal.origin}/crm/{entity[0]}/details/{int(entity[1])}/")
    fields = {"TITLE": title, "DESCRIPTION": text, "RESPONSIBLE_ID": user_id,
              # from the moment the task is made: a call counts as lost only once its callback window has
              # passed, so a deadline counted from the call would be over before the task existed
              "DEADLINE": (utcnow().astimezone(tz) + timedelta(hours=int(s.callback_hours)))
              .replace(microsecond=0).isoformat(timespec="seconds")}
    if contact:
        fields["UF_CRM_TASK"] = [f"C_{int(contact)}"]
    return fields


def _task_id(result) -> int | None:
    """tasks.task.add answers {"task": {"id": …}}."""
    task = result.get("task") if isinstance(result, dict) else None
    raw = task.get("id") if isinstance(task, dict) else None
    try:
        return int(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None


def _claim_new(portal_id: int, call_id: str, user_id: int) -> int | None:
    """The row first, the REST call after: the unique (portal, call) lets one worker only make the task."""
    row = CallbackTask(portal_id=portal_id, call_id=call_id, user_id=user_id, status=SENDING)
    db.session.add(row)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return None
    return row.id


def _retryable(now: datetime):
    return (CallbackTask.status == QUEUED) | ((CallbackTask.status == SENDING) & (CallbackTask.created_at < now - STUCK))


def _claim_retry(portal_id: int, row_id: int, now: datetime) -> bool:
    done = db.session.execute(update(CallbackTask).where(
        CallbackTask.portal_id == portal_id, CallbackTask.id == row_id, _retryable(now))
        .values(status=SENDING).execution_options(synchronize_session=False))
    db.session.commit()
    return done.rowcount == 1


def _set(portal_id: int, row_id: int, **values) -> None:
    db.session.execute(update(CallbackTask).where(CallbackTask.portal_id == portal_id, CallbackTask.id == row_id)
                       .values(**values).execution_options(synchronize_session=False))
    db.session.commit()


def _send(portal: Portal, s: RoutingSettings, call: Call, row_id: int) -> bool:
    user_id, contact = responsible(portal.id, call)
    if user_id is None:
        _set(portal.id, row_id, status=FAILED, error="no responsible: neither the client's owner nor the call's manager")
        log.info("portal=%s call=%s: no callback task, nobody to give it to", portal.id, call.call_id)
        return False
    fields = _fields(portal, s, call, user_id, contact)
    try:
        res = client_for(portal.member_id, max_attempts=2).call("tasks.task.add", {"fields": fields})
    except E.BitrixError as exc:
        _set(portal.id, row_id, user_id=user_id, status=QUEUED,
             error=f"{E.root_code(exc) or 'ERROR'}: {getattr(exc, 'description', '')}"[:2000])
        log.warning("portal=%s call=%s: callback task not made (%s), retried next tick", portal.id, call.call_id,
                    E.root_code(exc))
        return False
    task_id = _task_id(res.result)
    _set(portal.id, row_id, user_id=user_id, task_id=task_id, status=DONE if task_id else QUEUED,
         error="" if task_id else "no task id in the answer")
    return task_id is not None


def for_portal(portal: Portal, s: RoutingSettings, now: datetime | None = None) -> int:
    """Make the tasks of the portal's lost calls that have none yet, and retry those that failed; returns
    the tasks made."""
    now = now or utcnow()
    lost = outcome_condition("lost", analytics_settings(portal.id), now)
    start = since(s)
    pending = db.session.execute(select(CallbackTask.id, CallbackTask.call_id).where(
        CallbackTask.portal_id == portal.id, _retryable(now)).order_by(CallbackTask.id).limit(PER_TICK)).all()
    has_task = exists().where(CallbackTask.portal_id == Call.portal_id, CallbackTask.call_id == Call.call_id)
    fresh = db.session.scalars(select(Call).where(Call.portal_id == portal.id, lost, Call.call_start_date >= start,
                                                  ~has_task)
                               .order_by(Call.call_start_date, Call.id).limit(PER_TICK)).all()
    made = 0
    for row_id, call_id in pending:
        call = db.session.scalar(select(Call).where(Call.portal_id == portal.id, Call.call_id == call_id))
        if call is None or not _claim_retry(portal.id, row_id, now):
            continue
        made += _send(portal, s, call, row_id)
    for call in fresh:
        row_id = _claim_new(portal.id, call.call_id, int(call.portal_user_id or 0))
        if row_id is None:
            continue
        if call.callback_at is not None:  # called back since it was read (the commit reloads it): not lost
            db.session.execute(delete(CallbackTask).where(CallbackTask.portal_id == portal.id,
                                                          CallbackTask.id == row_id))
            db.session.commit()
            continue
        made += _send(portal, s, call, row_id)
    return made


def tick(now: datetime | None = None) -> int:
    """Every active portal with callback tasks on: returns the tasks made."""
    rows = db.session.execute(select(Portal, RoutingSettings).join(RoutingSettings, RoutingSettings.portal_id == Portal.id)
                              .where(Portal.status == STATUS_ACTIVE, RoutingSettings.callback_tasks.is_(True))
                              .order_by(Portal.id)).all()
    made = 0
    for portal, s in rows:
        try:
            made += for_portal(portal, s, now)
        except Exception:  # one portal's failure must not stop the others' tasks
            db.session.rollback()
            log.exception("portal=%s callback tasks failed", portal.id)
    return made


@app_periodic_task(every_minutes("CALLBACK_TASKS_MINUTES", 5))
def callback_tasks() -> int:
    return tick()
