"""What installing the app does for topics: a starting catalogue mapped to the default checklists."""

from __future__ import annotations

from ..portals.lifecycle import after_install
from ..portals.models import Portal
from .service import ensure_defaults, settings_for


def _defaults(portal: Portal) -> None:
    ensure_defaults(portal.id)
    settings_for(portal.id)


# Before the history import, so cards made for new calls can already pick a checklist.
after_install.insert(0, _defaults)
