"""Delivery against the sandbox portal over real HTTP: the Disk folder and its year found or made, the upload in
uploadUrl mode once by name, the public link; the chat list, a typed chat checked, a new chat made; and the
sandbox's side of it (the group storage, im.recent.list, im.dialog.get, the upload fault switch)."""

from __future__ import annotations

import requests
from sqlalchemy import select

from b24app.extensions import db
from b24app.portals.models import Portal
from b24app.reports import delivery

from ..platform.helpers import set_sandbox, stats, user_tokens
from .schedule_helpers import FOLDER, group_storage, report_files


def _portal(live_app, sandbox) -> Portal:
    p = db.session.scalar(select(Portal).where(Portal.member_id == sandbox.member_id))
    assert p is not None
    return p


def _rest(sandbox, method: str, user_id: int, params: dict | None = None) -> dict:
    token = user_tokens(sandbox, user_id)["access_token"]
    return requests.post(f"{sandbox.url}/rest/{method}", json={**(params or {}), "auth": token}, timeout=10).json()


def test_storages_list_the_workgroup_first_and_the_upload_happens_once_by_name(installed, live_app):
    with live_app.ctx():
        portal = _portal(live_app, installed)
        assert [(s["ENTITY_TYPE"], s["NAME"]) for s in delivery.storages(portal)] == [
            ("group", "Руководство"), ("common", "Общий диск")]
        mine = delivery.storages(portal, 3)  # and the viewing user's own, not every employee's
        assert [(s["ENTITY_TYPE"], s["ENTITY_ID"]) for s in mine][2:] == [("user", "3")] and len(mine) == 3
        st = group_storage(installed)
        assert delivery.storage(portal, st["ID"])["ROOT_OBJECT_ID"] == st["ROOT_OBJECT_ID"]
        assert delivery.storage(portal, "999") is None

        before = stats(installed)["rest_calls"].get("disk.folder.uploadfile", 0)
        up = delivery.upload(portal, st["ID"], FOLDER, 2026, "Отчёт.xlsx", b"PK\x03\x04 workbook")
        again = delivery.upload(portal, st["ID"], FOLDER, 2026, "Отчёт.xlsx", b"PK\x03\x04 workbook")
        assert again.file_id == up.file_id and again.url == up.url
        other_year = delivery.upload(portal, st["ID"], FOLDER, 2027, "Отчёт.xlsx", b"PK 2027")
    assert stats(installed)["rest_calls"]["disk.folder.uploadfile"] - before == 2  # the repeat uploaded nothing
    [f] = report_files(installed, 2026)
    assert (str(f["ID"]), f["NAME"]) == (up.file_id, "Отчёт.xlsx")
    assert installed.state.disk.content(f["ID"]) == b"PK\x03\x04 workbook"
    assert [x["NAME"] for x in report_files(installed, 2027)] == ["Отчёт.xlsx"] and other_year.file_id != up.file_id
    assert "/_sandbox/disk/public/" in up.url and requests.get(up.url, timeout=10).content == b"PK\x03\x04 workbook"
    root = int(st["ROOT_OBJECT_ID"])
    assert [x["NAME"] for x in installed.state.disk.children(root)] == [FOLDER]  # one folder, made once


def test_an_existing_folder_is_used_and_a_vanished_storage_is_an_error(installed, live_app):
    st = group_storage(installed)
    made = installed.state.disk.add_folder(int(st["ROOT_OBJECT_ID"]), FOLDER)
    with live_app.ctx():
        portal = _portal(live_app, installed)
        delivery.upload(portal, st["ID"], FOLDER, 2026, "a.xlsx", b"PK")
        try:
            delivery.upload(portal, "999", FOLDER, 2026, "a.xlsx", b"PK")
        except delivery.StorageGone:
            pass
        else:
            raise AssertionError("an unknown storage must not be uploaded to")
    [year] = installed.state.disk.children(int(made["ID"]))
    assert year["NAME"] == "2026" and [x["NAME"] for x in installed.state.disk.files(int(year["ID"]))] == ["a.xlsx"]


