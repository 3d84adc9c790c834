"""What installing the app does for QA: create or repair the smart process (before the history import)."""

from __future__ import annotations

from ..portals.lifecycle import after_install
from ..portals.models import Portal
from ..portals.rest import client_for
from .bootstrap import ensure


def _bootstrap(portal: Portal) -> None:
    ensure(portal, client_for(portal.member_id))


after_install.insert(0, _bootstrap)
