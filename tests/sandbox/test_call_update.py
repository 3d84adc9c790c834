"""Changing a stored statistics row later (a recording attached after the call) through the admin route."""

from __future__ import annotations

import requests


def test_a_row_can_get_its_recording_later_and_rest_shows_it(sandbox):
    added = requests.post(f"{sandbox.url}/_sandbox/calls", json={"rows": [{"CALL_TYPE": "1", "CALL_DURATION": "40",
                                                                           "RECORD_FILE_ID": None}]}, timeout=10).json()
    row_id = added["rows"][0]["ID"]
    r = requests.post(f"{sandbox.url}/_sandbox/calls/{row_id}", json={"RECORD_FILE_ID": 55}, timeout=10)
    assert r.status_code == 200 and r.json()["RECORD_FILE_ID"] == 55
    page = requests.post(f"{sandbox.webhook_url}voximplant.statistic.get",
                         json={"FILTER": {"ID": row_id}}, timeout=10).json()["result"]
    assert len(page) == 1 and str(page[0]["RECORD_FILE_ID"]) == "55" and page[0]["CALL_DURATION"] in (40, "40")


def test_updating_an_unknown_row_is_a_404(sandbox):
    r = requests.post(f"{sandbox.url}/_sandbox/calls/999999999", json={"RECORD_FILE_ID": 1}, timeout=10)
    assert r.status_code == 404
