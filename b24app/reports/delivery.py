"""Where a report goes: the workbook into a Disk folder (with a sub-folder per year), the summary into a chat.

**Disk** (REST-FACTS §6.3): the settings name a storage (`disk.storage.getlist`: a workgroup's, the
common one or a user's) and a folder name; the folder and the year's sub-folder are found
(`disk.folder.getchildren`) or made (`disk.folder.addsubfolder`). The file goes up in uploadUrl mode
(`disk.folder.uploadfile` without `fileContent`, then a multipart POST of the bytes: no base64
inflation). An upload is idempotent by name: a run's file name is its own, and a file of that name
already in the folder is the one an earlier attempt of the run uploaded, taken instead of a second copy.
The link is `disk.file.getExternalLink`, else the file's DETAIL_URL (a portal without public links).

**Chat:** the summary is posted with `im.message.add`, not by the app's bot. The chat list
(`im.recent.list`), the check of a typed chat ID (`im.dialog.get`), the new chat (`im.chat.add`) and
the post all act as the same user, the one whose tokens the app holds (the installer): a chat he can
see is a chat the summary can reach. The bot (imbot.v2, topics/bot.py) would first have to be added
to every chosen chat (a bot posts only where it is a member), it is named for the topic prompts, and
a portal without imbot.v2 has none; `im.message.add` needs only the `im` scope.
"""

from __future__ import annotations

from dataclasses import dataclass

import requests

from ..bitrix import errors as E
from ..portals.models import Portal
from ..portals.rest import client_for

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXISTS = "DISK_OBJ_22000"  # «an object with this name already exists»
STORAGE_TYPES = ("group", "common", "user")
UPLOAD_TIMEOUT = 120
CHAT_PAGES = 5  # im.recent.list pages of 200 read for the chat picker


class StorageGone(E.BitrixError):
    """The storage chosen in the settings is no longer on the portal."""

    code = "STORAGE_NOT_FOUND"


@dataclass(frozen=True)
class Uploaded:
    file_id: str
    url: str
    name: str


@dataclass(frozen=True)
class Chat:
    dialog_id: str   # "chat12"
    title: str


def _client(portal: Portal):
    # One quick retry for a passing error; the run's own retries (with backoff) do the rest.
    return client_for(portal.member_id, max_attempts=1)


# --- Disk --------------------------------------------------------------------------------------------

def _storage_pages(client, flt: dict) -> list[dict]:
    out, start = [], 0
    while True:
        res = client.call("disk.storage.getlist", {"filter": flt, "start": start})
        out.extend(s for s in (res.result or []) if isinstance(s, dict))
        if res.next is None or not res.result:
            return out
        start = int(res.next)


def storages(portal: Portal, user_id: int | None = None) -> list[dict]:
    """The storages a report may go to: the workgroups', the common one, and `user_id`'s own. Every user has a
    storage, so listing them all would cost a page per 50 employees on each opening of the settings."""
    client = _client(portal)
    found = _storage_pages(client, {"ENTITY_TYPE": "group"}) + _storage_pages(client, {"ENTITY_TYPE": "common"})
    if user_id:
        found += _storage_pages(client, {"ENTITY_TYPE": "user", "ENTITY_ID": str(user_id)})
    out = {str(s.get("ID")): s for s in found if str(s.get("ENTITY_TYPE", "")).lower() in STORAGE_TYPES}
    return sorted(out.values(), key=lambda s: (STORAGE_TYPES.index(str(s["ENTITY_TYPE"]).lower()),
                                               str(s.get("NAME", "")).lower()))


def storage(portal: Portal, storage_id: str) -> dict | None:
    """The storage by its ID when a report may go there (a workgroup's, the common one or a user's)."""
    res = _client(portal).call("disk.storage.getlist", {"filter": {"ID": str(storage_id)}})
    return next((s for s in (res.result or []) if isinstance(s, dict) and str(s.get("ID")) == str(storage_id)
                 and str(s.get("ENTITY_TYPE", "")).lower() in STORAGE_TYPES), None)


def _children(client, folder_id, name: str) -> list[dict]:
    res = client.call("disk.folder.getchildren", {"id": folder_id, "filter": {"NAME": name}})
    return [o for o in (res.result or []) if isinstance(o, dict) and o.get("NAME") == name]


def _folder(client, parent_id, name: str):
    """The sub-folder `name` of `parent_id`, made when missing (two makers at once: the loser reads it)."""
    for o in _children(client, parent_id, name):
        if str(o.get("TYPE")).lower() == "folder":
            return o["ID"]
    try:
        return client.call("disk.folder.addsubfolder", {"id": parent_id, "data": {"NAME": name}}).result["ID"]
    except E.BitrixError as exc:
        if exc.code != EXISTS:
            raise
    for o in _children(client, parent_id, name):
        if str(o.get("TYPE")).lower() == "folder":
            return o["ID"]
    raise E.BitrixError(EXISTS, f"«{name}» exists and is not a folder", method="disk.folder.addsubfolder")


