"""Placement iframes: the portal's POST is verified, the viewer's role is known, later requests carry
a signed frame token, and only the installing portal may frame the pages."""

from __future__ import annotations

import requests

from b24app.extensions import db
from b24app.portals.models import RoleGrant

from .helpers import frame_token_from, open_placement


def test_left_menu_opens_for_the_admin_with_roles_section(installed, live_app):
    r = open_placement(installed, live_app, "/b24/app")
    assert r.status_code == 200
    assert "Настройки контроля качества звонков" in r.text and 'data-testid="grant-form"' in r.text
    assert r.headers["Content-Security-Policy"] == f"frame-ancestors http://{installed.domain}"
    assert "X-Frame-Options" not in r.headers


def test_placement_in_english_when_the_portal_says_so(installed, live_app):
    r = open_placement(installed, live_app, "/b24/app", lang="en")
    assert r.status_code == 200 and "Call quality control settings" in r.text


def test_a_forged_auth_id_is_refused(installed, live_app):
    r = open_placement(installed, live_app, "/b24/app", auth_id="forged-token")
    assert r.status_code == 401 and "не подтвердил" in r.text


def test_an_unknown_portal_is_refused(installed, live_app):
    r = open_placement(installed, live_app, "/b24/app", member_id="someone-else")
    assert r.status_code == 403


def test_a_placement_post_without_auth_is_a_clear_400(installed, live_app):
    r = requests.post(f"{live_app.url}/b24/app", params={"DOMAIN": installed.domain, "PROTOCOL": "0"},
                      data={"member_id": installed.member_id}, timeout=10)
    assert r.status_code == 400 and "не хватает данных" in r.text


def test_admin_grants_and_revokes_a_role_with_the_frame_token(installed, live_app):
    page = open_placement(installed, live_app, "/b24/app")
    token = frame_token_from(page.text)
    r = requests.post(f"{live_app.url}/b24/settings/roles", data={"frame_token": token, "user_id": "2", "role": "qa"},
                      timeout=10, allow_redirects=True)
    assert r.status_code == 200 and "Роль назначена" in r.text
    with live_app.ctx():
        grant = db.session.query(RoleGrant).one()
        assert (grant.user_id, grant.role, grant.granted_by) == (2, "qa", 1)
        grant_id = grant.id
    r = requests.post(f"{live_app.url}/b24/settings/roles/{grant_id}/delete", data={"frame_token": token}, timeout=10)
    assert r.status_code == 200 and "Роль снята" in r.text
    with live_app.ctx():
        assert db.session.query(RoleGrant).count() == 0


def test_bad_role_input_is_a_400_and_writes_nothing(installed, live_app):
    token = frame_token_from(open_placement(installed, live_app, "/b24/app").text)
    for data in ({"user_id": "", "role": "qa"}, {"user_id": "2", "role": "king"}, {"user_id": "99999", "role": "qa"},
                 {"user_id": "abc", "role": "qa"}):
        r = requests.post(f"{live_app.url}/b24/settings/roles", data={"frame_token": token, **data}, timeout=10)
        assert r.status_code == 400, data
    with live_app.ctx():
        assert db.session.query(RoleGrant).count() == 0


def test_a_manager_sees_settings_read_only_and_cannot_grant(installed, live_app):
    page = open_placement(installed, live_app, "/b24/app", user_id=2)
    assert page.status_code == 200 and 'data-testid="grant-form"' not in page.text
    token = frame_token_from(page.text)
    r = requests.post(f"{live_app.url}/b24/settings/roles", data={"frame_token": token, "user_id": "2", "role": "admin"},
                      timeout=10)
    assert r.status_code == 403
    with live_app.ctx():
        assert db.session.query(RoleGrant).count() == 0


def test_a_granted_admin_can_manage_roles(installed, live_app):
    admin_token = frame_token_from(open_placement(installed, live_app, "/b24/app").text)
    requests.post(f"{live_app.url}/b24/settings/roles", data={"frame_token": admin_token, "user_id": "2",
                                                              "role": "admin"}, timeout=10).raise_for_status()
    page = open_placement(installed, live_app, "/b24/app", user_id=2)
    assert 'data-testid="grant-form"' in page.text


def test_requests_without_or_with_a_forged_frame_token_are_refused(installed, live_app):
    for data in ({}, {"frame_token": "forged.token.value"}):
        r = requests.post(f"{live_app.url}/b24/settings/roles", data={**data, "user_id": "2", "role": "qa"}, timeout=10)
        assert r.status_code == 401
    with live_app.ctx():
        assert db.session.query(RoleGrant).count() == 0


def test_call_card_placement_reads_its_options(installed, live_app):
    r = open_placement(installed, live_app, "/b24/call-card", placement="CALL_CARD",
                       options={"CALL_ID": "externalCall.1", "PHONE_NUMBER": "+79001112233",
                                "CALL_DIRECTION": "incoming", "CALL_STATE": "connected", "CRM_ACTIVITY_ID": "undefined"})
    assert r.status_code == 200 and "+79001112233" in r.text
