"""Live intake: CALLINIT/CALLSTART keep ring and answer times, CALLEND creates or completes the call,
and a job fills what the event lacks (vote, recording, CRM binding) from voximplant.statistic.get."""

from __future__ import annotations

import logging

from ..inbox.service import handles
from ..jobs import app_task
from ..portals.models import Portal
from ..portals.rest import client_for
from ..qa.cards import queue_for
from ..topics import prompts
from . import facts, store

log = logging.getLogger(__name__)
# The core downloads a recording after the statistics row is written and retries a minute later.
RECORD_RETRIES, RECORD_DELAY = 8, 30


@handles("ONVOXIMPLANTCALLINIT")
def on_init(portal: Portal, data: dict, ts: str) -> None:
    call_id = str(data.get("CALL_ID") or "")
    if not call_id:
        return
    values = {"call_id": call_id, "ring_at": facts.from_ts(ts), "call_type": facts.to_int(data.get("CALL_TYPE")),
              "phone_number": str(data.get("PHONE_NUMBER") or data.get("CALLER_ID") or "")[:64]}
    store.upsert(portal.id, [values], update=("ring_at",), source="event")


@handles("ONVOXIMPLANTCALLSTART")
def on_start(portal: Portal, data: dict, ts: str) -> None:
    call_id = str(data.get("CALL_ID") or "")
    if not call_id:
        return
    values = {"call_id": call_id, "answered_at": facts.from_ts(ts), "answered_by": facts.to_int(data.get("USER_ID"))}
    store.upsert(portal.id, [values], update=("answered_at", "answered_by"), source="event")


@handles("ONVOXIMPLANTCALLEND")
def on_end(portal: Portal, data: dict, ts: str) -> None:
    values = facts.from_callend(data)
    if not values["call_id"]:
        return
    values["ended"] = True
    store.decide(values, store.rules_for(portal.id), store.user_departments(portal.id))
    existing = store.call_by_call_id(portal.id, values["call_id"])
    if existing is not None and existing.enriched:
        return  # the statistics row (import or reconcile) already gave the full facts
    update = tuple(k for k in values if k != "call_id")
    store.upsert(portal.id, [values], update=update, source="event")
    prompts.call_ended(portal.id, values["call_id"])  # the chat prompt, after the popup's grace period
    enrich_call(portal.id, values["call_id"])


@app_task(retries=RECORD_RETRIES, retry_delay=RECORD_DELAY)
def enrich_call(portal_id: int, call_id: str) -> str:
    """Read the call's statistics row; retry until it, and for a talked call its recording, exists."""
    from ..extensions import db

    portal = db.session.get(Portal, portal_id)
    if portal is None or not portal.is_active:
        return "portal inactive"
    res = client_for(portal.member_id).call("voximplant.statistic.get", {"FILTER": {"CALL_ID": call_id}})
    rows = [r for r in (res.result or []) if str(r.get("CALL_ID")) == call_id]
    if not rows:
        raise LookupError(f"statistics row for {call_id} not written yet")
    values = store.save_statistics(portal_id, rows[:1], "event", store.rules_for(portal_id),
                                   store.user_departments(portal_id))[0]
    queue_for(portal_id, [call_id])
    if values["duration"] and values["failed_code"] == "200" and not values["record_file_id"]:
        raise LookupError(f"recording for {call_id} not attached yet")
    return "enriched"
