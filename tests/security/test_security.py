"""The security review as tests: secrets stay out of logs and pages, frame tokens are bound to their
portal, user and install, state-changing routes refuse other origins, framing is exact, and the public
endpoints are rate limited without ever throttling a portal's accepted events."""

from __future__ import annotations

import json
import logging
import os
import re

import pytest
import requests
from sqlalchemy import select, text

from b24app.extensions import db
from tests.conftest import CLIENT_SECRET
from tests.platform.helpers import fire, frame_token_from, open_placement, portal_row, stats

EVIL = "http://evil.example"


def _snapshot(live_app) -> str:
    """Every row of every table: a refused request must leave it byte for byte."""
    out = []
    with live_app.ctx():
        for table in db.metadata.sorted_tables:
            rows = db.session.execute(select(table)).all()
            out.append(f"{table.name}:{sorted(map(repr, rows))}")
        db.session.rollback()
    return "\n".join(out)


def _pages(installed, live_app) -> list[requests.Response]:
    return [
        open_placement(installed, live_app, "/b24/app"),
        open_placement(installed, live_app, "/b24/reports", placement="CRM_ANALYTICS_MENU"),
        open_placement(installed, live_app, "/b24/call-card", placement="CALL_CARD",
                       options={"CALL_ID": "sec-1", "PHONE_NUMBER": "+79001234567", "CALL_DIRECTION": "incoming"}),
        open_placement(installed, live_app, "/b24/app", user_id=2),
    ]


def test_secrets_never_reach_logs_or_pages(installed, live_app, caplog):
    caplog.set_level(logging.DEBUG)
    pages = _pages(installed, live_app)
    assert all(p.status_code == 200 for p in pages), [p.status_code for p in pages]
    token = frame_token_from(pages[0].text)
    # A frame token in a URL reaches werkzeug's request log; an event with a forged application token is logged.
    assert requests.get(f"{live_app.url}/b24/app", params={"ft": token}, timeout=10).status_code == 200
    fire(installed, "ONVOXIMPLANTCALLEND", {"CALL_ID": "sec-2", "CALL_TYPE": "1"})
    requests.post(f"{live_app.url}/b24/events", data={"event": "ONAPPUNINSTALL", "auth[member_id]": installed.member_id,
                                                      "auth[application_token]": "forged-app-token"}, timeout=10)
    p = portal_row(live_app, installed.member_id)
    # Whatever a line quotes (a payload, an exception's message), the credentials in it are masked.
    logging.getLogger("b24app.test").warning("payload %s", {"auth": {"access_token": p.access_token},
                                                             "refresh_token": p.refresh_token})
    try:
        raise RuntimeError(f"portal said no to client_secret={CLIENT_SECRET}&refresh_token={p.refresh_token}")
    except RuntimeError:
        logging.getLogger("b24app.test").exception("failed")
    secrets = {"access": p.access_token, "refresh": p.refresh_token, "application": p.application_token,
               "client secret": CLIENT_SECRET, "secret key": live_app.app.config["SECRET_KEY"], "frame": token,
               "forged": "forged-app-token"}
    assert all(secrets.values())
    logged = caplog.text + "".join(r.exc_text or "" for r in caplog.records)
    assert "GET /b24/app?ft=***" in logged  # the request line is there, its token is not
    assert {k for k, v in secrets.items() if v in logged} == set()
    for page in pages:
        shown = {k for k, v in secrets.items() if k != "frame" and v in page.text}
        assert shown == set(), f"{page.url} shows {shown}"
        assert page.headers.get("Cache-Control") == "no-store"


def test_a_frame_token_is_bound_to_its_install(installed, live_app):
    old = frame_token_from(open_placement(installed, live_app, "/b24/app").text)
    assert requests.get(f"{live_app.url}/b24/app", params={"ft": old}, timeout=10).status_code == 200
    r = requests.post(f"{installed.url}/_sandbox/install", json={"finish": True}, timeout=60)
    assert r.json()["install_status"] == 200
    refused = requests.get(f"{live_app.url}/b24/app", params={"ft": old}, timeout=10)
    assert refused.status_code == 401 and "Сессия недействительна" in refused.text
    new = frame_token_from(open_placement(installed, live_app, "/b24/app").text)
    assert requests.get(f"{live_app.url}/b24/app", params={"ft": new}, timeout=10).status_code == 200


