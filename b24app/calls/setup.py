"""What installing the app starts for calls: the history import of the configured number of days."""

from __future__ import annotations

from ..models_base import row_for_portal
from ..portals.lifecycle import after_install
from ..portals.models import Portal
from .history import start_import
from .models import CallSettings


def settings_for(portal_id: int) -> CallSettings:
    return row_for_portal(CallSettings, portal_id, rules={}, import_days=90)


def _import_history(portal: Portal) -> None:
    start_import(portal, settings_for(portal.id).import_days)


after_install.append(_import_history)
