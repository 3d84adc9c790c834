"""The portal shell in a real browser (Debian's Chromium through Playwright): pages, user switching,
a placement opened in its iframe, a call through the CALL_CARD popup, and frame-ancestors refusal."""

from __future__ import annotations

import json
import threading

import pytest
import requests
from flask import Flask
from werkzeug.serving import make_server

pytestmark = pytest.mark.timeout(120)


def _frame(page, placement: str):
    page.wait_for_selector(f'iframe[data-placement="{placement}"]', state="attached")
    handle = page.query_selector(f'iframe[data-placement="{placement}"]')
    return handle, handle.content_frame()


def test_shell_pages_and_user_switch(page, shot, installed):
    url = installed.url
    page.goto(url + "/?user=1")
    assert "Битрикс" in page.inner_text(".logo")
    assert page.inner_text('[data-testid="acting-user"]') == "Администратор Портала"
    shot("home")
    page.click('[data-testid="user-switcher"] .me')
    roles = page.locator('[data-testid="role"]').all_inner_texts()
    assert "администратор" in roles and "менеджер" in roles
    page.click('[data-user-id="3"]')
    page.wait_for_url("**user=3**")
    assert page.inner_text('[data-testid="acting-user"]') == "Мария Смирнова"
    page.goto(url + "/chat/")  # the cookie keeps the acting user
    assert page.inner_text('[data-testid="acting-user"]') == "Мария Смирнова"
    shot("chat")
    for path, name in (("/crm/type/", "spa-types"), ("/disk/", "disk"), ("/telephony/", "telephony"),
                       ("/crm/analytics/", "analytics")):
        page.goto(url + path + "?user=1")
        assert page.locator('[data-testid="left-menu"]').is_visible()
        shot(name)


def test_left_menu_page_loads_in_its_iframe_and_foreign_frame_ancestors_are_refused(page, shot, installed):
    url = installed.url
    csp = []
    page.on("response", lambda r: csp.append(r.headers.get("content-security-policy", ""))
            if "/b24/app" in r.url else None)
    page.goto(url + "/?user=1")
    page.click('[data-placement="LEFT_MENU"]')
    handle, frame = _frame(page, "LEFT_MENU")
    frame.wait_for_load_state()
    frame.wait_for_selector("body *")
    assert frame.url.startswith(installed.state.settings.app_url + "/b24/app")
    assert csp and any(url in c for c in csp if "frame-ancestors" in c), csp
    page.wait_for_function("document.getElementById('app-frame').style.height !== ''")  # resizeWindow answered
    shot("left-menu")

    # A page that allows only another origin as its ancestor is refused by Chromium.
    foreign = Flask("foreign")

    @foreign.get("/")
    def strict():
        return "<p id=secret>secret</p>", 200, {"Content-Security-Policy": "frame-ancestors http://other.example"}

    server = make_server("127.0.0.1", 0, foreign, threaded=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        foreign_url = f"http://127.0.0.1:{server.server_port}/"
        page.evaluate("""u => { const f = document.createElement('iframe'); f.id = 'foreign'; f.src = u;
                                document.body.appendChild(f); }""", foreign_url)
        page.wait_for_timeout(1000)
        child = page.query_selector("#foreign").content_frame()
        assert child is not None
        assert child.query_selector("#secret") is None
        assert not child.url.startswith(foreign_url) or child.url.startswith("chrome-error")
    finally:
        server.shutdown()


def test_call_through_the_call_card_popup(page, shot, installed):
    url = installed.url
    page.goto(url + "/telephony/?user=3")
    page.fill('[data-testid="ph-phone"]', "+79995550101")
    page.click('[data-testid="call-out"]')
    page.wait_for_selector('[data-testid="call-modal"]:not(.hidden)')
    handle, frame = _frame(page, "CALL_CARD")
    frame.wait_for_selector("text=+79995550101")
    call_id = page.get_attribute('[data-testid="call-state"]', "data-call-id")
    assert call_id and call_id in frame.inner_text("body")
    form = json.loads(page.inner_text("#call-frames .frame-data"))
    options = json.loads(form["form"]["PLACEMENT_OPTIONS"])
    assert options["CALL_ID"] == call_id and options["PHONE_NUMBER"] == "+79995550101"
    assert options["CALL_DIRECTION"] == "outgoing" and options["CRM_ACTIVITY_ID"] == "undefined"
    assert handle.get_attribute("name") == f"{installed.domain}|0|{form['app_sid']}"
    shot("call-popup")
    page.click('[data-testid="call-answer"]')
    page.wait_for_selector('[data-testid="call-state"]:has-text("Разговор")')
    page.fill('[data-testid="call-talk"]', "75")
    page.click('[data-testid="call-hangup"]')
    page.wait_for_selector('[data-testid="call-state"][data-finished="1"]')
    shot("call-finished")

    hook = f"{url}/rest/1/{installed.state.settings.webhook_token}/voximplant.statistic.get"
    rows = requests.post(hook, json={"FILTER": {"CALL_ID": call_id}}, timeout=10).json()["result"]
    assert len(rows) == 1
    assert rows[0]["CALL_DURATION"] == "75" and rows[0]["PORTAL_USER_ID"] == "3" and rows[0]["CALL_TYPE"] == "1"
