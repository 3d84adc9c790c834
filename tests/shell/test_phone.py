"""The telephony simulator's JSON admin routes: a call from start to the statistics row and CALLEND."""

from __future__ import annotations

import time

import requests


def _post(sandbox, path, body=None):
    r = requests.post(sandbox.url + "/_sandbox/phone" + path, json=body or {}, timeout=10)
    return r.status_code, r.json()


def _stat(sandbox, call_id):
    url = f"{sandbox.url}/rest/1/{sandbox.state.settings.webhook_token}/voximplant.statistic.get"
    r = requests.post(url, json={"FILTER": {"CALL_ID": call_id}}, timeout=10)
    return r.json()["result"]


def test_outgoing_call_answered_and_hung_up(sandbox):
    status, started = _post(sandbox, "/start", {"user_id": 1, "phone": "+79990001122", "direction": "outgoing"})
    assert status == 200
    opts = started["options"]
    call_id = started["call_id"]
    assert opts["CALL_ID"] == call_id and opts["PHONE_NUMBER"] == "+79990001122"
    assert opts["CALL_DIRECTION"] == "outgoing" and opts["CRM_ACTIVITY_ID"] == "undefined"
    assert set(opts) >= {"LINE_NUMBER", "LINE_NAME", "CRM_ENTITY_TYPE", "CRM_ENTITY_ID", "CALL_STATE",
                         "CALL_LIST_MODE"}
    assert _post(sandbox, f"/{call_id}/answer")[1]["options"]["CALL_STATE"] == "connected"
    status, done = _post(sandbox, f"/{call_id}/hangup", {"talk_seconds": 42, "vote": 5})
    assert status == 200
    assert set(done["event"]) == {"CALL_ID", "CALL_TYPE", "PHONE_NUMBER", "PORTAL_NUMBER", "PORTAL_USER_ID",
                                  "CALL_DURATION", "CALL_START_DATE", "COST", "COST_CURRENCY",
                                  "CALL_FAILED_CODE", "CALL_FAILED_REASON", "CRM_ACTIVITY_ID"}
    rows = _stat(sandbox, call_id)
    assert len(rows) == 1
    row = rows[0]
    assert row["CALL_TYPE"] == "1" and row["CALL_DURATION"] == "42" and row["CALL_FAILED_CODE"] == "200"
    assert row["PORTAL_USER_ID"] == "1" and str(row["CALL_VOTE"]) == "5"
    assert row["RECORD_FILE_ID"]  # record_delay defaults to 0
    assert _post(sandbox, f"/{call_id}/hangup")[0] == 400  # already finished


def test_incoming_call_missed_and_record_delay(sandbox):
    assert _post(sandbox, "/settings", {"record_delay": 0.5})[1] == {"record_delay": 0.5}
    _, started = _post(sandbox, "/start", {"user_id": 1, "phone": "+79990003344", "direction": "incoming"})
    call_id = started["call_id"]
    assert started["options"]["CALL_DIRECTION"] == "incoming"
    _, done = _post(sandbox, f"/{call_id}/miss")
    assert done["event"]["CALL_FAILED_CODE"] == "304"
    row = _stat(sandbox, call_id)[0]
    assert row["CALL_TYPE"] == "2" and row["CALL_DURATION"] == "0" and row["RECORD_FILE_ID"] is None

    _, started = _post(sandbox, "/start", {"user_id": 1, "phone": "+79990003355", "direction": "incoming"})
    call_id = started["call_id"]
    _post(sandbox, f"/{call_id}/answer")
    _post(sandbox, f"/{call_id}/hangup", {"talk_seconds": 10})
    assert _stat(sandbox, call_id)[0]["RECORD_FILE_ID"] is None  # not yet: the recording comes later
    time.sleep(1.0)
    assert _stat(sandbox, call_id)[0]["RECORD_FILE_ID"]


def test_unknown_call_is_404(sandbox):
    assert _post(sandbox, "/nope/answer")[0] == 404
    assert _post(sandbox, "/start", {"user_id": 1, "phone": "", "direction": "outgoing"})[0] == 400
