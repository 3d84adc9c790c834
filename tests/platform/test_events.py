"""Incoming events: verified by application token, stored once, processed once; uninstall and purge."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests

from b24app.extensions import db
from b24app.inbox import service
from b24app.inbox.models import InboxEvent
from b24app.models_base import utcnow
from b24app.portals.lifecycle import purge_due_portals
from b24app.portals.models import Portal, PortalUser

from .helpers import fire, portal_row

CALLEND = {"CALL_ID": "externalCall.abc.1773239327", "CALL_TYPE": "1", "PHONE_NUMBER": "+79001234567",
           "PORTAL_NUMBER": "REST_APP:", "PORTAL_USER_ID": "2", "CALL_DURATION": "42",
           "CALL_START_DATE": "2026-11-20T10:00:00+03:00", "COST": "0", "COST_CURRENCY": "RUB",
           "CALL_FAILED_CODE": "200", "CALL_FAILED_REASON": "", "CRM_ACTIVITY_ID": "15"}


@pytest.fixture
def seen(monkeypatch):
    calls = []
    monkeypatch.setitem(service.HANDLERS, "ONVOXIMPLANTCALLEND", lambda portal, data, ts: calls.append(data))
    return calls


def _inbox_count(live_app) -> int:
    with live_app.ctx():
        return db.session.query(InboxEvent).filter_by(event="ONVOXIMPLANTCALLEND").count()


def _post_event(live_app, member_id: str, app_token: str | None, event="ONVOXIMPLANTCALLEND", data=None):
    form = {"event": event, "ts": "1773239624", "auth[member_id]": member_id, "auth[domain]": "x"}
    if app_token is not None:
        form["auth[application_token]"] = app_token
    for k, v in (data or CALLEND).items():
        form[f"data[{k}]"] = v
    return requests.post(f"{live_app.url}/b24/events", data=form, timeout=10)


def test_a_delivered_event_is_stored_and_processed(installed, live_app, seen):
    out = fire(installed, "ONVOXIMPLANTCALLEND", CALLEND)
    assert [d["status"] for d in out["deliveries"]] == [200]
    assert seen == [CALLEND]
    with live_app.ctx():
        row = db.session.query(InboxEvent).filter_by(event="ONVOXIMPLANTCALLEND").one()
        assert row.status == "done" and row.event == "ONVOXIMPLANTCALLEND"
        assert "access_token" not in row.payload  # tokens are never stored with events


def test_a_duplicated_event_is_processed_once(installed, live_app, seen):
    out = fire(installed, "ONVOXIMPLANTCALLEND", CALLEND, times=3)
    assert [d["status"] for d in out["deliveries"]] == [200, 200, 200]
    assert len(seen) == 1
    assert _inbox_count(live_app) == 1


@pytest.mark.parametrize("token", ["wrong-token", "", None])
def test_a_forged_event_is_refused_and_changes_nothing(installed, live_app, seen, token):
    r = _post_event(live_app, installed.member_id, token)
    assert r.status_code == 401
    assert seen == [] and _inbox_count(live_app) == 0


def test_an_event_for_an_unknown_portal_is_refused(installed, live_app, seen):
    real = portal_row(live_app, installed.member_id)
    r = _post_event(live_app, "not-a-member", real.application_token)
    assert r.status_code == 401
    assert seen == [] and _inbox_count(live_app) == 0


def test_an_uninstall_event_with_a_forged_token_changes_nothing(installed, live_app):
    r = _post_event(live_app, installed.member_id, "forged", event="ONAPPUNINSTALL", data={"CLEAN": "1"})
    assert r.status_code == 401
    assert portal_row(live_app, installed.member_id).status == "active"


def test_a_malformed_event_is_a_400(live_app):
    r = requests.post(f"{live_app.url}/b24/events", data={"nothing": "here"}, timeout=10)
    assert r.status_code == 400


def test_uninstall_stops_keeps_data_then_purges(installed, live_app):
    requests.post(f"{installed.url}/_sandbox/uninstall", json={"clean": 0}, timeout=30).raise_for_status()
    p = portal_row(live_app, installed.member_id)
    assert p.status == "uninstalled" and p.access_token == "" and p.refresh_token == ""
    assert p.purge_after is not None
    with live_app.ctx():
        assert db.session.query(PortalUser).filter_by(portal_id=p.id).count() > 0
        assert purge_due_portals() == []  # retention not over yet
        assert purge_due_portals(now=utcnow() + timedelta(days=31)) == [installed.member_id]
        assert db.session.query(Portal).count() == 0
        assert db.session.query(PortalUser).count() == 0


def test_reinstall_within_retention_reuses_the_data(installed, live_app):
    before = portal_row(live_app, installed.member_id)
    requests.post(f"{installed.url}/_sandbox/uninstall", json={"clean": 0}, timeout=30).raise_for_status()
    requests.post(f"{installed.url}/_sandbox/install", json={"finish": True}, timeout=30).raise_for_status()
    after = portal_row(live_app, installed.member_id)
    assert after.id == before.id and after.status == "active" and after.purge_after is None