def test_chats_of_the_app_user_a_typed_chat_checked_and_a_new_chat_made(installed, live_app):
    foreign = installed.state.im.add_chat([4], "Без администратора", 3)  # user 1 (the installer) is not in it
    with live_app.ctx():
        portal = _portal(live_app, installed)
        listed = {c.dialog_id: c.title for c in delivery.chats(portal)}
        assert listed == {"chat1": "Руководство"}
        assert delivery.chat_title(portal, "chat1") == "Руководство"
        assert delivery.chat_title(portal, f"chat{foreign}") is None
        assert delivery.chat_title(portal, "chat999") is None
        dialog = delivery.create_chat(portal, "Отчёты по звонкам", [2, 5])
        assert delivery.chat_title(portal, dialog) == "Отчёты по звонкам"
        assert dialog in {c.dialog_id for c in delivery.chats(portal)}
        mid = delivery.post(portal, dialog, "[B]Сводка[/B]")
    chat = installed.state.im.chat(int(dialog[4:]))
    assert chat["users"] == [1, 2, 5] and chat["title"] == "Отчёты по звонкам"
    [msg] = [m for m in installed.state.im.messages_for(2) if m["chat_id"] == chat["id"]]
    assert str(msg["id"]) == mid and msg["author_id"] == 1 and "<b>Сводка</b>" in str(msg["html"])
    assert [delivery.dialog_id(x) for x in ("chat12", "12", " Chat7 ", "chat", "12a", "-3", "0", "")] == \
        ["chat12", "chat12", "chat7", None, None, None, None, None]


def test_the_sandbox_lists_recent_chats_and_dialogs_and_checks_access(sandbox):
    im = sandbox.state.im
    im.send(3, "1", "Привет")                      # a private dialog of user 1 with user 3
    second = im.add_chat([3], "Продажи", 1)
    im.send(1, f"chat{second}", "Начали")
    items = _rest(sandbox, "im.recent.list", 1)["result"]
    assert [i["id"] for i in items["items"]] == [f"chat{second}", 3, "chat1"]  # the latest activity first
    assert items["items"][0]["chat"]["title"] == "Продажи" and items["hasMore"] is False
    only_chats = _rest(sandbox, "im.recent.list", 1, {"SKIP_DIALOG": "Y", "LIMIT": 1})["result"]
    assert [i["id"] for i in only_chats["items"]] == [f"chat{second}"] and only_chats["hasMore"] is True
    page2 = _rest(sandbox, "im.recent.list", 1, {"SKIP_DIALOG": "Y", "LIMIT": 1, "OFFSET": 1})["result"]
    assert [i["id"] for i in page2["items"]] == ["chat1"]
    assert [i["id"] for i in _rest(sandbox, "im.recent.list", 4)["result"]["items"]] == []
    assert _rest(sandbox, "im.dialog.get", 1, {"DIALOG_ID": "chat1"})["result"]["title"] == "Руководство"
    assert _rest(sandbox, "im.dialog.get", 4, {"DIALOG_ID": "chat1"})["error"] == "ACCESS_ERROR"
    assert _rest(sandbox, "im.dialog.get", 1, {"DIALOG_ID": "chat77"})["error"] == "ACCESS_ERROR"
    assert _rest(sandbox, "im.dialog.get", 1, {})["error"] == "DIALOG_ID_EMPTY"


def test_the_sandbox_has_a_workgroup_storage_and_an_upload_fault_switch(sandbox):
    groups = _rest(sandbox, "disk.storage.getlist", 1, {"filter": {"ENTITY_TYPE": "group"}})["result"]
    assert [(s["NAME"], s["ENTITY_ID"]) for s in groups] == [("Руководство", "1")]
    root = groups[0]["ROOT_OBJECT_ID"]
    set_sandbox(sandbox, disk_upload_fail_share=1.0)
    failed = requests.post(f"{sandbox.url}/rest/disk.folder.uploadfile", timeout=10, json={
        "id": root, "data": {"NAME": "x.xlsx"}, "auth": user_tokens(sandbox, 1)["access_token"]})
    assert failed.status_code == 500 and failed.json()["error"] == "ERROR_UPLOAD"
    set_sandbox(sandbox, disk_upload_fail_share=0.0)
    ok = _rest(sandbox, "disk.folder.uploadfile", 1, {"id": root, "data": {"NAME": "x.xlsx"}})["result"]
    assert set(ok) == {"field", "uploadUrl"}
