"""telephony.externalCall.* / telephony.externalLine.* (REST-FACTS §4.2) and voximplant.line.get /
voximplant.user.get (§4.3). register keeps the call pending; finish writes the statistics row, the CRM
call activity and fires ONVOXIMPLANTCALLEND (delivered from a thread, as the portal's queue would)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
import time
from typing import Any

from ..calldata import FAILED_REASONS, ID, JSON, parse_datetime, row_tuple
from ..dispatch import Call, MethodSpec
from ..envelope import RestError, argument_null, iso
from .common import require_admin, require_app, text, upper
from .placement import APP_NAME

REST_APP_ID = "1"  # app.info ID of the local app
RECORDS_FOLDER = "Записи звонков"


def _user(call: Call, p: dict) -> int:
    raw = text(p.get("USER_ID"))
    if raw.isdigit() and call.state.directory.user(int(raw)):
        return int(raw)
    inner = text(p.get("USER_PHONE_INNER"))
    if inner:
        for user in call.state.directory.all_users():
            if user.phone_inner == inner:
                return user.id
    raise RestError("ERROR_ARGUMENT", "USER_ID or USER_PHONE_INNER should be set", 400)


def register(call: Call) -> dict:
    require_app(call)
    p = upper(call.params)
    state = call.state
    user_id = _user(call, p)
    phone = text(p.get("PHONE_NUMBER"))
    if not phone:
        raise argument_null("PHONE_NUMBER")
    kind = text(p.get("TYPE"))
    if kind not in ("1", "2", "3", "4", "5"):
        raise RestError("ERROR_ARGUMENT", "Unknown TYPE", 400)
    start = parse_datetime(p.get("CALL_START_DATE"), state.tz) or time.time()
    entity_type, entity_id = text(p.get("CRM_ENTITY_TYPE")).upper(), text(p.get("CRM_ENTITY_ID"))
    created: list[dict] = []
    lead_id = None
    if not (entity_type and entity_id.isdigit()):
        found = state.crm.find_by_phone(phone)
        if found:
            entity_type, entity_id = found[0], str(found[1])
        elif text(p.get("CRM_CREATE")) in ("1", "Y", "true"):
            title = ("Входящий" if kind in ("2", "3") else "Исходящий") + f" звонок {phone}"
            lead_id = state.crm.add_entity("LEAD", {"TITLE": title, "SOURCE_ID": text(p.get("CRM_SOURCE")) or "CALL",
                                                    "ASSIGNED_BY_ID": user_id,
                                                    "PHONE": [{"VALUE": phone, "VALUE_TYPE": "WORK"}]}, user_id)
            created.append({"ENTITY_TYPE": "LEAD", "ENTITY_ID": lead_id})
            entity_type, entity_id = "LEAD", str(lead_id)
        else:
            entity_type, entity_id = "", ""
    line = text(p.get("LINE_NUMBER"))
    call_id = "externalCall." + hashlib.md5(f"{phone}{user_id}{time.time_ns()}".encode()).hexdigest() + \
              f".{int(time.time())}"
    info = state.lines.register_call({
        "CALL_ID": call_id, "PHONE_NUMBER": phone, "TYPE": kind, "USER_ID": user_id, "LINE_NUMBER": line,
        "EXTERNAL_CALL_ID": text(p.get("EXTERNAL_CALL_ID")) or None, "CALL_START": start,
        "CRM_ENTITY_TYPE": entity_type or None, "CRM_ENTITY_ID": int(entity_id) if entity_id else None,
        "CALL_LIST_ID": text(p.get("CALL_LIST_ID")) or None})
    if text(p.get("SHOW")) not in ("0", "N", "false"):
        state.lines.show(info["CALL_ID"], [user_id], True)
    return {"CALL_ID": info["CALL_ID"], "CRM_CREATED_LEAD": lead_id, "CRM_CREATED_ENTITIES": created,
            "CRM_ENTITY_TYPE": info["CRM_ENTITY_TYPE"], "CRM_ENTITY_ID": info["CRM_ENTITY_ID"]}


def _pending(call: Call, p: dict) -> dict:
    call_id = text(p.get("CALL_ID"))
    if not call_id:
        raise argument_null("CALL_ID")
    info = call.state.lines.call(call_id)
    if info is None:
        raise RestError("NOT_FOUND", "Call is not found", 400)
    return info


def finish(call: Call) -> dict:
    require_app(call)
    state = call.state
    p = upper(call.params)
    info = _pending(call, p)
    if info["finished"]:
        raise RestError("ERROR_CALL_FINISHED", "Call is already finished", 400)
    user_id = _user(call, p)
    try:
        duration = max(0, int(float(text(p.get("DURATION")) or 0)))
    except ValueError:
        duration = 0
    code = text(p.get("STATUS_CODE")) or ("200" if duration > 0 else "304")
    vote = text(p.get("VOTE"))
    vote_int = int(vote) if vote.isdigit() and 1 <= int(vote) <= 5 else None
    cost = text(p.get("COST")) or "0"
    line = info.get("LINE_NUMBER") or ""
    portal_number = (state.lines.get(line) or {}).get("number", line) if line else f"REST_APP:{REST_APP_ID}"
    start_iso = iso(info["CALL_START"], state.tz)
    row = {"PORTAL_USER_ID": str(user_id), "PORTAL_NUMBER": portal_number, "PHONE_NUMBER": info["PHONE_NUMBER"],
           "CALL_ID": info["CALL_ID"], "EXTERNAL_CALL_ID": info.get("EXTERNAL_CALL_ID"), "CALL_CATEGORY": "external",
           "CALL_LOG": None, "CALL_DURATION": str(duration), "CALL_START_DATE": start_iso,
           "CALL_RECORD_URL": text(p.get("RECORD_URL")) or None, "CALL_VOTE": vote_int, "COST": f"{float(cost):.4f}",
           "COST_CURRENCY": text(p.get("COST_CURRENCY")), "CALL_FAILED_CODE": code,
           "CALL_FAILED_REASON": text(p.get("FAILED_REASON")) or FAILED_REASONS.get(code, ""),
           "CRM_ENTITY_TYPE": info.get("CRM_ENTITY_TYPE"), "CRM_ENTITY_ID": info.get("CRM_ENTITY_ID"),
           "REST_APP_ID": REST_APP_ID, "REST_APP_NAME": APP_NAME, "TRANSCRIPT_PENDING": "N",
           "CALL_TYPE": info["TYPE"], "SESSION_ID": None}
    activity_id = None
    if info.get("CRM_ENTITY_TYPE") and info.get("CRM_ENTITY_ID"):
        activity_id = state.crm.add_call_activity(row)
    row["CRM_ACTIVITY_ID"] = str(activity_id) if activity_id else None
    stored = state.calls.add(row)
    with state.lines._lock:
        info["finished"], info["row_id"], info["activity_id"] = True, int(stored["ID"]), activity_id
        info["shown_to"].clear()
    event = {"CALL_ID": info["CALL_ID"], "CALL_TYPE": info["TYPE"], "PHONE_NUMBER": info["PHONE_NUMBER"],
             "PORTAL_NUMBER": portal_number, "PORTAL_USER_ID": str(user_id), "CALL_DURATION": str(duration),
             "CALL_START_DATE": start_iso, "COST": cost, "COST_CURRENCY": text(p.get("COST_CURRENCY")),
             "CALL_FAILED_CODE": code, "CALL_FAILED_REASON": stored["CALL_FAILED_REASON"],
             "CRM_ACTIVITY_ID": str(activity_id or 0)}
    _fire(state, "ONVOXIMPLANTCALLEND", event, call.caller.user_id)
    # Fixture telephony.externalCall.finish.response: numbers are numbers, CALL_START_DATE is a PHP
    # DateTime object that json_encode prints as {}.
    return {"CALL_ID": info["CALL_ID"], "EXTERNAL_CALL_ID": info.get("EXTERNAL_CALL_ID"), "PORTAL_USER_ID": user_id,
            "PHONE_NUMBER": info["PHONE_NUMBER"], "PORTAL_NUMBER": portal_number, "INCOMING": info["TYPE"],
            "CALL_DURATION": duration, "CALL_START_DATE": {}, "CALL_STATUS": 1 if code == "200" else 0,
            "CALL_VOTE": vote_int, "COST": float(cost) if "." in cost else int(float(cost)),
            "COST_CURRENCY": text(p.get("COST_CURRENCY")), "CALL_FAILED_CODE": code,
            "CALL_FAILED_REASON": stored["CALL_FAILED_REASON"], "REST_APP_ID": REST_APP_ID,
            "REST_APP_NAME": APP_NAME, "CRM_ACTIVITY_ID": activity_id, "COMMENT": None,
            "CRM_ENTITY_TYPE": info.get("CRM_ENTITY_TYPE"), "CRM_ENTITY_ID": info.get("CRM_ENTITY_ID"),
            "ID": int(stored["ID"])}


def _fire(state, event: str, data: dict, user_id: int) -> None:
    from ..events import deliver

    threading.Thread(target=deliver, args=(state, event, data), kwargs={"user_id": user_id},
                     name="sandbox-event", daemon=True).start()


def set_row_fields(state, row_id: int, changes: dict[str, Any]) -> dict | None:
    """Rewrite one statistics row (rows are immutable tuples; the table is swapped as a whole)."""
    rows = list(state.calls._snap.by_id)  # the store has no update; this is the one place that needs it
    for i, row in enumerate(rows):
        if row[ID] == row_id:
            data = {**row[JSON].data, **changes}
            rows[i] = row_tuple(data, state.tz, state.settings.seed) + tuple(row[10:])
            state.calls.replace(rows)
            return data
    return None


def _attach(state, info: dict, file_row: dict) -> None:
    file_id = int(file_row["ID"])
    set_row_fields(state, info["row_id"], {"RECORD_FILE_ID": file_id,
                                           "CALL_RECORD_URL": state.disk.download_url(file_id)})
    if info.get("activity_id"):
        state.crm.attach_record(info["activity_id"], file_id)


def attach_record(call: Call) -> dict:
    require_app(call)
    state = call.state
    p = upper(call.params)
    info = _pending(call, p)
    if not info["finished"]:
        raise RestError("ERROR_CALL_NOT_FINISHED", "Call is not finished yet", 400)
    name = text(p.get("FILENAME"))
    folder = state.disk.ensure_folder(state.disk.common_root(), RECORDS_FOLDER)["ID"]
    url = text(p.get("RECORD_URL"))
    if url:
        import requests
        try:
            r = requests.get(url, timeout=10)
            r.raise_for_status()
        except requests.RequestException:
            raise RestError("ERROR_DOWNLOAD", "Could not download the record", 400) from None
        content, name = r.content, name or url.rstrip("/").rsplit("/", 1)[-1].split("?")[0] or "record.mp3"
    else:
        if not name:
            raise argument_null("FILENAME")
        if not name.lower().endswith((".wav", ".mp3")):
            raise RestError("ERROR_ARGUMENT", "Only .wav and .mp3 records are accepted", 400)
        raw = p.get("FILE_CONTENT")
        if not raw:
            upload = state.disk.new_upload(folder, name, call.caller.user_id, True,
                                           on_done=lambda row: _attach(state, info, row))
            return {"uploadUrl": upload, "fieldName": "file"}
        try:
            content = base64.b64decode(str(raw))
        except (binascii.Error, ValueError):
            raise RestError("ERROR_ARGUMENT", "FILE_CONTENT is not valid base64", 400) from None
    row = state.disk.add_file(folder, name, content, call.caller.user_id, unique=True)
    _attach(state, info, row)
    return {"FILE_ID": int(row["ID"])}


def _users(p: dict) -> list[int]:
    raw = p.get("USER_ID")
    values = raw if isinstance(raw, list) else list(raw.values()) if isinstance(raw, dict) else [raw]
    return [int(v) for v in values if text(v).isdigit()]


def show(call: Call) -> bool:
    require_app(call)
    p = upper(call.params)
    info = _pending(call, p)
    return call.state.lines.show(info["CALL_ID"], _users(p) or [int(info["USER_ID"])], True)


def hide(call: Call) -> bool:
    require_app(call)
    p = upper(call.params)
    info = _pending(call, p)
    return call.state.lines.show(info["CALL_ID"], _users(p) or [int(info["USER_ID"])], False)


def line_add(call: Call) -> dict:
    require_app(call)
    p = upper(call.params)
    number = text(p.get("NUMBER"))
    if not number:
        raise argument_null("NUMBER")
    return {"ID": call.state.lines.add_external(number, text(p.get("NAME")),
                                                text(p.get("CRM_AUTO_CREATE")) not in ("N", "0"))}


def line_get_external(call: Call) -> list:
    require_app(call)
    return [{"ID": str(line["external_id"]), "NUMBER": line["number"], "NAME": line["name"]}
            for line in call.state.lines.externals()]


def voximplant_line_get(call: Call) -> dict:
    return {line["id"]: line["name"] for line in call.state.lines.all() if line["type"] != "rest"}


def voximplant_user_get(call: Call) -> list:
    state = call.state
    if state.settings.voximplant_user_confirm and call.caller.is_app:
        confirmed = state.__dict__.setdefault("confirmed_tokens", set())
        if call.caller.token not in confirmed:
            state.__dict__.setdefault("pending_confirmations", set()).add(call.caller.token)
            raise RestError("METHOD_CONFIRM_WAITING", "Waiting for confirmation", 401)
    ids = _users(upper(call.params))
    if not ids:
        raise argument_null("USER_ID")
    if not call.caller.is_admin and ids != [call.caller.user_id]:
        require_admin(call)
    out = []
    host = state.domain.split(":")[0] or "sandbox.local"
    for uid in ids:
        user = state.directory.user(uid)
        if user is None:
            continue
        out.append({"ID": str(uid), "DEFAULT_LINE": None, "PHONE_ENABLED": "Y" if user.calls_weight > 0 else "N",
                    "SIP_SERVER": f"ip.{host}.bitrixphone.com", "SIP_LOGIN": f"phone{uid}", "SIP_PASSWORD": None,
                    "INNER_NUMBER": user.phone_inner or None})
    return out


METHODS = [
    MethodSpec("telephony.externalcall.register", register, "telephony"),
    MethodSpec("telephony.externalcall.finish", finish, "telephony"),
    MethodSpec("telephony.externalcall.attachrecord", attach_record, "telephony"),
    MethodSpec("telephony.externalcall.show", show, "telephony"),
    MethodSpec("telephony.externalcall.hide", hide, "telephony"),
    MethodSpec("telephony.externalline.add", line_add, "telephony"),
    MethodSpec("telephony.externalline.get", line_get_external, "telephony"),
    MethodSpec("voximplant.line.get", voximplant_line_get, "telephony"),
    MethodSpec("voximplant.user.get", voximplant_user_get, "telephony"),
]
