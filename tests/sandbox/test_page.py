"""The portal page: menus of the app's placements, and a placement opened the way Bitrix24 opens it."""

from __future__ import annotations

import html
import json
import re

import pytest
import requests

from .helpers import admin, call


@pytest.fixture
def portal(make_sandbox, stub_app):
    sandbox = make_sandbox(app_url=stub_app.url)
    token = admin(sandbox, "install", {"finish": True})["access_token"]
    for code, path, title in (("LEFT_MENU", "/b24/app", "Контроль качества"),
                              ("CRM_ANALYTICS_MENU", "/b24/reports", "Отчёты по звонкам")):
        call(sandbox, "placement.bind", token, {"PLACEMENT": code, "HANDLER": stub_app.url + path, "TITLE": title})
    return sandbox


def hidden_inputs(page: str) -> dict[str, str]:
    return {m[0]: html.unescape(m[1]) for m in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)}


def test_menus_list_the_apps_placements(portal):
    page = requests.get(portal.url + "/", timeout=10).text
    assert "Контроль качества" in page and "Отчёты по звонкам" in page and 'data-testid="left-menu"' in page


def test_a_placement_opens_by_a_form_posted_into_a_named_frame(portal, stub_app):
    binding = next(b for b in requests.get(f"{portal.url}/_sandbox/bindings", timeout=10).json()["placements"]
                   if b["placement"] == "CRM_ANALYTICS_MENU")
    page = requests.get(portal.url + "/", params={"open": binding["id"], "user": 2}, timeout=10).text
    name = re.search(r'<iframe id="app-frame" name="([^"]+)"', page).group(1)
    domain, protocol, app_sid = name.split("|")
    assert (domain, protocol) == (portal.domain, "0") and re.fullmatch(r"[0-9a-f]{32}", app_sid)
    action = html.unescape(re.search(r'action="([^"]+)"', page).group(1))
    assert action == (f"{stub_app.url}/b24/reports?DOMAIN={portal.domain.replace(':', '%3A')}&PROTOCOL=0&LANG=ru"
                      f"&APP_SID={app_sid}")
    assert f'target="{name}"' in page
    form = hidden_inputs(page)
    assert list(form) == ["AUTH_ID", "AUTH_EXPIRES", "REFRESH_ID", "SERVER_ENDPOINT", "APPLICATION_TOKEN",
                          "APPLICATION_SCOPE", "member_id", "status", "PLACEMENT", "PLACEMENT_OPTIONS"]
    assert form["PLACEMENT"] == "CRM_ANALYTICS_MENU" and form["member_id"] == portal.member_id
    assert json.loads(form["PLACEMENT_OPTIONS"]) == {"URI": "/report/analytics/?IFRAME=Y&IFRAME_TYPE=SIDE_SLIDER"}
    assert "\\/report\\/analytics" in form["PLACEMENT_OPTIONS"]  # PHP's json_encode escapes slashes
    assert call(portal, "user.current", form["AUTH_ID"]).json()["result"]["ID"] == "2"  # ?user=2 acts as user 2
    assert "getInitData" in page and "setInstallFinish" in page and "resizeWindow" in page


def test_before_install_finish_only_the_installer_opens(make_sandbox, stub_app):
    sandbox = make_sandbox(app_url=stub_app.url)
    admin(sandbox, "install", {"finish": False})
    page = requests.get(sandbox.url + "/", params={"open": "app"}, timeout=10).text
    assert html.unescape(re.search(r'action="([^"]+)"', page).group(1)).startswith(stub_app.url + "/b24/install?")
    assert '"INSTALL": true' in page
    refused = requests.get(sandbox.url + "/", params={"open": "app", "user": 3}, timeout=10).text
    assert "установлено не до конца" in refused and "app-frame" not in refused
