"""Smart processes over HTTP: type, stages, user field naming, items with paging and filters,
activity bindings and the client lookup by phone."""

from __future__ import annotations

from .helpers import hook


def ok(r):
    body = r.json()
    assert r.status_code == 200, body
    return body


def test_spa_type_stages_userfield_and_item_round_trip(sandbox):
    t = ok(hook(sandbox, "crm.type.add", {"fields": {"title": "Разбор звонка", "isStagesEnabled": "Y",
                                                     "isClientEnabled": "Y", "isCategoriesEnabled": "Y"}}))["result"]["type"]
    type_id, etid = t["id"], t["entityTypeId"]
    assert etid >= 1030 and etid % 2 == 0 and type_id != etid
    assert ok(hook(sandbox, "crm.type.get", {"id": type_id}))["result"]["type"]["entityTypeId"] == etid
    bad = hook(sandbox, "crm.type.add", {"fields": {"title": "x", "entityTypeId": 1031}})
    assert bad.json()["error"] == "INVALID_ARG_VALUE"

    [cat] = ok(hook(sandbox, "crm.category.list", {"entityTypeId": etid}))["result"]["categories"]
    stages = ok(hook(sandbox, "crm.status.list", {"filter": {"ENTITY_ID": f"DYNAMIC_{etid}_STAGE_{cat['id']}"}}))
    ids = [s["STATUS_ID"] for s in stages["result"]]
    assert ids[0] == f"DT{etid}_{cat['id']}:NEW" and ids[-2:] == [f"DT{etid}_{cat['id']}:SUCCESS",
                                                                 f"DT{etid}_{cat['id']}:FAIL"]
    assert [s["SEMANTICS"] for s in stages["result"]][-2:] == ["S", "F"]
    new_id = ok(hook(sandbox, "crm.status.add", {"fields": {"ENTITY_ID": f"DYNAMIC_{etid}_STAGE_{cat['id']}",
                                                            "STATUS_ID": "REVIEW", "NAME": "На проверке",
                                                            "SORT": 25}}))["result"]
    assert isinstance(new_id, int)
    types = ok(hook(sandbox, "crm.status.entity.types"))["result"]
    assert any(x["ID"] == f"DYNAMIC_{etid}_STAGE_{cat['id']}" and x["PREFIX"] == f"DT{etid}_{cat['id']}" for x in types)

    field = ok(hook(sandbox, "userfieldconfig.add", {"moduleId": "crm", "field": {
        "entityId": f"CRM_{type_id}", "fieldName": f"UF_CRM_{type_id}_CALL_TOPIC", "userTypeId": "string",
        "editFormLabel": {"ru": "Тема звонка"}}}))["result"]["field"]
    assert field["fieldName"] == f"UF_CRM_{type_id}_CALL_TOPIC"
    ok(hook(sandbox, "userfieldconfig.add", {"moduleId": "crm", "field": {
        "entityId": f"CRM_{type_id}", "fieldName": f"UF_CRM_{type_id}_1721812760630", "userTypeId": "boolean"}}))
    camel, numeric = f"ufCrm{type_id}CallTopic", f"ufCrm{type_id}_1721812760630"
    fields = ok(hook(sandbox, "crm.item.fields", {"entityTypeId": etid}))["result"]["fields"]
    assert fields[camel]["upperName"] == f"UF_CRM_{type_id}_CALL_TOPIC" and numeric in fields

    item = ok(hook(sandbox, "crm.item.add", {"entityTypeId": etid, "fields": {
        "title": "Звонок 1", camel: "Доставка", numeric: "Y", "contactId": 5, "bogus": 1}}))["result"]["item"]
    assert item["stageId"] == f"DT{etid}_{cat['id']}:NEW" and item[camel] == "Доставка" and item[numeric] == "Y"
    assert item["contactId"] == 5 and "bogus" not in item and item["entityTypeId"] == etid
    got = ok(hook(sandbox, "crm.item.get", {"entityTypeId": etid, "id": item["id"], "useOriginalUfNames": "Y"}))
    assert got["result"]["item"][f"UF_CRM_{type_id}_CALL_TOPIC"] == "Доставка"
    upd = ok(hook(sandbox, "crm.item.update", {"entityTypeId": etid, "id": item["id"],
                                               "fields": {"stageId": f"DT{etid}_{cat['id']}:SUCCESS"}}))
    assert upd["result"]["item"]["previousStageId"] == f"DT{etid}_{cat['id']}:NEW"


def test_item_list_paging_filters_and_fast_scan(sandbox):
    etid = ok(hook(sandbox, "crm.type.add", {"fields": {"title": "Пачка", "isStagesEnabled": "Y"}}))[
        "result"]["type"]["entityTypeId"]
    state = sandbox.state
    for i in range(120):
        state.crm.add_item(etid, {"title": f"Item {i}", "opportunity": i, "assignedById": 1 + i % 3})
    first = ok(hook(sandbox, "crm.item.list", {"entityTypeId": etid}))
    assert len(first["result"]["items"]) == 50 and first["total"] == 120 and first["next"] == 50
    last = ok(hook(sandbox, "crm.item.list", {"entityTypeId": etid, "start": 100}))
    assert len(last["result"]["items"]) == 20 and "next" not in last
    flt = ok(hook(sandbox, "crm.item.list", {"entityTypeId": etid, "filter": {">=opportunity": 100, "assignedById": 2},
                                             "order": {"id": "DESC"}, "select": ["id", "title"]}))
    assert [i["id"] for i in flt["result"]["items"]] == [119, 116, 113, 110, 107, 104, 101]
    assert set(flt["result"]["items"][0]) == {"id", "title"}
    at = ok(hook(sandbox, "crm.item.list", {"entityTypeId": etid, "filter": {"@id": [3, 5], "%title": "item"}}))
    assert [i["id"] for i in at["result"]["items"]] == [3, 5]
    fast = ok(hook(sandbox, "crm.item.list", {"entityTypeId": etid, "filter": {">id": 100}, "order": {"id": "ASC"},
                                              "start": -1}))
    assert len(fast["result"]["items"]) == 20 and fast["total"] == 0 and "next" not in fast


