"""Disk: storages, folders, upload with fileContent and with uploadUrl, download and public link."""

from __future__ import annotations

import base64

import requests

from .helpers import hook


def test_upload_both_modes_download_and_external_link(sandbox):
    storages = hook(sandbox, "disk.storage.getlist").json()["result"]
    common = next(s for s in storages if s["ENTITY_TYPE"] == "common")
    assert any(s["ENTITY_TYPE"] == "user" and s["ENTITY_ID"] == "1" for s in storages)
    root = int(common["ROOT_OBJECT_ID"])
    sub = hook(sandbox, "disk.folder.addsubfolder", {"id": root, "data": {"NAME": "Записи"}}).json()["result"]
    assert sub["TYPE"] == "folder" and sub["PARENT_ID"] == str(root)

    payload = b"RIFF....WAVEfmt " + bytes(range(200))
    up = hook(sandbox, "disk.folder.uploadfile", {"id": sub["ID"], "data": {"NAME": "a.wav"},
                                                  "fileContent": ["a.wav", base64.b64encode(payload).decode()]})
    f = up.json()["result"]
    assert f["NAME"] == "a.wav" and f["SIZE"] == str(len(payload)) and f["STORAGE_ID"] == common["ID"]
    assert requests.get(f["DOWNLOAD_URL"], timeout=5).content == payload
    dup = hook(sandbox, "disk.folder.uploadfile", {"id": sub["ID"], "data": {"NAME": "a.wav"},
                                                   "fileContent": ["a.wav", "AAAA"]})
    assert dup.json()["error"] == "DISK_OBJ_22000"

    two = hook(sandbox, "disk.folder.uploadfile", {"id": sub["ID"], "data": {"NAME": "b.mp3"}}).json()["result"]
    assert set(two) == {"field", "uploadUrl"}
    posted = requests.post(two["uploadUrl"], files={two["field"]: ("x.mp3", b"ID3-mp3-bytes")}, timeout=5).json()
    b = posted["result"]
    assert b["NAME"] == "b.mp3" and sandbox.state.disk.content(b["ID"]) == b"ID3-mp3-bytes"
    assert hook(sandbox, "disk.file.get", {"id": b["ID"]}).json()["result"]["DOWNLOAD_URL"].endswith(
        f"/_sandbox/disk/file/{b['ID']}/download")
    names = [o["NAME"] for o in hook(sandbox, "disk.folder.getchildren", {"id": sub["ID"]}).json()["result"]]
    assert names == ["a.wav", "b.mp3"]
    link = hook(sandbox, "disk.file.getExternalLink", {"id": f["ID"]}).json()["result"]
    assert isinstance(link, str) and requests.get(link, timeout=5).content == payload
    assert [x["NAME"] for x in sandbox.state.disk.files(sub["ID"])] == ["a.wav", "b.mp3"]
