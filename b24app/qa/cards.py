"""QA cards: a selected call becomes one item of the QA smart process, bound to the call's activity."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select, update

from ..bitrix import errors as E
from ..bitrix.payloads import portal_timezone
from ..calls.models import Call
from ..calls.rules import REVIEW, SHORT, direction_of
from ..extensions import db
from ..jobs import app_task
from ..models_base import utcnow
from ..portals.models import Portal
from ..portals.rest import client_for
from . import workload
from .bootstrap import setup_for
from .models import QaSetup

log = logging.getLogger(__name__)
CLAIMED = 0  # qa_item_id while a worker is creating the card


def queue_for(portal_id: int, call_ids: list[str]) -> int:
    """Enqueue card creation for those of `call_ids` that are selected and have no card."""
    if setup_for(portal_id) is None:
        return 0
    ids = db.session.scalars(select(Call.id).where(
        Call.portal_id == portal_id, Call.call_id.in_(call_ids), Call.selection.in_((REVIEW, SHORT)),
        Call.qa_item_id.is_(None))).all()
    for call_pk in ids:
        create_card(call_pk)
    return len(ids)


def requeue_lost_cards(portal_id: int, stale_after: timedelta, window: timedelta = timedelta(days=2)) -> int:
    """Enqueue again the cards of live calls whose job was lost (its worker died, the queue was emptied).

    A claim (`qa_item_id` = CLAIMED) older than `stale_after` belonged to a worker that died: it is
    freed first. Then every selected call of the last `window` that came in live (not by the
    history import, which makes no cards), has its statistics and still no card, and was last
    touched before `stale_after`, gets its job again; `create_card` makes at most one card per call.
    """
    if setup_for(portal_id) is None:
        return 0
    cutoff = utcnow() - stale_after
    db.session.execute(update(Call).where(Call.portal_id == portal_id, Call.qa_item_id == CLAIMED,
                                          Call.updated_at < cutoff)
                       .values(qa_item_id=None, updated_at=Call.updated_at)  # still stale: enqueued below
                       .execution_options(synchronize_session=False))
    db.session.commit()
    ids = db.session.scalars(select(Call.id).where(
        Call.portal_id == portal_id, Call.call_start_date >= utcnow() - window, Call.source != "import",
        Call.enriched.is_(True), Call.selection.in_((REVIEW, SHORT)), Call.qa_item_id.is_(None),
        Call.updated_at < cutoff)).all()
    for call_pk in ids:
        create_card(call_pk)
    if ids:
        log.warning("portal=%s: %s cards whose job was lost enqueued again", portal_id, len(ids))
    return len(ids)


def next_reviewer(setup: QaSetup, portal: Portal, exclude: int | None = None) -> int | None:
    """The QA reviewer with the fewest open cards (ties in turn), absent ones and `exclude` skipped."""
    return workload.choose_reviewer(setup, portal, exclude)


def card_fields(call: Call, setup: QaSetup, reviewer: int | None, tz=None) -> dict:
    """The card's fields; times in the portal's zone `tz` when known (the title is read by people)."""
    f = setup.fields
    direction = direction_of(call.call_type or 0)
    when = call.call_start_date
    if when is not None and tz is not None:
        when = when.astimezone(tz)
    fields = {
        "title": f"Звонок {call.phone_number or '—'}" + (f" · {when:%d.%m.%Y %H:%M}" if when else ""),
        "stageId": setup.stages["review" if call.selection == REVIEW else "short"],
        f["manager"]: call.portal_user_id,
        f["call_date"]: when.isoformat() if when else "",
        f["direction"]: {"outgoing": "Исходящий", "incoming": "Входящий"}.get(direction or "", ""),
        f["duration"]: call.conversation,
        f["phone"]: call.phone_number,
        f["call_id"]: call.call_id,
    }
    from ..topics.service import card_values  # topics import qa; import here to keep qa below topics

    chosen = card_values(call.portal_id, call.call_id)
    if chosen:
        fields[f["topic"]], fields[f["checklist"]] = chosen
    if reviewer:
        fields["assignedById"] = reviewer
        fields[f["reviewer"]] = reviewer
    if call.crm_entity_type == "CONTACT" and call.crm_entity_id:
        fields["contactId"] = call.crm_entity_id
    elif call.crm_entity_type == "COMPANY" and call.crm_entity_id:
        fields["companyId"] = call.crm_entity_id
    return fields


@app_task(retries=5, retry_delay=30)
def create_card(call_pk: int) -> str:
    claimed = db.session.execute(update(Call).where(Call.id == call_pk, Call.qa_item_id.is_(None))
                                 .values(qa_item_id=CLAIMED)).rowcount
    db.session.commit()
    if not claimed:
        return "already has a card"
    call = db.session.get(Call, call_pk)
    portal = db.session.get(Portal, call.portal_id)
    setup = setup_for(portal.id)
    try:
        client = client_for(portal.member_id)
        etid = setup.entity_type_id
        # A card made by a worker that died before saving its ID is found by the call ID, not doubled.
        found = client.call("crm.item.list", {"entityTypeId": etid, "useOriginalUfNames": "Y",
                                              "filter": {setup.fields["call_id"]: call.call_id},
                                              "select": ["id", setup.fields["reviewer"]]})
        existing = found.result
        items = (existing or {}).get("items", []) if isinstance(existing, dict) else []
        # With a weekly quota a card to review waits, without a reviewer, for the week's sample.
        pending = call.selection == REVIEW and workload.quota_of(portal.id) > 0
        if items:
            item_id = int(items[0]["id"])
            raw = str(items[0].get(setup.fields["reviewer"]) or "")
            reviewer = int(raw) if raw.isdigit() and int(raw) > 0 else None
            pending = pending and reviewer is None
        else:
            reviewer = None if pending else next_reviewer(setup, portal, exclude=call.portal_user_id)
            tz = portal_timezone(found.time)
            res = client.call("crm.item.add", {"entityTypeId": etid, "useOriginalUfNames": "Y",
                                               "fields": card_fields(call, setup, reviewer, tz)})
            item_id = int(res.result["item"]["id"])
        if call.crm_activity_id:
            try:
                client.call("crm.activity.binding.add", {"activityId": call.crm_activity_id, "entityTypeId": etid,
                                                         "entityId": item_id})
            except E.BitrixError as exc:
                if exc.code != "NOT_FOUND":
                    raise
                # The call's activity was deleted in the CRM: the card stands without the recording link.
                log.warning("portal=%s call %s: activity %s is gone, card %s left unbound",
                            portal.member_id, call.call_id, call.crm_activity_id, item_id)
    except Exception:
        db.session.rollback()
        db.session.execute(update(Call).where(Call.id == call_pk, Call.qa_item_id == CLAIMED).values(qa_item_id=None))
        db.session.commit()
        raise
    db.session.execute(update(Call).where(Call.id == call_pk).values(qa_item_id=item_id))
    if workload.assignment(portal.id, item_id) is None:
        workload.record(portal.id, item_id, call.call_id, reviewer, workload.PENDING if pending else workload.ASSIGNED)
    db.session.commit()
    return "created"
