"""Two portals in one app: neither sees nor changes the other's data."""

from __future__ import annotations

import pytest
import requests

from b24app.extensions import db
from b24app.portals.models import Portal, RoleGrant

from .helpers import frame_token_from, open_placement, portal_row


@pytest.fixture
def second(make_sandbox):
    return make_sandbox(install=True, seed=2)


def test_two_portals_are_isolated(installed, second, live_app):
    assert installed.member_id != second.member_id
    with live_app.ctx():
        assert db.session.query(Portal).count() == 2
    tok_a = frame_token_from(open_placement(installed, live_app, "/b24/app").text)
    tok_b = frame_token_from(open_placement(second, live_app, "/b24/app").text)
    requests.post(f"{live_app.url}/b24/settings/roles", data={"frame_token": tok_b, "user_id": "2", "role": "qa"},
                  timeout=10).raise_for_status()
    with live_app.ctx():
        grant_b = db.session.query(RoleGrant).one()
    # A's admin cannot revoke B's grant, nor see it
    r = requests.post(f"{live_app.url}/b24/settings/roles/{grant_b.id}/delete", data={"frame_token": tok_a}, timeout=10)
    assert r.status_code == 404
    page_a = requests.get(f"{live_app.url}/b24/app", params={"ft": tok_a}, timeout=10).text
    assert "Контролёр качества</td>" not in page_a
    with live_app.ctx():
        assert db.session.query(RoleGrant).count() == 1
    # B's application token does not authenticate events for A
    b_token = portal_row(live_app, second.member_id).application_token
    r = requests.post(f"{live_app.url}/b24/events", data={
        "event": "ONAPPUNINSTALL", "auth[member_id]": installed.member_id, "auth[application_token]": b_token}, timeout=10)
    assert r.status_code == 401
    assert portal_row(live_app, installed.member_id).status == "active"
    # A placement POST claiming A's member_id from B's domain is refused
    r = open_placement(second, live_app, "/b24/app", member_id=installed.member_id)
    assert r.status_code in (401, 403)