def _file(client, folder_id, name: str) -> dict | None:
    return next((o for o in _children(client, folder_id, name) if str(o.get("TYPE")).lower() == "file"), None)


def _post(url: str, field: str, name: str, content: bytes) -> dict:
    try:
        r = requests.post(url, files={field: (name, content, XLSX)}, timeout=UPLOAD_TIMEOUT)
    except requests.RequestException as exc:
        raise E.NetworkError(description=type(exc).__name__, method="uploadUrl") from exc
    try:
        body = r.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise E.ServerError("ERROR_UNEXPECTED_ANSWER", f"HTTP {r.status_code}, not JSON", r.status_code, "uploadUrl")
    if "error" in body:
        raise E.from_response(str(body["error"]), str(body.get("error_description", "")), r.status_code, "uploadUrl")
    return body.get("result") or {}


def link(client, row: dict) -> str:
    """The file's public link; its portal address when the portal gives none."""
    try:
        url = client.call("disk.file.getExternalLink", {"id": row["ID"]}).result
    except E.BitrixError as exc:
        if E.needs_reinstall(exc):
            raise
        url = None
    return url if isinstance(url, str) and url else str(row.get("DETAIL_URL") or "")


def upload(portal: Portal, storage_id: str, folder_name: str, year: int, name: str, content: bytes) -> Uploaded:
    """The workbook into «folder_name/year» of the storage, once: a file already there by `name` is kept."""
    client = _client(portal)
    st = storage(portal, storage_id)
    if st is None:
        raise StorageGone(description=f"storage {storage_id} is gone", method="disk.storage.getlist")
    folder = _folder(client, st["ROOT_OBJECT_ID"], folder_name)
    year_folder = _folder(client, folder, str(year))
    row = _file(client, year_folder, name)
    if row is None:
        ticket = client.call("disk.folder.uploadfile", {"id": year_folder, "data": {"NAME": name}}).result or {}
        try:
            row = _post(ticket["uploadUrl"], ticket.get("field") or "file", name, content)
        except E.BitrixError as exc:
            if exc.code != EXISTS:
                raise
            row = _file(client, year_folder, name)  # an earlier attempt's upload landed meanwhile
            if row is None:
                raise
    return Uploaded(str(row["ID"]), link(client, row), str(row.get("NAME") or name))


# --- chat --------------------------------------------------------------------------------------------

def post(portal: Portal, dialog_id: str, message: str) -> str:
    """The summary into the chat; the message's ID."""
    res = _client(portal).call("im.message.add", {"DIALOG_ID": dialog_id, "MESSAGE": message, "URL_PREVIEW": "N"})
    return str(res.result)


def notify(portal: Portal, user_id: int, message: str, tag: str) -> None:
    _client(portal).call("im.notify.system.add", {"USER_ID": user_id, "MESSAGE": message, "TAG": tag})


def chats(portal: Portal) -> list[Chat]:
    """The group chats the app's user is in (im.recent.list: docs api-reference/chats/im-recent-list.md)."""
    client = _client(portal)
    out: dict[str, Chat] = {}
    for page in range(CHAT_PAGES):
        res = client.call("im.recent.list", {"SKIP_DIALOG": "Y", "SKIP_OPENLINES": "Y", "LIMIT": 200,
                                             "OFFSET": page * 200})
        body = res.result if isinstance(res.result, dict) else {}
        for item in body.get("items") or []:
            if isinstance(item, dict) and item.get("type") == "chat" and item.get("chat_id"):
                key = f"chat{int(item['chat_id'])}"
                out.setdefault(key, Chat(key, str(item.get("title") or key)))
        if not (body.get("hasMore") or body.get("hasMorePages")):
            break
    return list(out.values())


def dialog_id(raw: str) -> str | None:
    """«chat12» or «12» as a chat's DIALOG_ID; None for anything else."""
    raw = (raw or "").strip().lower()
    digits = raw[4:] if raw.startswith("chat") else raw
    return f"chat{int(digits)}" if digits.isdigit() and 0 < int(digits) < 2**31 else None


def chat_title(portal: Portal, dialog: str) -> str | None:
    """The chat's title when the app's user can post there (im.dialog.get), else None."""
    try:
        res = _client(portal).call("im.dialog.get", {"DIALOG_ID": dialog})
    except E.TransientError:
        raise
    except E.BitrixError as exc:
        if E.needs_reinstall(exc):
            raise
        return None
    row = res.result if isinstance(res.result, dict) else None
    return str(row.get("title") or dialog) if row else None


def create_chat(portal: Portal, title: str, users: list[int], description: str = "") -> str:
    res = _client(portal).call("im.chat.add", {"TYPE": "CHAT", "TITLE": title, "USERS": users,
                                               "DESCRIPTION": description})
    return f"chat{int(res.result)}"
