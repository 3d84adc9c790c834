"""Telephony simulator: a manager's outgoing or incoming call on a portal line, answered, talked,
hung up or missed. Fires ONVOXIMPLANTCALLINIT / CALLSTART / CALLEND (REST-FACTS §3.3), writes the
statistics row (with a CRM call activity when the CRM store has one) and, `record_delay` seconds
after CALLEND, puts a RECORD_FILE_ID on the row (the core downloads recordings after the event)."""

from __future__ import annotations

import hashlib
import random
import struct
import threading
import time
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, request

from .calldata import FAILED_REASONS
from .envelope import dumps
from .state import PortalState


def _wav(seconds: float = 1.0, rate: int = 8000) -> bytes:
    """A silent mono 8-bit WAV: enough for an <audio> element to play."""
    frames = b"\x80" * int(seconds * rate)
    header = b"RIFF" + struct.pack("<I", 36 + len(frames)) + b"WAVEfmt " + struct.pack(
        "<IHHIIHH", 16, 1, 1, rate, rate, 1, 8) + b"data" + struct.pack("<I", len(frames))
    return header + frames


class PhoneSimulator:
    def __init__(self, state: PortalState):
        self.state = state
        self.record_delay = 0.0  # s between CALLEND and RECORD_FILE_ID on the statistics row
        self.calls: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._rng = random.Random(state.settings.seed)

    # --- helpers -----------------------------------------------------------------------------------

    def _line(self, line: str | None) -> dict[str, str]:
        lines_store = getattr(self.state, "lines", None)
        found = None
        if lines_store is not None:
            if line:
                found = lines_store.get(line)
            elif lines_store.all():
                found = lines_store.all()[0]
        if found:
            return {"number": str(found.get("number") or line or ""),
                    "name": str(found.get("name") or found.get("number") or "")}
        number = line or "+7 495 000-00-00"
        return {"number": number, "name": number}

    def _crm(self, phone: str) -> tuple[str | None, int | None]:
        crm = getattr(self.state, "crm", None)
        try:
            hit = crm.find_by_phone(phone) if crm is not None else None
        except Exception:  # the CRM store is optional here
            hit = None
        return (str(hit[0]), int(hit[1])) if hit else (None, None)

    def _fire(self, event: str, data: dict, user_id: int) -> None:
        from .events import deliver

        threading.Thread(target=deliver, args=(self.state, event, data), kwargs={"user_id": user_id},
                         name="sandbox-phone-event", daemon=True).start()

    def options(self, call: dict[str, Any]) -> dict[str, Any]:
        """PLACEMENT_OPTIONS of CALL_CARD (fixture placement.CALL_CARD.options)."""
        entity = call["crm_entity_type"]
        opts = {"CALL_ID": call["call_id"], "PHONE_NUMBER": call["phone"], "LINE_NUMBER": call["line"]["number"],
                "LINE_NAME": call["line"]["name"], "CRM_ENTITY_TYPE": entity or "",
                "CRM_ENTITY_ID": str(call["crm_entity_id"] or ""),
                "CRM_ACTIVITY_ID": str(call["activity_id"]) if call["activity_id"] else "undefined",
                "CRM_BINDINGS": ([{"ENTITY_TYPE": entity, "ENTITY_ID": str(call["crm_entity_id"])}]
                                 if entity else []),
                "CALL_DIRECTION": call["direction"], "CALL_STATE": call["state"], "CALL_LIST_MODE": "false"}
        if entity:
            opts["URI"] = f"/crm/{entity.lower()}/details/{call['crm_entity_id']}/"
        return opts

    def get(self, call_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self.calls.get(call_id)

    # --- the call's life ---------------------------------------------------------------------------

    def start(self, user_id: int, phone: str, direction: str = "outgoing", line: str | None = None) -> dict:
        if direction not in ("outgoing", "incoming"):
            raise ValueError("direction must be outgoing or incoming")
        if not phone:
            raise ValueError("phone is required")
        now = time.time()
        call_id = "externalCall." + hashlib.md5(f"{phone}{user_id}{time.time_ns()}".encode()).hexdigest() + \
            f".{int(now)}"
        entity_type, entity_id = self._crm(phone)
        call = {"call_id": call_id, "user_id": int(user_id), "phone": phone, "direction": direction,
                "type": "1" if direction == "outgoing" else "2", "line": self._line(line), "started": now,
                "answered": None, "state": "connecting" if direction == "outgoing" else "ringing",
                "crm_entity_type": entity_type, "crm_entity_id": entity_id, "activity_id": None,
                "finished": False, "row": None}
        with self._lock:
            self.calls[call_id] = call
        self._fire("ONVOXIMPLANTCALLINIT", {"CALL_ID": call_id, "CALL_TYPE": call["type"],
                                            "ACCOUNT_SEARCH_ID": call["line"]["number"], "PHONE_NUMBER": phone,
                                            "CALLER_ID": call["line"]["number"]}, int(user_id))
        return {"call_id": call_id, "options": self.options(call)}

    def answer(self, call_id: str) -> dict:
        call = self._open(call_id)
        call["answered"], call["state"] = time.time(), "connected"
        self._fire("ONVOXIMPLANTCALLSTART", {"CALL_ID": call_id, "USER_ID": str(call["user_id"])}, call["user_id"])
        return {"call_id": call_id, "options": self.options(call)}

    def hangup(self, call_id: str, talk_seconds: int | None = None, vote: int | None = None) -> dict:
        call = self._open(call_id)
        if call["answered"] is None:  # hung up before an answer: outgoing not answered
            return self._finish(call, 0, "304", vote)
        talk = int(talk_seconds) if talk_seconds is not None else int(time.time() - call["answered"])
        return self._finish(call, max(0, talk), "200", vote)

    def miss(self, call_id: str) -> dict:
        return self._finish(self._open(call_id), 0, "304", None)

    def _open(self, call_id: str) -> dict:
        call = self.get(call_id)
        if call is None:
            raise LookupError("call")
        if call["finished"]:
            raise ValueError("the call is already finished")
        return call

    def _finish(self, call: dict, duration: int, code: str, vote: int | None) -> dict:
        state = self.state
        call["finished"], call["state"] = True, "idle"
        start_iso = datetime.fromtimestamp(call["started"], state.tz).isoformat(timespec="seconds")
        if vote is None and duration > 0:
            vote = self._rng.randint(1, 5)
        row = {"PORTAL_USER_ID": str(call["user_id"]), "PORTAL_NUMBER": call["line"]["number"],
               "PHONE_NUMBER": call["phone"], "CALL_ID": call["call_id"], "CALL_CATEGORY": "external",
               "CALL_DURATION": str(duration), "CALL_START_DATE": start_iso, "CALL_VOTE": vote,
               "COST": "0.0000", "COST_CURRENCY": "RUR", "CALL_FAILED_CODE": code,
               "CALL_FAILED_REASON": FAILED_REASONS.get(code, ""), "CRM_ENTITY_TYPE": call["crm_entity_type"],
               "CRM_ENTITY_ID": call["crm_entity_id"], "CALL_TYPE": call["type"]}
        activity_id = None
        crm = getattr(state, "crm", None)
        if call["crm_entity_type"] and crm is not None and hasattr(crm, "add_call_activity"):
            try:
                activity_id = crm.add_call_activity(row)
            except Exception:
                activity_id = None
        call["activity_id"] = activity_id
        row["CRM_ACTIVITY_ID"] = str(activity_id) if activity_id else None
        stored = state.calls.add(row)
        call["row"] = stored
        event = {"CALL_ID": call["call_id"], "CALL_TYPE": call["type"], "PHONE_NUMBER": call["phone"],
                 "PORTAL_NUMBER": call["line"]["number"], "PORTAL_USER_ID": str(call["user_id"]),
                 "CALL_DURATION": str(duration), "CALL_START_DATE": start_iso, "COST": "0.0000",
                 "COST_CURRENCY": "RUR", "CALL_FAILED_CODE": code,
                 "CALL_FAILED_REASON": stored["CALL_FAILED_REASON"], "CRM_ACTIVITY_ID": str(activity_id or 0)}
        # With no delay the recording is on the row before CALLEND leaves, so the app's first read of
        # the row sees it; a delayed recording (record_delay > 0) is what exercises the app's retries.
        if duration > 0 and self.record_delay <= 0:
            self._schedule_record(int(stored["ID"]), call, duration)
        self._fire("ONVOXIMPLANTCALLEND", event, call["user_id"])
        if duration > 0 and self.record_delay > 0:
            self._schedule_record(int(stored["ID"]), call, duration)
        return {"call_id": call["call_id"], "row": stored, "event": event, "options": self.options(call)}

    def _schedule_record(self, row_id: int, call: dict, duration: int) -> None:
        def attach() -> None:
            from .methods.externalcall import set_row_fields

            disk = getattr(self.state, "disk", None)
            file_id = None
            if disk is not None:
                try:
                    folder = disk.ensure_folder(disk.common_root(), "Записи звонков")
                    file_id = disk.add_file(folder["ID"], f"{call['call_id']}.wav", _wav(min(duration, 5)),
                                            call["user_id"], unique=True)["ID"]
                except Exception:
                    file_id = None
            if file_id is None:
                file_id = 900000 + row_id
            changes = {"RECORD_FILE_ID": int(file_id), "RECORD_DURATION": str(duration)}
            if disk is not None and file_id < 900000:
                changes["CALL_RECORD_URL"] = disk.download_url(int(file_id))
            set_row_fields(self.state, row_id, changes)
            crm = getattr(self.state, "crm", None)
            if call["activity_id"] and crm is not None and hasattr(crm, "attach_record") and file_id < 900000:
                try:
                    crm.attach_record(call["activity_id"], int(file_id))
                except Exception:
                    pass

        if self.record_delay <= 0:
            attach()
        else:
            timer = threading.Timer(self.record_delay, attach)
            timer.daemon = True
            timer.start()


def phone_blueprint(state: PortalState) -> Blueprint:
    """JSON admin routes under /_sandbox/phone (loopback only, like the other admin routes)."""
    sim = PhoneSimulator(state)
    state.__dict__["phone"] = sim
    bp = Blueprint("sandbox_phone", __name__, url_prefix="/_sandbox/phone")

    def out(body: Any, status: int = 200) -> Response:
        return Response(dumps(body), status=status, content_type="application/json; charset=utf-8")

    @bp.before_request
    def loopback_only():
        if request.remote_addr not in ("127.0.0.1", "::1"):
            return out({"error": "admin routes answer loopback only"}, 403)
        return None

    def body() -> dict:
        data = request.get_json(silent=True)
        return data if isinstance(data, dict) else dict(request.form)

    def guarded(fn):
        try:
            return out(fn())
        except LookupError:
            return out({"error": "no such call"}, 404)
        except (TypeError, ValueError) as exc:
            return out({"error": str(exc)}, 400)

    @bp.post("/start")
    def start():
        b = body()
        return guarded(lambda: sim.start(int(b.get("user_id", 1)), str(b.get("phone") or ""),
                                         str(b.get("direction") or "outgoing"), b.get("line") or None))

    @bp.post("/<call_id>/answer")
    def answer(call_id: str):
        return guarded(lambda: sim.answer(call_id))

    @bp.post("/<call_id>/hangup")
    def hangup(call_id: str):
        b = body()
        talk = b.get("talk_seconds")
        vote = b.get("vote")
        return guarded(lambda: sim.hangup(call_id, None if talk in (None, "") else int(talk),
                                          None if vote in (None, "") else int(vote)))

    @bp.post("/<call_id>/miss")
    def miss(call_id: str):
        return guarded(lambda: sim.miss(call_id))

    @bp.get("/<call_id>")
    def show(call_id: str):
        call = sim.get(call_id)
        if call is None:
            return out({"error": "no such call"}, 404)
        return out({"call_id": call_id, "state": call["state"], "finished": call["finished"],
                    "options": sim.options(call), "row": call["row"]})

    @bp.post("/settings")
    def settings():
        b = body()
        return guarded(lambda: _set_delay(sim, b))

    return bp


def _set_delay(sim: PhoneSimulator, b: dict) -> dict:
    if "record_delay" in b:
        delay = float(b["record_delay"])
        if delay < 0:
            raise ValueError("record_delay must not be negative")
        sim.record_delay = delay
    return {"record_delay": sim.record_delay}
