"""Cross-cutting promises: no token in logs, placement auth cached for its lifetime, frame tokens expire."""

from __future__ import annotations

import logging

import pytest
import requests

from b24app.portals.rest import client_for

from .helpers import fire, frame_token_from, open_placement, portal_row, stats, user_tokens


def test_tokens_never_reach_the_logs(installed, live_app, caplog):
    caplog.set_level(logging.DEBUG)
    requests.post(f"{installed.url}/_sandbox/expire-tokens", timeout=10).raise_for_status()
    with live_app.ctx():
        client_for(installed.member_id).call("user.current")
    fire(installed, "ONVOXIMPLANTCALLEND", {"CALL_ID": "x1", "CALL_TYPE": "1"})
    requests.post(f"{live_app.url}/b24/events", data={"event": "ONAPPUNINSTALL", "auth[member_id]": installed.member_id,
                                                      "auth[application_token]": "forged"}, timeout=10)
    p = portal_row(live_app, installed.member_id)
    secrets = [p.access_token, p.refresh_token, p.application_token]
    assert all(s and s not in caplog.text for s in secrets)


def test_placement_auth_is_checked_once_per_token(installed, live_app):
    tok = user_tokens(installed, 1)
    before = stats(installed)["rest_calls"].get("user.current", 0)
    for _ in range(3):
        r = open_placement(installed, live_app, "/b24/app", auth_id=tok["access_token"])
        assert r.status_code == 200
    assert stats(installed)["rest_calls"].get("user.current", 0) - before == 1


@pytest.mark.parametrize("live_app", [{"FRAME_TOKEN_TTL": -1}], indirect=True)
def test_an_expired_frame_token_is_refused(installed, live_app):
    token = frame_token_from(open_placement(installed, live_app, "/b24/app").text)
    r = requests.post(f"{live_app.url}/b24/settings/roles", data={"frame_token": token, "user_id": "2", "role": "qa"},
                      timeout=10)
    assert r.status_code == 401 and "Сессия истекла" in r.text


def test_a_frame_token_of_one_portal_does_not_open_another(installed, live_app):
    """Tokens carry the portal; a token whose portal was uninstalled is refused."""
    token = frame_token_from(open_placement(installed, live_app, "/b24/app").text)
    requests.post(f"{installed.url}/_sandbox/uninstall", json={"clean": 0}, timeout=30).raise_for_status()
    r = requests.get(f"{live_app.url}/b24/app", params={"ft": token}, timeout=10)
    assert r.status_code == 403