def test_a_frame_token_is_bound_to_its_user_and_cannot_be_edited(installed, live_app):
    import base64

    manager = frame_token_from(open_placement(installed, live_app, "/b24/app", user_id=2).text)
    payload, rest = manager.split(".", 1)
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["u"] == 2 and claims["a"] is False
    forged = base64.urlsafe_b64encode(json.dumps({**claims, "u": 1, "a": True}).encode()).decode().rstrip("=")
    before = _snapshot(live_app)
    r = requests.post(f"{live_app.url}/b24/settings/roles", timeout=10,
                      data={"frame_token": f"{forged}.{rest}", "user_id": "3", "role": "admin"})
    assert r.status_code == 401 and "Сессия недействительна" in r.text
    r = requests.post(f"{live_app.url}/b24/settings/roles", timeout=10,
                      data={"frame_token": manager, "user_id": "3", "role": "admin"})
    assert r.status_code == 403
    assert _snapshot(live_app) == before


def _state_changing_rules(app):
    for rule in app.url_map.iter_rules():
        if "POST" in rule.methods and rule.endpoint not in ("inbox.receive", "portals.install", "static"):
            yield rule


def test_every_state_changing_route_refuses_a_page_elsewhere(installed, live_app):
    token = frame_token_from(open_placement(installed, live_app, "/b24/app").text)
    rules = list(_state_changing_rules(live_app.app))
    assert len(rules) >= 15  # every POST route of the app, found from its URL map
    before = _snapshot(live_app)
    for rule in rules:
        path = re.sub(r"<int:\w+>", "1", re.sub(r"<(?:string:)?\w+>", "x", rule.rule))
        data = {"frame_token": token, "user_id": "2", "role": "qa", "name": "Взлом", "days": "7", "topic_id": "1"}
        for headers in ({"Origin": EVIL}, {"Referer": f"{EVIL}/page"}, {"Origin": "null"}):
            r = requests.post(live_app.url + path, data=data, headers=headers, timeout=10, allow_redirects=False)
            assert r.status_code == 403, f"{path} {headers}: {r.status_code}"
            assert "не со страницы приложения" in r.text, path
        # A token in the URL opens pages, but never acts.
        r = requests.post(live_app.url + path, params={"ft": token}, data={"user_id": "2", "role": "qa"},
                          timeout=10, allow_redirects=False)
        assert r.status_code in (400, 401, 404), f"{path} with ?ft: {r.status_code}"
    assert _snapshot(live_app) == before
    # The app's own pages (Origin = the app) still act.
    r = requests.post(f"{live_app.url}/b24/settings/roles", data={"frame_token": token, "user_id": "2", "role": "qa"},
                      headers={"Origin": live_app.url}, timeout=10, allow_redirects=False)
    assert r.status_code == 303
    assert _snapshot(live_app) != before


def test_framing_is_allowed_to_the_installing_portal_only(installed, live_app):
    origin = f"http://{installed.domain}"
    for page in _pages(installed, live_app):
        assert page.headers["Content-Security-Policy"] == f"frame-ancestors {origin}", page.url
        assert page.headers["Referrer-Policy"] == "same-origin"
    for url in (f"{live_app.url}/healthz", f"{live_app.url}/b24/app"):
        assert requests.get(url, timeout=10).headers["Content-Security-Policy"] == "frame-ancestors 'none'"
    r = requests.post(f"{live_app.url}/b24/events", data={"event": "X"}, timeout=10)
    assert r.headers["Content-Security-Policy"] == "frame-ancestors 'none'"


LIMITS = {"install": (2, 60), "placement": (3, 60), "refused_event": (5, 60), "prompt": (4, 60)}


REDIS_URL = os.environ.get("TEST_REDIS_URL")


