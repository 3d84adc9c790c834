"""What installing the app starts for calls: the history import of the configured number of days."""

from __future__ import annotations

from sqlalchemy import select

from ..extensions import db
from ..portals.lifecycle import after_install
from ..portals.models import Portal
from .history import start_import
from .models import CallSettings


def settings_for(portal_id: int) -> CallSettings:
    row = db.session.scalar(select(CallSettings).where(CallSettings.portal_id == portal_id))
    if row is None:
        row = CallSettings(portal_id=portal_id, rules={}, import_days=90)
        db.session.add(row)
        db.session.commit()
    return row


def _import_history(portal: Portal) -> None:
    start_import(portal, settings_for(portal.id).import_days)


after_install.append(_import_history)
