"""The hourly re-read of the portal's UTC offset over real HTTP: a DST change on the portal reaches the app's
local days and the report hour; a portal that does not answer keeps the offset it had."""

from __future__ import annotations

from b24app.analytics.recount import portal_tz
from b24app.extensions import db
from b24app.portals.models import STATUS_NEEDS_REINSTALL, Portal
from b24app.topics import time_zone

from ..platform.helpers import portal_id, set_sandbox


def _offset(live_app, pid) -> int:
    with live_app.ctx():
        return int(portal_tz(pid).utcoffset(None).total_seconds() // 60)


def test_the_offset_follows_the_portal_after_a_clock_change(installed, live_app):
    pid = portal_id(live_app, installed)
    set_sandbox(installed, tz_offset_minutes=120)   # Berlin, summer
    with live_app.ctx():
        assert time_zone.refresh_all() == 1
    assert _offset(live_app, pid) == 120
    set_sandbox(installed, tz_offset_minutes=60)    # the last Sunday of October
    with live_app.ctx():
        assert time_zone.refresh_all() == 1
    assert _offset(live_app, pid) == 60


def test_a_portal_that_does_not_answer_keeps_its_offset_and_others_are_read(installed, live_app):
    pid = portal_id(live_app, installed)
    set_sandbox(installed, tz_offset_minutes=600)
    with live_app.ctx():
        time_zone.refresh_all()
    set_sandbox(installed, tz_offset_minutes=540, fail_503_share=1.0)
    with live_app.ctx():
        assert time_zone.refresh_all() == 0
    assert _offset(live_app, pid) == 600
    set_sandbox(installed, fail_503_share=0.0)
    with live_app.ctx():
        db.session.get(Portal, pid).status = STATUS_NEEDS_REINSTALL
        db.session.commit()
        assert time_zone.refresh_all() == 0             # only active portals are asked
    assert _offset(live_app, pid) == 600