@pytest.fixture
def fresh_limits(live_app):
    """No counts of an earlier run in the same minute (before the install the test counts), and the whole
    test inside one clock minute: Redis counts in buckets aligned to the clock (ratelimit.count), and a
    bucket boundary between the fixture's install and the test's last request would reset the counts."""
    import time

    from b24app import ratelimit

    if time.time() % 60 > 45:
        time.sleep(60 - time.time() % 60 + 0.1)

    ratelimit._local.clear()  # the in-process counts outlive a live_app: the module is shared by the session
    if live_app.app.config.get("REDIS_URL"):
        import redis

        client = redis.Redis.from_url(live_app.app.config["REDIS_URL"])
        for key in client.scan_iter("rl:*"):
            client.delete(key)
LIMITED = {"RATE_LIMITS_ENABLED": True, "RATE_LIMITS": LIMITS}


@pytest.mark.parametrize("live_app", [
    pytest.param(LIMITED, id="in-process"),
    pytest.param({**LIMITED, "REDIS_URL": REDIS_URL}, id="redis",
                 marks=pytest.mark.skipif(not REDIS_URL, reason="TEST_REDIS_URL not set")),
], indirect=True)
def test_public_endpoints_are_rate_limited_and_accepted_events_never(fresh_limits, installed, live_app):
    # Forged events: refused, then 429 in Russian; the portal's genuine events are still taken.
    forged = {"event": "ONVOXIMPLANTCALLEND", "auth[member_id]": installed.member_id,
              "auth[application_token]": "forged", "data[CALL_ID]": "f"}
    codes = [requests.post(f"{live_app.url}/b24/events", data=forged, timeout=10).status_code for _ in range(7)]
    assert codes[:5] == [codes[0]] * 5 and 400 <= codes[0] < 500 and codes[0] != 429
    last = requests.post(f"{live_app.url}/b24/events", data=forged, timeout=10)
    assert codes[5:] == [429, 429] and last.status_code == 429 and last.headers["Retry-After"] == "60"
    assert "Слишком много запросов" in last.json()["message"]
    for i in range(8):
        fire(installed, "ONVOXIMPLANTCALLINIT", {"CALL_ID": f"genuine-{i}", "CALL_TYPE": "2"})
    with live_app.ctx():
        stored = db.session.execute(text("SELECT count(*) FROM event_inbox WHERE event = 'ONVOXIMPLANTCALLINIT'")).scalar()
    assert stored == 8

    # Placement opens with unknown user tokens: each costs a REST call, so after the limit none is made.
    before = stats(installed)["http_requests"]  # REST requests the portal served
    codes = [open_placement(installed, live_app, "/b24/app", auth_id=f"forged-{i}").status_code for i in range(5)]
    assert codes == [401, 401, 401, 429, 429]
    assert stats(installed)["http_requests"] - before == 3
    codes = [open_placement(installed, live_app, "/b24/app", auth_id=f"again-{i}").status_code for i in range(3)]
    assert codes == [429, 429, 429] and stats(installed)["http_requests"] - before == 3

    # The prompt page (its link is the credential): guessing links is cut short.
    codes = [requests.get(f"{live_app.url}/b24/topics/prompt/guess{i}", timeout=10).status_code for i in range(6)]
    assert codes == [404, 404, 404, 404, 429, 429]
    page = requests.get(f"{live_app.url}/b24/topics/prompt/guess", timeout=10)
    assert page.status_code == 429 and "Слишком много запросов" in page.text

    # Install: the fixture's install was the first; one more passes, the next is refused.
    assert requests.post(f"{installed.url}/_sandbox/install", json={"finish": True}, timeout=60).json()[
        "install_status"] == 200
    third = requests.post(f"{installed.url}/_sandbox/install", json={"finish": False}, timeout=60).json()
    assert third["install_status"] == 429, third


@pytest.mark.parametrize("live_app", [{**LIMITED, "TRUSTED_PROXIES": 1}], indirect=True)
def test_behind_a_trusted_proxy_each_client_is_counted_by_its_own_address(live_app):
    url = f"{live_app.url}/b24/topics/prompt/guess"
    first = [requests.get(url, headers={"X-Forwarded-For": "203.0.113.7"}, timeout=10).status_code for _ in range(5)]
    assert first == [404, 404, 404, 404, 429]
    # Another client behind the same proxy is not refused for the first one's guesses.
    assert requests.get(url, headers={"X-Forwarded-For": "203.0.113.8"}, timeout=10).status_code == 404
