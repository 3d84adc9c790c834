"""The QA smart process and its cards, created in the sandbox portal over REST (seed 000 scenarios)."""

from __future__ import annotations

import pytest
import requests

from b24app.calls.models import Call
from b24app.extensions import db
from b24app.qa.bootstrap import TITLE
from b24app.qa.models import QaSetup

from .test_intake import add_stat_row, callend, calls, fire


def _rest(sandbox, method, params=None):
    r = requests.post(f"{sandbox.webhook_url}{method}", json=params or {}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["result"]


def _setup(live_app) -> QaSetup:
    with live_app.ctx():
        s = db.session.query(QaSetup).one()
        db.session.expunge(s)
        return s


def _items(sandbox, setup):
    return _rest(sandbox, "crm.item.list", {"entityTypeId": setup.entity_type_id, "useOriginalUfNames": "Y",
                                            "select": ["*", "UF_*"]})["items"]


def test_install_creates_the_smart_process_once_with_stages_and_fields(installed, live_app):
    requests.post(f"{installed.url}/_sandbox/install", json={"finish": True}, timeout=60).raise_for_status()
    types = [t for t in _rest(installed, "crm.type.list")["types"] if t["title"] == TITLE]
    assert len(types) == 1
    setup = _setup(live_app)
    stages = _rest(installed, "crm.status.list", {"filter": {
        "ENTITY_ID": f"DYNAMIC_{setup.entity_type_id}_STAGE_{setup.category_id}"}})
    names = {s["NAME"]: s.get("SEMANTICS") or "" for s in stages}
    assert names == {"Оценить": "", "Оценено": "S", "Короткий звонок": "F", "Без оценки": "F"}
    fields = _rest(installed, "userfieldconfig.list", {"moduleId": "crm", "filter": {"entityId": f"CRM_{setup.type_id}"}})
    assert len(fields["fields"]) == 12
    bindings = requests.get(f"{installed.url}/_sandbox/bindings", timeout=10).json()["placements"]
    assert any(b["placement"] == f"CRM_DYNAMIC_{setup.entity_type_id}_DETAIL_TAB" for b in bindings)


def test_a_deleted_smart_process_is_recreated_on_reinstall(installed, live_app):
    setup = _setup(live_app)
    _rest(installed, "crm.type.delete", {"id": setup.type_id})
    requests.post(f"{installed.url}/_sandbox/install", json={"finish": True}, timeout=60).raise_for_status()
    types = [t for t in _rest(installed, "crm.type.list")["types"] if t["title"] == TITLE]
    assert len(types) == 1 and int(types[0]["id"]) != setup.type_id
    assert _setup(live_app).type_id == int(types[0]["id"])


@pytest.mark.parametrize("duration,stage,card", [
    (9, None, False), (10, "short", True), (30, "short", True), (31, "review", True), (300, "review", True),
])
def test_seed_scenarios_make_the_right_card(installed, live_app, duration, stage, card):
    row = add_stat_row(installed, CALL_TYPE="1", CALL_DURATION=str(duration), CALL_FAILED_CODE="200",
                       PORTAL_USER_ID="2", CRM_ACTIVITY_ID="0")
    fire(installed, "ONVOXIMPLANTCALLEND", callend(row))
    c = calls(live_app, call_id=row["CALL_ID"])[0]
    setup = _setup(live_app)
    mine = [i for i in _items(installed, setup) if i.get(setup.fields["call_id"]) == row["CALL_ID"]]
    if not card:
        assert c.qa_item_id is None and mine == []
        return
    assert len(mine) == 1 and c.qa_item_id == int(mine[0]["id"])
    item = mine[0]
    assert item["stageId"] == setup.stages[stage]
    assert str(item[setup.fields["manager"]]) == "2" and str(item[setup.fields["duration"]]) == str(duration)


def test_the_same_callend_three_times_makes_one_card(installed, live_app):
    row = add_stat_row(installed, CALL_TYPE="1", CALL_DURATION="95", CALL_FAILED_CODE="200", PORTAL_USER_ID="2")
    fire(installed, "ONVOXIMPLANTCALLEND", callend(row), times=3)
    setup = _setup(live_app)
    mine = [i for i in _items(installed, setup) if i.get(setup.fields["call_id"]) == row["CALL_ID"]]
    assert len(mine) == 1


def test_a_manager_outside_the_pilot_gets_no_card(installed, live_app):
    from b24app.calls.setup import settings_for

    with live_app.ctx():
        s = settings_for(db.session.query(Call.portal_id).first()[0])
        s.rules = {"user_ids": [3]}
        db.session.commit()
    row = add_stat_row(installed, CALL_TYPE="1", CALL_DURATION="95", CALL_FAILED_CODE="200", PORTAL_USER_ID="2")
    fire(installed, "ONVOXIMPLANTCALLEND", callend(row))
    c = calls(live_app, call_id=row["CALL_ID"])[0]
    assert c.selection == "out_of_scope" and c.qa_item_id is None


def test_a_call_whose_activity_was_deleted_still_gets_its_card(installed, live_app):
    row = add_stat_row(installed, CALL_TYPE="1", CALL_DURATION="95", CALL_FAILED_CODE="200", PORTAL_USER_ID="2",
                       CRM_ACTIVITY_ID="987654")  # no such activity in the portal's CRM
    fire(installed, "ONVOXIMPLANTCALLEND", callend(row))
    setup = _setup(live_app)
    mine = [i for i in _items(installed, setup) if i.get(setup.fields["call_id"]) == row["CALL_ID"]]
    assert len(mine) == 1
    assert calls(live_app, call_id=row["CALL_ID"])[0].qa_item_id == int(mine[0]["id"])


def test_the_card_title_shows_the_call_time_in_the_portals_zone(installed, live_app):
    row = add_stat_row(installed, CALL_TYPE="1", CALL_DURATION="95", CALL_FAILED_CODE="200", PORTAL_USER_ID="2")
    fire(installed, "ONVOXIMPLANTCALLEND", callend(row))
    setup = _setup(live_app)
    [item] = [i for i in _items(installed, setup) if i.get(setup.fields["call_id"]) == row["CALL_ID"]]
    local = row["CALL_START_DATE"]  # the portal's own wall clock, e.g. 2026-11-24T03:27:11+03:00
    assert f"{local[8:10]}.{local[5:7]}.{local[:4]} {local[11:16]}" in item["title"]
