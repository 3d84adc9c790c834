"""Lifecycle events from the portal: ONAPPINSTALL (language) and ONAPPUNINSTALL (stop, keep, purge later)."""

from __future__ import annotations

from huey import crontab

from ..extensions import db
from ..inbox.service import handles
from ..jobs import app_periodic_task
from .lifecycle import mark_uninstalled, purge_due_portals
from .models import Portal


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
