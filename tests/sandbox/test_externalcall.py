"""telephony.externalCall.*: register → finish writes the statistics row and the CRM call activity and
fires ONVOXIMPLANTCALLEND; attachRecord; webhooks are refused; lines and voximplant users."""

from __future__ import annotations

import base64
import time
from urllib.parse import parse_qsl

import requests

from .helpers import admin, call, hook, settings


def _wait(stub_app, path, n=1, timeout=5.0):
    deadline = time.time() + timeout
    while time.time() < deadline and len(stub_app.received(path)) < n:
        time.sleep(0.02)
    return stub_app.received(path)


def test_register_finish_row_activity_and_event(make_sandbox, stub_app):
    sandbox = make_sandbox(app_url=stub_app.url)
    token = admin(sandbox, "install", {"finish": True})["access_token"]
    assert call(sandbox, "event.bind", token, {"event": "ONVOXIMPLANTCALLEND",
                                               "handler": stub_app.url + "/b24/events"}).json()["result"] is True
    cid = hook(sandbox, "crm.contact.add", {"fields": {"NAME": "Вера", "LAST_NAME": "Павлова",
                                                       "PHONE": [{"VALUE": "+79005556677"}]}}).json()["result"]
    assert hook(sandbox, "telephony.externalCall.register", {"USER_ID": 3, "PHONE_NUMBER": "+79005556677",
                                                             "TYPE": 2}).json()["error"] == "WRONG_AUTH_TYPE"
    reg = call(sandbox, "telephony.externalCall.register", token, {
        "USER_ID": 3, "PHONE_NUMBER": "+79005556677", "TYPE": 2}).json()["result"]
    assert reg["CALL_ID"].startswith("externalCall.") and (reg["CRM_ENTITY_TYPE"], reg["CRM_ENTITY_ID"]) == \
        ("CONTACT", cid) and reg["CRM_CREATED_LEAD"] is None and reg["CRM_CREATED_ENTITIES"] == []
    again = call(sandbox, "telephony.externalCall.register", token, {
        "USER_ID": 3, "PHONE_NUMBER": "+79005556677", "TYPE": 2}).json()["result"]
    assert again["CALL_ID"] == reg["CALL_ID"]  # 30-minute dedup
    assert [c["CALL_ID"] for c in sandbox.state.lines.active_calls()] == [reg["CALL_ID"]]
    before = len(sandbox.state.calls)
    fin = call(sandbox, "telephony.externalCall.finish", token, {
        "CALL_ID": reg["CALL_ID"], "USER_ID": 3, "DURATION": 95, "VOTE": 5}).json()["result"]
    assert len(sandbox.state.calls) == before + 1
    assert (fin["INCOMING"], fin["CALL_DURATION"], fin["CALL_STATUS"], fin["CALL_FAILED_CODE"], fin["CALL_VOTE"]) == \
        ("2", 95, 1, "200", 5)
    assert fin["CALL_START_DATE"] == {} and fin["PORTAL_NUMBER"] == "REST_APP:1"
    stat = hook(sandbox, "voximplant.statistic.get", {"FILTER": {"CALL_ID": reg["CALL_ID"]}}).json()["result"]
    [row] = stat
    assert row["ID"] == str(fin["ID"]) and row["CRM_ACTIVITY_ID"] == str(fin["CRM_ACTIVITY_ID"])
    assert (row["PORTAL_USER_ID"], row["CALL_TYPE"], row["REST_APP_ID"]) == ("3", "2", "1")
    act = hook(sandbox, "crm.activity.get", {"id": fin["CRM_ACTIVITY_ID"]}).json()["result"]
    assert (act["OWNER_TYPE_ID"], act["OWNER_ID"], act["ORIGIN_ID"], act["DIRECTION"], act["RESPONSIBLE_ID"]) == \
        ("3", str(cid), "VI_" + reg["CALL_ID"], "1", "3")

    [post] = _wait(stub_app, "/b24/events")
    form = dict(parse_qsl(post["raw"], keep_blank_values=True))
    data = {k[5:-1]: v for k, v in form.items() if k.startswith("data[")}
    assert form["event"] == "ONVOXIMPLANTCALLEND"
    assert list(data) == ["CALL_ID", "CALL_TYPE", "PHONE_NUMBER", "PORTAL_NUMBER", "PORTAL_USER_ID", "CALL_DURATION",
                          "CALL_START_DATE", "COST", "COST_CURRENCY", "CALL_FAILED_CODE", "CALL_FAILED_REASON",
                          "CRM_ACTIVITY_ID"]
    assert data["CALL_ID"] == reg["CALL_ID"] and data["CRM_ACTIVITY_ID"] == str(fin["CRM_ACTIVITY_ID"])

    rec = call(sandbox, "telephony.externalCall.attachRecord", token, {
        "CALL_ID": reg["CALL_ID"], "FILENAME": "call.wav",
        "FILE_CONTENT": base64.b64encode(b"RIFF-wav").decode()}).json()["result"]
    row = hook(sandbox, "voximplant.statistic.get", {"FILTER": {"CALL_ID": reg["CALL_ID"]}}).json()["result"][0]
    assert row["RECORD_FILE_ID"] == rec["FILE_ID"] and requests.get(row["CALL_RECORD_URL"], timeout=5).content == \
        b"RIFF-wav"
    assert sandbox.state.crm.activity(fin["CRM_ACTIVITY_ID"])["STORAGE_ELEMENT_IDS"] == [rec["FILE_ID"]]
    up = call(sandbox, "telephony.externalCall.attachRecord", token, {"CALL_ID": reg["CALL_ID"],
                                                                      "FILENAME": "second.mp3"}).json()["result"]
    assert up["fieldName"] == "file"
    requests.post(up["uploadUrl"], files={"file": ("second.mp3", b"ID3")}, timeout=5).raise_for_status()
    assert sandbox.state.crm.activity(fin["CRM_ACTIVITY_ID"])["STORAGE_ELEMENT_IDS"][-1] != rec["FILE_ID"]


