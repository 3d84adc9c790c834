"""Accepting an event (verify, store once) and processing it (claim, dispatch, record the outcome)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

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


_PORTAL_BY_MEMBER = select(Portal.id, Portal.application_token, Portal.status).where(
    Portal.member_id == bindparam("member_id"))


def _insert_once(dialect: str):
    """INSERT … ON CONFLICT (portal_id, dedup_key) DO NOTHING RETURNING id: a duplicate returns no row."""
    table = InboxEvent.__table__
    if dialect == "postgresql":
        stmt = postgresql.insert(table)
    elif dialect == "sqlite":
        stmt = sqlite.insert(table)
    else:
        raise RuntimeError(f"the inbox needs ON CONFLICT (PostgreSQL or SQLite), not {dialect}")
    return stmt.on_conflict_do_nothing(index_elements=["portal_id", "dedup_key"]).returning(table.c.id)


def accept(ev: PortalEvent) -> int | None:
    """Verify against the stored application token and store once; the new row's id, None for a duplicate.

    This is the whole cost of answering the portal, so it is two statements on one pooled connection
    in autocommit: the portal's row by member_id, then the insert, committed when it returns (no BEGIN
    or COMMIT round trips, no ORM unit of work, no reload of the row after commit). A duplicate is
    told by the unique key, not by an error.
    """
    if not ev.member_id or not ev.application_token:
        raise EventRefused("missing member_id or application_token")
    with db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        portal = conn.execute(_PORTAL_BY_MEMBER, {"member_id": ev.member_id}).first()
        if portal is None or not portal.application_token:
            raise EventRefused("unknown portal")
        if not hmac.compare_digest(portal.application_token.encode(), ev.application_token.encode()):
            raise EventRefused("application token mismatch")
        if portal.status == STATUS_UNINSTALLED:
            raise EventRefused("portal uninstalled", 410)
        return conn.execute(_insert_once(conn.dialect.name), {
            "portal_id": portal.id, "event": ev.event, "dedup_key": dedup_key(ev),
            "payload": json.dumps({"data": ev.data, "ts": ev.ts}, ensure_ascii=False),
            "status": NEW, "attempts": 0, "last_error": "", "received_at": utcnow()}).scalar()


_CLAIM = (update(InboxEvent.__table__)
          .where(InboxEvent.__table__.c.id == bindparam("inbox_id"),
                 InboxEvent.__table__.c.status.in_((NEW, FAILED)))
          .values(status=PROCESSING, attempts=InboxEvent.__table__.c.attempts + 1)
          .returning(InboxEvent.__table__.c.portal_id, InboxEvent.__table__.c.event,
                     InboxEvent.__table__.c.payload))
_OUTCOME = update(InboxEvent.__table__).where(InboxEvent.__table__.c.id == bindparam("inbox_id"))


def _autocommit(statement, params: dict):
    """One statement on a pooled connection of its own, committed as it returns (no BEGIN/COMMIT trips)."""
    with db.engine.connect() as conn:
        result = conn.execution_options(isolation_level="AUTOCOMMIT").execute(statement, params)
        return result.first() if result.returns_rows else None


def process(inbox_id: int) -> str:
    """Claim the row, run its handler, record the outcome. Safe to call twice for one row.

    The claim and the outcome are single Core statements committed on their own (the claim returns
    the row, so nothing is read back); the handler works in the session as before. The claim is
    committed before the handler runs, so a worker that dies mid-way leaves the row "processing",
    which the sweeper makes claimable again.
    """
    claimed = _autocommit(_CLAIM, {"inbox_id": inbox_id})
    if claimed is None:
        return "skipped"
    portal = db.session.get(Portal, claimed.portal_id)
    payload = json.loads(claimed.payload)
    handler = HANDLERS.get(claimed.event)
    try:
        if handler is not None:
            handler(portal, payload.get("data") or {}, payload.get("ts") or "")
            # What the handler left pending is kept, and no write lock (SQLite) outlives it.
            db.session.commit()
    except Exception as exc:
        db.session.rollback()  # the handler's half-done work goes; no write lock is held past this
        _autocommit(_OUTCOME.values(status=FAILED, last_error=f"{type(exc).__name__}: {exc}"[:2000]),
                    {"inbox_id": inbox_id})
        log.warning("portal=%s event=%s inbox=%s failed: %s", portal.member_id, claimed.event, inbox_id,
                    type(exc).__name__)
        raise
    _autocommit(_OUTCOME.values(status=DONE, processed_at=utcnow(), last_error=""), {"inbox_id": inbox_id})
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
