"""Install, reinstall and reconciliation against install.json, over HTTP with the sandbox portal."""

from __future__ import annotations

import requests

from b24app.extensions import db
from b24app.manifest import load_manifest
from b24app.portals.models import Portal, PortalDepartment, PortalUser

from .helpers import portal_row, user_tokens


def _bindings(sandbox) -> tuple[set, set]:
    b = requests.get(f"{sandbox.url}/_sandbox/bindings", timeout=10).json()
    placements = {(p["placement"], p["handler"]) for p in b["placements"]}
    events = {(e["event"].upper(), e["handler"]) for e in b["events"]}
    return placements, events


def _declared(base: str, live_app=None, member_id: str | None = None) -> tuple[set, set]:
    """install.json's bindings, plus those features add once portal data exists (the QA card tab)."""
    man = load_manifest()
    placements = {(p.placement, base + p.handler) for p in man.placements}
    if live_app is not None:
        from b24app.portals.lifecycle import desired_bindings

        with live_app.ctx():
            want_p, _ = desired_bindings(db.session.query(Portal).filter_by(member_id=member_id).one())
        extra = {k for k in want_p if k not in placements}
        assert {code for code, _ in extra} == {f"CRM_DYNAMIC_{code.split('_')[2]}_DETAIL_TAB" for code, _ in extra}
        placements |= extra
    return placements, {(e.event, base + e.handler) for e in man.events}


def test_install_stores_portal_and_binds_manifest(installed, live_app):
    p = portal_row(live_app, installed.member_id)
    assert p is not None and p.status == "active"
    assert p.domain == installed.domain and p.protocol == 0
    assert p.client_endpoint == installed.client_endpoint
    assert p.server_endpoint == installed.server_endpoint
    assert p.access_token and p.refresh_token and p.application_token
    assert p.token_expires_at > 0 and p.scopes
    assert _bindings(installed) == _declared(live_app.url, live_app, installed.member_id)
    with live_app.ctx():
        assert db.session.query(PortalUser).filter_by(portal_id=p.id).count() >= 2
        deps = db.session.query(PortalDepartment).filter_by(portal_id=p.id).all()
        assert len(deps) >= 2 and all(d.name for d in deps)


def test_install_twice_gives_the_same_bindings_and_one_portal(installed, live_app):
    requests.post(f"{installed.url}/_sandbox/install", json={"finish": True}, timeout=30).raise_for_status()
    first = _bindings(installed)
    assert first == _declared(live_app.url, live_app, installed.member_id)
    r = requests.post(f"{installed.url}/_sandbox/install", json={"finish": True}, timeout=30)
    assert r.status_code == 200
    assert _bindings(installed) == first
    with live_app.ctx():
        assert db.session.query(Portal).count() == 1


def test_reinstall_removes_bindings_no_longer_declared(installed, live_app):
    p = portal_row(live_app, installed.member_id)
    stale = f"{live_app.url}/b24/old-handler"
    r = requests.post(f"{installed.client_endpoint}placement.bind", json={
        "auth": p.access_token, "PLACEMENT": "CRM_DEAL_DETAIL_TAB", "HANDLER": stale, "TITLE": "old"}, timeout=10)
    assert r.status_code == 200, r.text
    assert ("CRM_DEAL_DETAIL_TAB", stale) in _bindings(installed)[0]
    requests.post(f"{installed.url}/_sandbox/install", json={"finish": True}, timeout=30).raise_for_status()
    assert _bindings(installed) == _declared(live_app.url, live_app, installed.member_id)


def test_install_by_non_admin_is_refused_and_stores_nothing(sandbox, live_app):
    tok = user_tokens(sandbox, 2)
    r = requests.post(f"{live_app.url}/b24/install",
                      params={"DOMAIN": sandbox.domain, "PROTOCOL": "0", "LANG": "ru", "APP_SID": "x"},
                      data={"AUTH_ID": tok["access_token"], "REFRESH_ID": tok["refresh_token"], "AUTH_EXPIRES": "3600",
                            "SERVER_ENDPOINT": sandbox.server_endpoint, "member_id": sandbox.member_id,
                            "APPLICATION_TOKEN": "abc", "status": "L", "PLACEMENT": "DEFAULT"}, timeout=30)
    assert r.status_code == 403
    assert "только администратор" in r.text
    assert portal_row(live_app, sandbox.member_id) is None


def test_install_without_auth_is_a_clear_400(live_app):
    r = requests.post(f"{live_app.url}/b24/install", params={"DOMAIN": "x.bitrix24.ru", "PROTOCOL": "1"},
                      data={"member_id": "m1"}, timeout=10)
    assert r.status_code == 400
    assert "не хватает данных авторизации" in r.text
    with live_app.ctx():
        assert db.session.query(Portal).count() == 0


def test_install_with_a_forged_token_is_refused(sandbox, live_app):
    r = requests.post(f"{live_app.url}/b24/install",
                      params={"DOMAIN": sandbox.domain, "PROTOCOL": "0", "LANG": "ru", "APP_SID": "x"},
                      data={"AUTH_ID": "forged", "REFRESH_ID": "forged", "AUTH_EXPIRES": "3600",
                            "SERVER_ENDPOINT": sandbox.server_endpoint, "member_id": sandbox.member_id,
                            "APPLICATION_TOKEN": "abc", "status": "L", "PLACEMENT": "DEFAULT"}, timeout=30)
    assert r.status_code == 401
    assert portal_row(live_app, sandbox.member_id) is None


def test_every_declared_handler_exists(live_app):
    man = load_manifest()
    adapter = live_app.app.url_map.bind("localhost")
    paths = [man.install] + [p.handler for p in man.placements] + [e.handler for e in man.events]
    for path in paths:
        endpoint, _ = adapter.match(path, method="POST")
        assert endpoint