def test_missed_call_creates_lead_and_missed_activity(make_sandbox):
    sandbox = make_sandbox()
    token = admin(sandbox, "tokens", {"user_id": 1})["access_token"]
    line = call(sandbox, "telephony.externalLine.add", token, {"NUMBER": "+74957654321", "NAME": "АТС"}).json()
    assert isinstance(line["result"]["ID"], int)
    reg = call(sandbox, "telephony.externalCall.register", token, {
        "USER_PHONE_INNER": "102", "PHONE_NUMBER": "+79990001122", "TYPE": 2, "CRM_CREATE": 1,
        "LINE_NUMBER": "+74957654321", "SHOW": 0}).json()["result"]
    assert reg["CRM_ENTITY_TYPE"] == "LEAD" and reg["CRM_CREATED_ENTITIES"] == [
        {"ENTITY_TYPE": "LEAD", "ENTITY_ID": reg["CRM_CREATED_LEAD"]}]
    assert call(sandbox, "telephony.externalCall.show", token, {"CALL_ID": reg["CALL_ID"], "USER_ID": [3, 4]}
                ).json()["result"] is True
    fin = call(sandbox, "telephony.externalCall.finish", token, {"CALL_ID": reg["CALL_ID"],
                                                                 "USER_ID": 3}).json()["result"]
    assert fin["CALL_FAILED_CODE"] == "304" and fin["PORTAL_NUMBER"] == "+74957654321"
    assert sandbox.state.crm.activity(fin["CRM_ACTIVITY_ID"])["SETTINGS"] == {"MISSED_CALL": True}


def test_lines_and_voximplant_users(make_sandbox):
    sandbox = make_sandbox()
    lines = hook(sandbox, "voximplant.line.get").json()["result"]
    assert len(lines) >= 2 and len(set(lines.values())) == len(lines)
    assert sandbox.state.lines.get("reg133788")["number"] == "+74952123456"
    users = hook(sandbox, "voximplant.user.get", {"USER_ID": [2, 3]}).json()["result"]
    assert [u["INNER_NUMBER"] for u in users] == ["101", "102"]
    settings(sandbox, voximplant_user_confirm=True)
    token = admin(sandbox, "tokens", {"user_id": 1})["access_token"]
    r = call(sandbox, "voximplant.user.get", token, {"USER_ID": 2})
    assert (r.status_code, r.json()["error"]) == (401, "METHOD_CONFIRM_WAITING")
    assert admin(sandbox, "method-confirm")["confirmed"] == 1
    assert call(sandbox, "voximplant.user.get", token, {"USER_ID": 2}).json()["result"][0]["ID"] == "2"


def test_offline_events_get_clear_error(make_sandbox, stub_app):
    sandbox = make_sandbox(app_url=stub_app.url)
    token = admin(sandbox, "install", {"finish": True})["access_token"]
    assert call(sandbox, "event.bind", token, {"event": "ONCRMDEALUPDATE", "event_type": "offline"}
                ).json()["result"] is True
    for deal in (1, 2, 1):  # the queue keeps the latest state per object
        admin(sandbox, "events/fire", {"event": "ONCRMDEALUPDATE", "data": {"FIELDS": {"ID": str(deal)}}})
    listed = call(sandbox, "event.offline.list", token).json()["result"]
    assert [r["EVENT_DATA"]["FIELDS"]["ID"] for r in listed] == ["2", "1"]
    got = call(sandbox, "event.offline.get", token, {"clear": 0, "limit": 1}).json()["result"]
    [ev] = got["events"]
    assert got["process_id"] and set(ev) == {"ID", "TIMESTAMP_X", "EVENT_NAME", "EVENT_DATA", "EVENT_ADDITIONAL",
                                             "MESSAGE_ID"}
    assert call(sandbox, "event.offline.error", token, {"process_id": got["process_id"],
                                                        "message_id": [ev["MESSAGE_ID"]]}).json()["result"] is True
    rest = call(sandbox, "event.offline.get", token, {"clear": 0}).json()["result"]
    assert [e["EVENT_DATA"]["FIELDS"]["ID"] for e in rest["events"]] == ["1"]
    assert call(sandbox, "event.offline.clear", token, {"process_id": rest["process_id"]}).json()["result"] is True
    assert call(sandbox, "event.offline.get", token).json()["result"]["events"] == []
    errors = call(sandbox, "event.offline.get", token, {"error": 1}).json()["result"]["events"]
    assert [e["ID"] for e in errors] == [ev["ID"]]
    assert hook(sandbox, "event.offline.get").json()["error"] == "WRONG_AUTH_TYPE"
