"""The employees' copy read again over HTTP: a user fired and one hired after install are seen by the next sync;
a portal that does not answer keeps the copy it had."""

from __future__ import annotations

import requests
from sqlalchemy import select

from b24app.extensions import db
from b24app.portals.events import sync_all_users
from b24app.portals.models import PortalUser

from .helpers import portal_id, set_sandbox


def _users(live_app, pid) -> dict[int, tuple[str, bool, str]]:
    with live_app.ctx():
        return {u.user_id: (u.name, u.active, u.phone_inner)
                for u in db.session.scalars(select(PortalUser).where(PortalUser.portal_id == pid))}


def test_fired_and_hired_users_reach_the_copy_at_the_next_sync(installed, live_app):
    pid = portal_id(live_app, installed)
    before = _users(live_app, pid)
    assert before[4][1] is True and before[4][2]            # active, with an inner extension
    installed.state.directory.user(4).active = False        # fired after install
    hired = requests.post(f"{installed.url}/_sandbox/users", json={"NAME": "Инна", "LAST_NAME": "Новикова"},
                          timeout=10).json()
    assert _users(live_app, pid) == before                  # nothing read yet
    with live_app.ctx():
        assert sync_all_users() == 1
    after = _users(live_app, pid)
    assert after[4][1] is False
    assert after[int(hired["ID"])][:2] == ("Инна Новикова", True)
    assert {k: v for k, v in after.items() if k not in (4, int(hired["ID"]))} == \
        {k: v for k, v in before.items() if k != 4}


def test_a_portal_that_does_not_answer_keeps_its_copy(installed, live_app):
    pid = portal_id(live_app, installed)
    before = _users(live_app, pid)
    installed.state.directory.user(4).active = False
    set_sandbox(installed, fail_503_share=1.0)
    with live_app.ctx():
        assert sync_all_users() == 0
    set_sandbox(installed, fail_503_share=0.0)
    assert _users(live_app, pid) == before