def test_contact_by_phone_activity_and_bindings(sandbox):
    cid = ok(hook(sandbox, "crm.contact.add", {"fields": {"NAME": "Олег", "LAST_NAME": "Смирнов",
                                                          "PHONE": [{"VALUE": "+7 (900) 123-45-67",
                                                                     "VALUE_TYPE": "WORK"}]}}))["result"]
    found = ok(hook(sandbox, "crm.contact.list", {"filter": {"PHONE": "+79001234567"}, "select": ["ID", "NAME", "PHONE"]}))
    assert [c["ID"] for c in found["result"]] == [str(cid)] and found["result"][0]["PHONE"][0]["VALUE"]
    state = sandbox.state
    assert state.crm.find_by_phone("89001234567") == ("CONTACT", cid)
    assert state.crm.client_name("CONTACT", cid) == "Олег Смирнов"
    act = state.crm.add_call_activity({"CALL_ID": "externalCall.x.1", "CALL_TYPE": "2", "PHONE_NUMBER": "+79001234567",
                                       "PORTAL_USER_ID": "3", "CALL_START_DATE": "2026-11-20T10:00:00+03:00",
                                       "CALL_DURATION": "0", "CALL_FAILED_CODE": "304", "RECORD_FILE_ID": None})
    got = ok(hook(sandbox, "crm.activity.get", {"id": act}))["result"]
    assert (got["OWNER_TYPE_ID"], got["OWNER_ID"], got["DIRECTION"], got["ORIGIN_ID"]) == \
        ("3", str(cid), "1", "VI_externalCall.x.1")
    assert got["SETTINGS"] == {"MISSED_CALL": True} and got["RESPONSIBLE_ID"] == "3"
    state.crm.attach_record(act, 77)
    listed = ok(hook(sandbox, "crm.activity.list", {"filter": {"ORIGIN_ID": "VI_externalCall.x.1"},
                                                    "select": ["*", "STORAGE_ELEMENT_IDS", "COMMUNICATIONS"]}))
    row = listed["result"][0]
    assert row["FILES"][0]["id"] == 77 and row["COMMUNICATIONS"][0]["VALUE"] == "+79001234567"
    plain = ok(hook(sandbox, "crm.activity.list", {"filter": {"OWNER_TYPE_ID": 3, "OWNER_ID": cid}}))["result"][0]
    assert "FILES" not in plain and "COMMUNICATIONS" not in plain

    assert ok(hook(sandbox, "crm.activity.binding.add", {"activityId": act, "entityTypeId": 1038,
                                                         "entityId": 7}))["result"] is True
    assert ok(hook(sandbox, "crm.activity.binding.list", {"activityId": act}))["result"] == [
        {"entityTypeId": 3, "entityId": cid}, {"entityTypeId": 1038, "entityId": 7}]
    assert [a["ID"] for a in state.crm.bound_activities(1038, 7)] == [str(act)]
    assert ok(hook(sandbox, "crm.activity.binding.delete", {"activityId": act, "entityTypeId": 1038,
                                                            "entityId": 7}))["result"] is True
    assert state.crm.bound_activities(1038, 7) == []


def test_deals_with_categories_and_contacts(sandbox):
    cat = ok(hook(sandbox, "crm.category.add", {"entityTypeId": 2, "fields": {"name": "Сервис"}}))["result"]["category"]
    deal = ok(hook(sandbox, "crm.deal.add", {"fields": {"TITLE": "Поставка", "CATEGORY_ID": cat["id"],
                                                        "CONTACT_ID": 4, "ASSIGNED_BY_ID": 3}}))["result"]
    got = ok(hook(sandbox, "crm.deal.get", {"id": deal}))["result"]
    assert got["STAGE_ID"] == f"C{cat['id']}:NEW" and got["ASSIGNED_BY_ID"] == "3"
    assert ok(hook(sandbox, "crm.deal.contact.items.get", {"id": deal}))["result"][0]["CONTACT_ID"] == 4
    assert [c["NAME"] for c in ok(hook(sandbox, "crm.deal.category.list"))["result"]] == ["Сервис"]


def test_item_add_fires_dynamic_item_event(make_sandbox, stub_app):
    import time
    from urllib.parse import parse_qsl

    from .helpers import admin, call

    sandbox = make_sandbox(app_url=stub_app.url)
    token = admin(sandbox, "install", {"finish": True})["access_token"]
    call(sandbox, "event.bind", token, {"event": "ONCRMDYNAMICITEMADD", "handler": stub_app.url + "/ev"})
    etid = ok(hook(sandbox, "crm.type.add", {"fields": {"title": "E"}}))["result"]["type"]["entityTypeId"]
    item = ok(call(sandbox, "crm.item.add", token, {"entityTypeId": etid, "fields": {"title": "a"}}))["result"]["item"]
    deadline = time.time() + 5
    while not stub_app.received("/ev") and time.time() < deadline:
        time.sleep(0.02)
    form = dict(parse_qsl(stub_app.received("/ev")[0]["raw"]))
    assert (form["data[FIELDS][ID]"], form["data[FIELDS][ENTITY_TYPE_ID]"]) == (str(item["id"]), str(etid))
