"""Firing events: one form-encoded POST per bound handler, with bracketed keys and the auth block
of REST-FACTS §3.2; tokens only when asked; drops and dead handlers."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from .helpers import admin, call, stats

CALLEND = {"CALL_ID": "externalCall.abc.1773239327", "CALL_TYPE": "1", "PHONE_NUMBER": "+79001234567",
           "PORTAL_NUMBER": "REST_APP:", "PORTAL_USER_ID": "2", "CALL_DURATION": "42",
           "CALL_START_DATE": "2026-11-20T10:00:00+03:00", "COST": "0", "COST_CURRENCY": "RUB",
           "CALL_FAILED_CODE": "200", "CALL_FAILED_REASON": "", "CRM_ACTIVITY_ID": "15"}


@pytest.fixture
def portal(make_sandbox, stub_app):
    sandbox = make_sandbox(app_url=stub_app.url)
    out = admin(sandbox, "install", {"finish": True})
    token = out["access_token"]
    for event in ("ONVOXIMPLANTCALLEND", "ONCRMDEALUPDATE"):
        assert call(sandbox, "event.bind", token, {"event": event, "handler": stub_app.url + "/b24/events"}
                    ).json()["result"] is True
    sandbox.test_token = token
    return sandbox


def fire(portal, event="ONVOXIMPLANTCALLEND", data=None, **kw) -> dict:
    return admin(portal, "events/fire", {"event": event, "data": data or CALLEND, **kw})


def test_event_post_format(portal, stub_app):
    out = fire(portal, user_id=2)
    assert [d["status"] for d in out["deliveries"]] == [200] and out["dropped"] == 0
    [post] = stub_app.received("/b24/events")
    pairs = parse_qsl(post["raw"], keep_blank_values=True)
    form = dict(pairs)
    assert [k for k, _ in pairs][:2] == ["event", "event_handler_id"]
    assert form["event"] == "ONVOXIMPLANTCALLEND" and form["event_handler_id"] == out["deliveries"][0]["event_handler_id"]
    assert {k[5:-1]: v for k, v in form.items() if k.startswith("data[")} == CALLEND
    assert form["ts"].isdigit()
    auth = {k[5:-1]: v for k, v in form.items() if k.startswith("auth[")}
    assert list(auth) == ["access_token", "expires_in", "scope", "domain", "server_endpoint", "status",
                          "client_endpoint", "member_id", "application_token"]
    assert (auth["expires_in"], auth["status"], auth["domain"], auth["member_id"]) == \
        ("3600", "L", portal.domain, portal.member_id)
    assert auth["client_endpoint"] == portal.client_endpoint and auth["server_endpoint"] == portal.server_endpoint
    assert call(portal, "user.current", auth["access_token"]).json()["result"]["ID"] == "2"


def test_without_tokens_and_nested_data(portal, stub_app):
    fire(portal, "ONCRMDEALUPDATE", {"FIELDS": {"ID": "6641"}}, with_tokens=False)
    form = dict(parse_qsl(stub_app.received("/b24/events")[-1]["raw"]))
    assert form["data[FIELDS][ID]"] == "6641" and "auth[access_token]" not in form and "auth[expires_in]" not in form
    assert form["auth[application_token]"]


def test_times_repeats_and_drop_share_drops(portal, stub_app):
    assert [d["status"] for d in fire(portal, times=3)["deliveries"]] == [200, 200, 200]
    admin(portal, "settings", {"drop_events_share": 1.0})
    assert fire(portal, times=2) == {"deliveries": [], "dropped": 2, "installed": True}
    assert len(stub_app.received("/b24/events")) == 3
    assert stats(portal)["events"] == {"delivered": 3, "failed": 0, "dropped": 2, "offline_queued": 0}


def test_a_failing_or_dead_handler_is_just_a_failed_delivery(portal, stub_app):
    stub_app.status = 500
    assert [d["status"] for d in fire(portal)["deliveries"]] == [500]
    stub_app.stop()
    [dead] = fire(portal)["deliveries"]
    assert dead["status"] is None and dead["error"]
    assert stats(portal)["events"]["failed"] == 2


def test_an_event_with_no_handler_goes_nowhere(portal, stub_app):
    assert fire(portal, "ONCRMDEALADD", {"FIELDS": {"ID": "1"}}) == {"deliveries": [], "dropped": 0,
                                                                     "installed": True}
