"""Telephony lines of the portal (cloud PBX, rented number, REST-app external lines) and the external
calls the PBX integration registered but has not finished yet (telephony.externalCall.*)."""

from __future__ import annotations

import threading
import time
from typing import Any

DEFAULT_LINES = (
    {"id": "reg133788", "number": "+74952123456", "name": "Отдел продаж (облачная АТС)", "type": "cloud"},
    {"id": "+74953334455", "number": "+74953334455", "name": "Колл-центр (арендованный номер)", "type": "rent"},
)


class LineStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lines: list[dict[str, Any]] = [dict(line) for line in DEFAULT_LINES]
        self._next_external = 1
        self.calls: dict[str, dict[str, Any]] = {}  # CALL_ID → registered external call

    def all(self) -> list[dict]:
        with self._lock:
            return [dict(line) for line in self._lines]

    def get(self, line_id: str) -> dict | None:
        """By search ID (`reg133788`), number or external-line ID."""
        key = str(line_id)
        with self._lock:
            for line in self._lines:
                if key in (line["id"], line["number"], str(line.get("external_id", ""))):
                    return dict(line)
        return None

    def set_lines(self, lines: list[dict]) -> None:
        with self._lock:
            self._lines = [dict(line) for line in lines]

    def add_external(self, number: str, name: str = "", crm_auto_create: bool = True) -> int:
        with self._lock:
            for line in self._lines:
                if line["type"] == "rest" and line["number"] == number:
                    line["name"] = name or line["name"]
                    return int(line["external_id"])
            ext_id = self._next_external
            self._next_external += 1
            self._lines.append({"id": number, "number": number, "name": name or number, "type": "rest",
                                "external_id": ext_id, "crm_auto_create": crm_auto_create})
            return ext_id

    def externals(self) -> list[dict]:
        return [line for line in self.all() if line["type"] == "rest"]

    # --- registered external calls ---------------------------------------------------------------------

    def register_call(self, call: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            now = time.time()
            for existing in self.calls.values():  # 30-minute dedup (REST-FACTS §4.2)
                if (not existing["finished"] and now - existing["registered"] < 1800
                        and all(existing.get(k) == call.get(k) for k in
                                ("PHONE_NUMBER", "TYPE", "USER_ID", "LINE_NUMBER", "EXTERNAL_CALL_ID"))):
                    return existing
            call = {**call, "registered": now, "finished": False, "shown_to": set(), "row_id": None}
            self.calls[call["CALL_ID"]] = call
            return call

    def call(self, call_id: str) -> dict | None:
        with self._lock:
            return self.calls.get(call_id)

    def active_calls(self) -> list[dict]:
        with self._lock:
            return [dict(c, shown_to=sorted(c["shown_to"])) for c in self.calls.values() if not c["finished"]]

    def show(self, call_id: str, users: list[int], visible: bool) -> bool:
        with self._lock:
            call = self.calls.get(call_id)
            if call is None:
                return False
            if visible:
                call["shown_to"].update(users)
            else:
                call["shown_to"].difference_update(users)
            return True
