"""Lifecycle events from the portal: ONAPPINSTALL (language) and ONAPPUNINSTALL (stop, keep, purge later); the
periodic purge, and the employees' copy read again."""

from __future__ import annotations

import logging

from huey import crontab
from sqlalchemy import select

from ..bitrix import errors as E
from ..extensions import db
from ..inbox.service import handles
from ..jobs import app_periodic_task, every_minutes
from .lifecycle import mark_uninstalled, purge_due_portals, sync_users
from .models import STATUS_ACTIVE, Portal
from .rest import client_for

log = logging.getLogger(__name__)


@handles("ONAPPUNINSTALL")
def on_uninstall(portal: Portal, data: dict, ts: str) -> None:
    mark_uninstalled(portal, clean=str(data.get("CLEAN", "0")) == "1")


@handles("ONAPPINSTALL")
def on_install(portal: Portal, data: dict, ts: str) -> None:
    # Tokens come from the install POST; the event only confirms the portal's language.
    lang = str(data.get("LANGUAGE_ID") or "")[:2].lower()
    if lang in ("ru", "en") and portal.language != lang:
        portal.language = lang
        db.session.commit()


@app_periodic_task(crontab(minute="17", hour="3"))
def purge_uninstalled() -> list[str]:
    return purge_due_portals()


def sync_all_users() -> int:
    """Every active portal's employees and departments read again: people hired or fired since install,
    new department heads (pickers, names in reports, who may receive contacts). Returns the portals read."""
    read = 0
    for portal in db.session.scalars(select(Portal).where(Portal.status == STATUS_ACTIVE)).all():
        try:
            sync_users(portal, client_for(portal.member_id, max_attempts=3))
            read += 1
        except E.BitrixError as exc:
            db.session.rollback()
            log.warning("portal=%s users not read again: %s", portal.member_id, E.root_code(exc))
    return read


@app_periodic_task(every_minutes("USERS_SYNC_MINUTES", 360))
def sync_users_periodically() -> int:
    return sync_all_users()
