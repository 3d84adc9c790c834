"""event.offline.get / clear / error / list (REST-FACTS §3.2) over the events events.deliver queued
for offline bindings (state.offline_queue). The queue keeps the latest state per object."""

from __future__ import annotations

import secrets
import threading
import time
from typing import Any

from ..dispatch import Call, MethodSpec
from ..envelope import RestError, iso
from .common import PAGE, page, require_admin, require_app, text, upper
from .crm import apply_filter, apply_order

_LOCK = threading.Lock()


class OfflineQueue:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.next_id = 1

    def absorb(self, state) -> None:
        """Move what events.deliver appended into numbered records (latest state per object wins)."""
        raw, state.offline_queue[:] = list(state.offline_queue), []
        for item in raw:
            data = item.get("data")
            obj = None
            if isinstance(data, dict) and isinstance(data.get("FIELDS"), dict):
                obj = str(data["FIELDS"].get("ID"))
            if obj is not None:
                self.records = [r for r in self.records if not (
                    r["EVENT_NAME"] == item["event"] and r["_object"] == obj and r["_process"] is None)]
            rid = self.next_id
            self.next_id += 1
            self.records.append({"ID": str(rid), "TIMESTAMP_X": iso(item.get("ts") or time.time(), state.tz),
                                 "EVENT_NAME": item["event"], "EVENT_DATA": data if data else False,
                                 "EVENT_ADDITIONAL": False, "MESSAGE_ID": secrets.token_hex(16),
                                 "_object": obj, "_process": None, "_error": False})


def _queue(state) -> OfflineQueue:
    with _LOCK:
        queue = state.__dict__.get("offline_events")
        if queue is None:
            queue = state.__dict__["offline_events"] = OfflineQueue()
        queue.absorb(state)
        return queue


def _public(r: dict) -> dict:
    return {k: v for k, v in r.items() if not k.startswith("_")}


def _check(call: Call) -> None:
    require_app(call)
    require_admin(call)


def offline_get(call: Call) -> dict:
    _check(call)
    p = upper(call.params)
    clear = text(p.get("CLEAR")) not in ("0", "N", "n", "false")
    want_errors = text(p.get("ERROR")) in ("1", "Y", "true")
    try:
        limit = max(1, min(1000, int(text(p.get("LIMIT")) or PAGE)))
    except ValueError:
        limit = PAGE
    process_id = text(p.get("PROCESS_ID")) or None
    queue = _queue(call.state)
    with _LOCK:
        free = [r for r in queue.records if r["_process"] is None and r["_error"] == want_errors]
        rows = apply_filter(free, upper(p.get("FILTER") or {}) if isinstance(p.get("FILTER"), dict) else {},
                            str.upper)
        rows = apply_order(rows, upper(p.get("ORDER")) if isinstance(p.get("ORDER"), dict)
                           else {"TIMESTAMP_X": "ASC", "ID": "ASC"}, str.upper)[:limit]
        if clear:
            gone = {r["ID"] for r in rows}
            queue.records = [r for r in queue.records if r["ID"] not in gone]
            return {"process_id": None, "events": [_public(r) for r in rows]}
        process_id = process_id or secrets.token_hex(16)
        for r in rows:
            r["_process"] = process_id
        return {"process_id": process_id if rows else None, "events": [_public(r) for r in rows]}


def _ids(value: Any) -> set[str]:
    if value is None:
        return set()
    values = value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else [value]
    return {text(v) for v in values}


def offline_clear(call: Call) -> bool:
    _check(call)
    p = upper(call.params)
    process_id = text(p.get("PROCESS_ID"))
    if not process_id:
        raise RestError("ERROR_ARGUMENT", "PROCESS_ID is required", 400)
    ids, messages = _ids(p.get("ID")), _ids(p.get("MESSAGE_ID"))
    queue = _queue(call.state)
    with _LOCK:
        queue.records = [r for r in queue.records if not (
            r["_process"] == process_id and (not ids and not messages or r["ID"] in ids or r["MESSAGE_ID"] in messages))]
    return True


def offline_error(call: Call) -> bool:
    _check(call)
    p = upper(call.params)
    process_id = text(p.get("PROCESS_ID"))
    if not process_id:
        raise RestError("ERROR_ARGUMENT", "PROCESS_ID is required", 400)
    messages = _ids(p.get("MESSAGE_ID"))
    queue = _queue(call.state)
    with _LOCK:
        for r in queue.records:
            if r["_process"] == process_id and r["MESSAGE_ID"] in messages:
                r["_error"], r["_process"] = True, None
    return True


def offline_list(call: Call):
    _check(call)
    p = upper(call.params)
    queue = _queue(call.state)
    with _LOCK:
        rows = [{**_public(r), "PROCESS_ID": r["_process"] or "", "ERROR": "1" if r["_error"] else "0"}
                for r in queue.records]
    rows = apply_filter(rows, upper(p.get("FILTER") or {}) if isinstance(p.get("FILTER"), dict) else {}, str.upper)
    rows = apply_order(rows, upper(p.get("ORDER")) if isinstance(p.get("ORDER"), dict) else {"ID": "ASC"}, str.upper)
    return page(rows, call.start)


METHODS = [
    MethodSpec("event.offline.get", offline_get),
    MethodSpec("event.offline.clear", offline_clear),
    MethodSpec("event.offline.error", offline_error),
    MethodSpec("event.offline.list", offline_list),
]
