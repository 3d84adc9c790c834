"""Calls registered by an external PBX (telephony.externalCall.*) are taken in like Voximplant calls,
and a selected one gets a card bound to its CRM activity and client."""

from __future__ import annotations

import time

import requests

from b24app.extensions import db
from b24app.qa.models import QaSetup

from ..platform.helpers import portal_row
from .test_intake import calls


def _app_call(sandbox, live_app, method, params):
    token = portal_row(live_app, sandbox.member_id).access_token
    r = requests.post(f"{sandbox.client_endpoint}{method}", json={**params, "auth": token}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["result"]


def _wait_for_call(live_app, call_id, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = calls(live_app, call_id=call_id)
        if got and got[0].enriched:
            return got[0]
        time.sleep(0.2)
    raise AssertionError(f"call {call_id} not taken in within {timeout} s")


def test_an_external_pbx_call_becomes_a_call_with_a_card_bound_to_its_activity(installed, live_app):
    contact = _app_call(installed, live_app, "crm.contact.add", {"fields": {
        "NAME": "Ирина", "LAST_NAME": "Соколова", "PHONE": [{"VALUE": "+79161234567", "VALUE_TYPE": "WORK"}]}})
    reg = _app_call(installed, live_app, "telephony.externalCall.register", {
        "USER_ID": 2, "PHONE_NUMBER": "+79161234567", "TYPE": 1, "CRM_ENTITY_TYPE": "CONTACT",
        "CRM_ENTITY_ID": contact, "SHOW": 0})
    _app_call(installed, live_app, "telephony.externalCall.finish", {"CALL_ID": reg["CALL_ID"], "USER_ID": 2,
                                                                     "DURATION": 75, "STATUS_CODE": 200})
    call = _wait_for_call(live_app, reg["CALL_ID"])
    assert call.portal_number.startswith("REST_APP:") and call.rest_app_id
    assert call.selection == "review" and call.crm_entity_type == "CONTACT" and call.crm_entity_id == int(contact)
    _wait = time.monotonic() + 30
    while call.qa_item_id in (None, 0) and time.monotonic() < _wait:
        time.sleep(0.2)
        call = calls(live_app, call_id=reg["CALL_ID"])[0]
    assert call.qa_item_id
    with live_app.ctx():
        setup = db.session.query(QaSetup).one()
        etid = setup.entity_type_id
    bindings = _app_call(installed, live_app, "crm.activity.binding.list", {"activityId": call.crm_activity_id})
    assert {"entityTypeId": etid, "entityId": call.qa_item_id} in [
        {"entityTypeId": int(b["entityTypeId"]), "entityId": int(b["entityId"])} for b in bindings]
    item = _app_call(installed, live_app, "crm.item.get", {"entityTypeId": etid, "id": call.qa_item_id})["item"]
    assert int(item["contactId"]) == int(contact)
