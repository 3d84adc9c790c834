"""disk.* over state.disk (REST-FACTS §6.3): storages, folders, upload (fileContent or uploadUrl),
file.get and external links."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from ..dispatch import Call, MethodSpec
from ..envelope import RestError, argument_null
from .common import page, text, upper
from .crm import apply_filter


def _id(call: Call) -> int:
    raw = text(upper(call.params).get("ID"))
    if not raw.isdigit():
        raise argument_null("id")
    return int(raw)


def _no_object() -> RestError:
    return RestError("ERROR_NOT_FOUND", "Could not find entity with id", 404)


def storage_getlist(call: Call):
    p = upper(call.params)
    for user in call.state.directory.all_users():  # every user has a storage
        call.state.disk.user_storage(user.id, f"{user.name} {user.last_name}")
    rows = apply_filter(call.state.disk.storage_list(), upper(p.get("FILTER") or {}) if isinstance(
        p.get("FILTER"), dict) else {}, str.upper)
    return page(rows, call.start)


def folder_get(call: Call) -> dict:
    row = call.state.disk.folder(_id(call))
    if row is None:
        raise _no_object()
    return row


def folder_getchildren(call: Call):
    fid = _id(call)
    if call.state.disk.folder(fid) is None:
        raise _no_object()
    p = upper(call.params)
    rows = apply_filter(call.state.disk.children(fid), upper(p.get("FILTER") or {}) if isinstance(
        p.get("FILTER"), dict) else {}, str.upper)
    return page(rows, call.start)


def folder_addsubfolder(call: Call) -> dict:
    fid = _id(call)
    data = upper(upper(call.params).get("DATA") or {})
    name = text(data.get("NAME"))
    if not name:
        raise argument_null("NAME")
    try:
        return call.state.disk.add_folder(fid, name, call.caller.user_id)
    except LookupError:
        raise _no_object() from None
    except FileExistsError:
        raise RestError("DISK_OBJ_22000", "Объект с таким именем уже существует", 400) from None


def _file_content(value: Any) -> tuple[str, bytes] | None:
    if isinstance(value, dict):
        value = [value.get(k, value.get(str(k))) for k in (0, 1)]
    if not isinstance(value, list) or len(value) < 2:
        return None
    try:
        return str(value[0]), base64.b64decode(str(value[1]), validate=False)
    except (binascii.Error, ValueError):
        raise RestError("ERROR_ARGUMENT", "fileContent is not valid base64", 400) from None


def folder_uploadfile(call: Call) -> dict:
    fid = _id(call)
    if call.state.chance(call.state.settings.disk_upload_fail_share):  # fault switch: the upload fails
        raise RestError("ERROR_UPLOAD", "Не удалось загрузить файл", 500)
    p = call.params
    data = upper(next((v for k, v in p.items() if str(k).lower() == "data"), None) or {})
    content = _file_content(next((v for k, v in p.items() if str(k).lower() == "filecontent"), None))
    unique = text(next((v for k, v in p.items() if str(k).lower() == "generateuniquename"), "")).lower() in (
        "1", "y", "true")
    if call.state.disk.folder(fid) is None:
        raise _no_object()
    name = text(data.get("NAME")) or (content[0] if content else "")
    if content is None:
        return {"field": "file", "uploadUrl": call.state.disk.new_upload(fid, name, call.caller.user_id, unique)}
    if not name:
        raise argument_null("NAME")
    try:
        return call.state.disk.add_file(fid, name, content[1], call.caller.user_id, unique=unique)
    except FileExistsError:
        raise RestError("DISK_OBJ_22000", "Объект с таким именем уже существует", 400) from None


def file_get(call: Call) -> dict:
    row = call.state.disk.file(_id(call))
    if row is None:
        raise _no_object()
    return row


def file_external_link(call: Call) -> str:
    try:
        return call.state.disk.external_link(_id(call))
    except LookupError:
        raise _no_object() from None


METHODS = [
    MethodSpec("disk.storage.getlist", storage_getlist, "disk"),
    MethodSpec("disk.folder.get", folder_get, "disk"),
    MethodSpec("disk.folder.getchildren", folder_getchildren, "disk"),
    MethodSpec("disk.folder.addsubfolder", folder_addsubfolder, "disk"),
    MethodSpec("disk.folder.uploadfile", folder_uploadfile, "disk"),
    MethodSpec("disk.file.get", file_get, "disk"),
    MethodSpec("disk.file.getexternallink", file_external_link, "disk"),
]
