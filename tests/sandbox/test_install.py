"""The install flow against a stand-in app over HTTP: the install POST, installFinish, ONAPPINSTALL,
reinstall, uninstall (ONAPPUNINSTALL, bindings gone, tokens revoked)."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

import pytest
import requests

from .helpers import admin, call, error_of, refresh

FORM_KEYS = ["AUTH_ID", "AUTH_EXPIRES", "REFRESH_ID", "SERVER_ENDPOINT", "APPLICATION_TOKEN", "APPLICATION_SCOPE",
             "member_id", "status", "PLACEMENT"]


@pytest.fixture
def portal(make_sandbox, stub_app):
    stub_app.bind_on_install = [("ONAPPINSTALL", "/b24/events"), ("ONAPPUNINSTALL", "/b24/events"),
                                ("ONVOXIMPLANTCALLEND", "/b24/events")]
    return make_sandbox(app_url=stub_app.url)


def install(portal, **body) -> dict:
    return admin(portal, "install", {"finish": True, **body})


def test_the_install_post_is_shaped_like_the_portals(portal, stub_app):
    out = install(portal)
    assert out["install_status"] == 200
    [post] = stub_app.received("/b24/install")
    assert post["args"].keys() == {"DOMAIN", "PROTOCOL", "LANG", "APP_SID"}
    assert (post["args"]["DOMAIN"], post["args"]["PROTOCOL"], post["args"]["LANG"]) == (portal.domain, "0", "ru")
    assert re.fullmatch(r"[0-9a-f]{32}", post["args"]["APP_SID"])
    form = post["form"]
    assert list(form) == FORM_KEYS
    assert (form["AUTH_EXPIRES"], form["SERVER_ENDPOINT"], form["member_id"], form["status"], form["PLACEMENT"]) == \
        ("3600", portal.server_endpoint, portal.member_id, "L", "DEFAULT")
    assert form["APPLICATION_TOKEN"] == out["application_token"] and "telephony" in form["APPLICATION_SCOPE"]
    assert call(portal, "user.current", form["AUTH_ID"]).json()["result"]["ID"] == "1"
    assert all(r["result"] is True for r in post["bind_results"])  # REST calls from inside the install POST


def test_install_finish_delivers_onappinstall_once(portal, stub_app):
    out = install(portal)
    assert out["installed"] is True and [d["status"] for d in out["deliveries"]] == [200]
    [event] = stub_app.received("/b24/events")
    pairs = parse_qsl(event["raw"], keep_blank_values=True)
    keys = [k for k, _ in pairs]
    assert keys == ["event", "event_handler_id", "data[VERSION]", "data[ACTIVE]", "data[INSTALLED]",
                    "data[LANGUAGE_ID]", "ts", "auth[domain]", "auth[scope]", "auth[access_token]",
                    "auth[refresh_token]", "auth[expires_in]", "auth[server_endpoint]", "auth[status]",
                    "auth[client_endpoint]", "auth[member_id]", "auth[application_token]"]
    form = dict(pairs)
    assert (form["event"], form["data[ACTIVE]"], form["data[INSTALLED]"], form["data[LANGUAGE_ID]"]) == \
        ("ONAPPINSTALL", "Y", "Y", "ru")
    assert form["auth[application_token]"] == out["application_token"]
    assert form["auth[member_id]"] == portal.member_id and form["auth[domain]"] == portal.domain
    assert call(portal, "profile", form["auth[access_token]"]).status_code == 200
    assert refresh(portal, form["auth[refresh_token]"]).status_code == 200
    admin(portal, "install-finish")
    assert len(stub_app.received("/b24/events")) == 1


def test_until_install_finish_the_app_is_not_installed(portal, stub_app):
    out = install(portal, finish=False)
    token = out["access_token"]
    assert call(portal, "app.info", token).json()["result"]["INSTALLED"] is False
    fired = admin(portal, "events/fire", {"event": "ONVOXIMPLANTCALLEND", "data": {"CALL_ID": "x"}})
    assert fired == {"deliveries": [], "dropped": 0, "installed": False}
    assert stub_app.received("/b24/events") == []
    finished = admin(portal, "install-finish")
    assert finished["installed"] is True and len(finished["deliveries"]) == 1
    assert call(portal, "app.info", token).json()["result"]["INSTALLED"] is True


def test_reinstall_keeps_identity_unless_asked(portal, stub_app):
    first = install(portal)
    again = install(portal)
    assert (again["member_id"], again["application_token"]) == (first["member_id"], first["application_token"])
    fresh = install(portal, new_application_token=True)
    assert fresh["application_token"] != first["application_token"] and fresh["member_id"] == first["member_id"]
    assert len(stub_app.received("/b24/install")) == 3


def test_uninstall_tells_the_app_then_revokes_everything(portal, stub_app):
    out = install(portal)
    token, refresh_token = out["access_token"], out["refresh_token"]
    gone = admin(portal, "uninstall", {"clean": 1})
    assert [d["status"] for d in gone["deliveries"]] == [200]
    event = dict(parse_qsl(stub_app.received("/b24/events")[-1]["raw"]))
    assert event["event"] == "ONAPPUNINSTALL" and event["data[CLEAN]"] == "1" and event["data[LANGUAGE_ID]"] == "ru"
    assert sorted(k for k in event if k.startswith("auth[")) == sorted(
        ["auth[domain]", "auth[server_endpoint]", "auth[client_endpoint]", "auth[member_id]",
         "auth[application_token]"])
    assert error_of(call(portal, "user.current", token)) == (401, "invalid_token")
    assert refresh(portal, refresh_token).json()["error"] == "invalid_grant"
    assert requests.get(f"{portal.url}/_sandbox/bindings", timeout=10).json() == {"placements": [], "events": []}
    again = install(portal)  # reinstall: the app binds afresh, same portal
    assert again["member_id"] == out["member_id"] and again["installed"] is True


def test_install_needs_an_app_url(make_sandbox):
    sandbox = make_sandbox()
    r = requests.post(f"{sandbox.url}/_sandbox/install", json={"finish": True}, timeout=10)
    assert r.status_code == 400 and "app_url" in r.json()["error"]


def test_a_dead_app_is_reported_not_raised(make_sandbox):
    sandbox = make_sandbox(app_url="http://127.0.0.1:9")
    out = install(sandbox)
    assert out["install_status"] is None and "install_error" in out and out["installed"] is True
