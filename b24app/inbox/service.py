"""Accepting an event (verify, store once) and processing it (claim, dispatch, record the outcome)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ..bitrix.payloads import PortalEvent
from ..extensions import db
from ..models_base import utcnow
from ..portals.models import STATUS_UNINSTALLED, Portal
from .models import DONE, FAILED, NEW, PROCESSING, InboxEvent

log = logging.getLogger(__name__)

# event name -> handler(portal, data: dict, ts: str); feature packages register theirs.
HANDLERS: dict[str, Callable[[Portal, dict, str], None]] = {}


def handles(event: str):
    def decorator(fn):
        HANDLERS[event.upper()] = fn
        return fn

    return decorator


class EventRefused(Exception):
    def __init__(self, reason: str, status: int = 401):
        self.reason, self.status = reason, status
        super().__init__(reason)


def dedup_key(ev: PortalEvent) -> str:
    """One key per real-world occurrence: a re-delivery of the same event maps to the same key."""
    call_id = ev.data.get("CALL_ID") if isinstance(ev.data, dict) else None
    if ev.event.startswith("ONVOXIMPLANTCALL") and call_id:
        return f"{ev.event}:{call_id}"[:128]
    body = json.dumps({"e": ev.event, "d": ev.data, "ts": ev.ts}, sort_keys=True, ensure_ascii=False)
    return f"{ev.event}:{hashlib.sha256(body.encode()).hexdigest()}"[:128]


def accept(ev: PortalEvent) -> tuple[InboxEvent | None, bool]:
    """Verify against the stored application token and store; returns (row, is_new)."""
    if not ev.member_id or not ev.application_token:
        raise EventRefused("missing member_id or application_token")
    portal = db.session.scalar(select(Portal).where(Portal.member_id == ev.member_id))
    if portal is None or not portal.application_token:
        raise EventRefused("unknown portal")
    if not hmac.compare_digest(portal.application_token.encode(), ev.application_token.encode()):
        raise EventRefused("application token mismatch")
    if portal.status == STATUS_UNINSTALLED:
        raise EventRefused("portal uninstalled", 410)
    row = InboxEvent(portal_id=portal.id, event=ev.event, dedup_key=dedup_key(ev),
                     payload=json.dumps({"data": ev.data, "ts": ev.ts}, ensure_ascii=False))
    db.session.add(row)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return None, False
    return row, True


def process(inbox_id: int) -> str:
    """Claim the row, run its handler, record the outcome. Safe to call twice for one row."""
    claimed = db.session.execute(
        update(InboxEvent).where(InboxEvent.id == inbox_id, InboxEvent.status.in_((NEW, FAILED)))
        .values(status=PROCESSING, attempts=InboxEvent.attempts + 1)
    ).rowcount
    db.session.commit()
    if not claimed:
        return "skipped"
    row = db.session.get(InboxEvent, inbox_id)
    portal = db.session.get(Portal, row.portal_id)
    payload = json.loads(row.payload)
    handler = HANDLERS.get(row.event)
    try:
        if handler is not None:
            handler(portal, payload.get("data") or {}, payload.get("ts") or "")
    except Exception as exc:
        db.session.rollback()
        db.session.execute(update(InboxEvent).where(InboxEvent.id == inbox_id)
                           .values(status=FAILED, last_error=f"{type(exc).__name__}: {exc}"[:2000]))
        db.session.commit()
        log.warning("portal=%s event=%s inbox=%s failed: %s", portal.member_id, row.event, inbox_id,
                    type(exc).__name__)
        raise
    db.session.execute(update(InboxEvent).where(InboxEvent.id == inbox_id)
                       .values(status=DONE, processed_at=utcnow(), last_error=""))
    db.session.commit()
    return "done" if handler else "ignored"


def stale_ids(older_than: timedelta = timedelta(minutes=5), limit: int = 500) -> list[int]:
    """Rows whose job was lost (enqueue failed, worker died): the sweeper enqueues them again."""
    cutoff = utcnow() - older_than
    stuck = db.session.scalars(select(InboxEvent.id).where(
        InboxEvent.status.in_((NEW, FAILED, PROCESSING)), InboxEvent.received_at < cutoff,
        InboxEvent.attempts < 10).order_by(InboxEvent.id).limit(limit)).all()
    # A row left "processing" by a dead worker becomes claimable again.
    if stuck:
        db.session.execute(update(InboxEvent).where(InboxEvent.id.in_(stuck), InboxEvent.status == PROCESSING)
                           .values(status=FAILED))
        db.session.commit()
    return list(stuck)
