"""The local index the routing answer reads: whose client each contact is (ContactOwner) and which contact
each number belongs to (ContactPhone), built once from every contact and kept fresh by contact events, by
the alignment's own changes and by the periodic re-read of contacts changed since the last pass."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite

from ..extensions import db
from ..inbox.service import handles
from ..jobs import app_task
from ..models_base import row_for_portal, utcnow
from ..portals.lifecycle import after_install
from ..portals.models import Portal
from ..portals.rest import client_for
from . import portal_crm
from .models import ENTITY_CONTACT, AlignmentChange, AlignmentRun, ContactOwner, ContactPhone, RoutingSettings

log = logging.getLogger(__name__)

CONTACT_SELECT = ["ID", "ASSIGNED_BY_ID", "NAME", "LAST_NAME", "PHONE", "DATE_MODIFY"]
CHUNK = 400  # rows per statement: well under SQLite's bound-parameter limit


def settings_for(portal_id: int) -> RoutingSettings:
    return row_for_portal(RoutingSettings, portal_id)


def _insert(table):
    dialect = db.engine.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"the routing index needs ON CONFLICT (PostgreSQL or SQLite), not {dialect}")


def _chunks(items: list, size: int = CHUNK):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def apply_rows(portal_id: int, rows: Iterable[dict]) -> int:
    """Upsert contacts as `portal_crm.contact_row` gives them ({"id", "user_id", "name", "phones"}); their
    numbers are replaced by the ones given. Returns how many contacts were written (not committed)."""
    latest: dict[int, dict] = {}
    for r in rows:
        if int(r.get("id") or 0) > 0:
            latest[int(r["id"])] = r
    if not latest:
        return 0
    now = utcnow()
    owners = ContactOwner.__table__
    phones = ContactPhone.__table__
    ids = sorted(latest)
    for part in _chunks(ids):
        values = [{"portal_id": portal_id, "contact_id": i, "user_id": int(latest[i].get("user_id") or 0),
                   "name": str(latest[i].get("name") or "")[:255], "updated_at": now} for i in part]
        stmt = _insert(owners).values(values)
        db.session.execute(stmt.on_conflict_do_update(
            index_elements=["portal_id", "contact_id"],
            set_={"user_id": stmt.excluded.user_id, "name": stmt.excluded.name, "updated_at": stmt.excluded.updated_at}))
        db.session.execute(delete(phones).where(phones.c.portal_id == portal_id, phones.c.contact_id.in_(part)))
        numbers = [{"portal_id": portal_id, "phone": p[:32], "contact_id": i}
                   for i in part for p in dict.fromkeys(latest[i].get("phones") or ()) if p]
        for some in _chunks(numbers):
            db.session.execute(_insert(phones).values(some).on_conflict_do_nothing(
                index_elements=["portal_id", "phone", "contact_id"]))
    return len(ids)


def record_owners(portal_id: int, changes: Iterable[tuple[int, int]]) -> None:
    """The responsibles the app itself just set (contact ID, user ID): the index follows without a read.
    A contact not indexed yet gets a row without name or numbers; the next read of it fills them."""
    latest = {int(c): int(u) for c, u in changes}
    if not latest:
        return
    now = utcnow()
    owners = ContactOwner.__table__
    for part in _chunks(sorted(latest)):
        stmt = _insert(owners).values([{"portal_id": portal_id, "contact_id": c, "user_id": latest[c], "name": "",
                                        "updated_at": now} for c in part])
        db.session.execute(stmt.on_conflict_do_update(
            index_elements=["portal_id", "contact_id"],
            set_={"user_id": stmt.excluded.user_id, "updated_at": stmt.excluded.updated_at}))


def drop(portal_id: int, contact_ids: Iterable[int]) -> None:
    ids = sorted({int(c) for c in contact_ids})
    for part in _chunks(ids):
        db.session.execute(delete(ContactPhone).where(ContactPhone.portal_id == portal_id,
                                                      ContactPhone.contact_id.in_(part)))
        db.session.execute(delete(ContactOwner).where(ContactOwner.portal_id == portal_id,
                                                      ContactOwner.contact_id.in_(part)))


def refresh(portal: Portal, contact_ids: Iterable[int], client=None) -> int:
    """Re-read these contacts from the portal (crm.contact.list, 50 to a call) and index them; a contact the
    portal no longer has leaves the index. Commits."""
    ids = sorted({int(c) for c in contact_ids if int(c) > 0})
    if not ids:
        return 0
    rows = portal_crm.owners(client or client_for(portal.member_id), ids)
    apply_rows(portal.id, rows)
    drop(portal.id, set(ids) - {r["id"] for r in rows})
    db.session.commit()
    return len(rows)


def _later(a: str, b: str) -> str:
    """The later of two DATE_MODIFY values as the portal wrote them (either may be empty)."""
    if not a or not b:
        return a or b
    try:
        return a if datetime.fromisoformat(a) >= datetime.fromisoformat(b) else b
    except ValueError:
        return max(a, b)


def _export(portal: Portal, flt: dict, on_rows) -> str:
    """Every contact matching `flt`, indexed as it arrives; the newest DATE_MODIFY seen."""
    newest = ""

    def take(rows: list[dict]) -> None:
        nonlocal newest
        for r in rows:
            newest = _later(newest, str(r.get("DATE_MODIFY") or ""))
        on_rows([portal_crm.contact_row(r) for r in rows])
        db.session.commit()

    client_for(portal.member_id).export("crm.contact.list", {"filter": flt, "select": CONTACT_SELECT}, on_rows=take)
    return newest


def build(portal: Portal) -> int:
    """The full build: every contact of the portal; contacts indexed before and gone now leave. Commits."""
    seen: set[int] = set()

    def take(rows: list[dict]) -> None:
        apply_rows(portal.id, rows)
        seen.update(r["id"] for r in rows)

    newest = _export(portal, {}, take)
    had = set(db.session.scalars(select(ContactOwner.contact_id).where(ContactOwner.portal_id == portal.id)))
    drop(portal.id, had - seen)
    settings = settings_for(portal.id)
    settings.index_built_at = utcnow()
    settings.contacts_reconciled_to = _later(settings.contacts_reconciled_to, newest)
    db.session.commit()
    log.info("portal=%s routing index built: %s contacts", portal.member_id, len(seen))
    return len(seen)


def catch_up(portal: Portal) -> int:
    """Contacts changed since the last pass (DATE_MODIFY at or after the cursor), then the cursor moves."""
    settings = settings_for(portal.id)
    if settings.index_built_at is None:
        return build(portal)
    since = settings.contacts_reconciled_to
    count = 0

    def take(rows: list[dict]) -> None:
        nonlocal count
        count += apply_rows(portal.id, rows)

    newest = _export(portal, {">=DATE_MODIFY": since} if since else {}, take)
    settings = settings_for(portal.id)
    settings.contacts_reconciled_to = _later(settings.contacts_reconciled_to, newest)
    db.session.commit()
    return count


@app_task(retries=3, retry_delay=60)
def build_index(portal_id: int) -> str:
    portal = db.session.get(Portal, portal_id)
    if portal is None or not portal.is_active:
        return "portal inactive"
    return f"indexed {build(portal)}"


def schedule_build(portal_id: int) -> None:
    """Start the full build when the index was never built (install, or distribution first enabled)."""
    if settings_for(portal_id).index_built_at is None:
        build_index(portal_id)


def _after_install(portal: Portal) -> None:
    schedule_build(portal.id)


# --- contact events ----------------------------------------------------------------------------------

def _contact_id(data: dict) -> int:
    fields = data.get("FIELDS") if isinstance(data, dict) else None
    try:
        return int((fields or {}).get("ID") or 0)
    except (TypeError, ValueError):
        return 0


def _event_moment(ts: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(ts), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


ECHO_WINDOW = timedelta(seconds=60)  # an ongoing change is logged this shortly before its event comes back


def own_echo(portal_id: int, contact_id: int, moment: datetime) -> bool:
    """The event is (most likely) the app's own responsible change coming back: an ongoing change of this
    contact was logged just before the event, or a bulk run (or its undo) that is touching it is running.
    Those write the index themselves. Each test is a lookup by the unique key (run_id, entity, entity_id)."""
    mine = select(AlignmentChange.id).where(AlignmentChange.portal_id == portal_id,
                                            AlignmentChange.entity == ENTITY_CONTACT,
                                            AlignmentChange.entity_id == contact_id)
    if db.session.scalar(mine.where(AlignmentChange.run_id.is_(None),
                                    AlignmentChange.created_at >= moment - ECHO_WINDOW).limit(1)) is not None:
        return True
    running = db.session.scalars(select(AlignmentRun.id).where(
        AlignmentRun.portal_id == portal_id, AlignmentRun.status == "running",
        AlignmentRun.kind.in_(("apply", "undo")))).all()
    return bool(running) and db.session.scalar(mine.where(AlignmentChange.run_id.in_(running)).limit(1)) is not None


@handles("ONCRMCONTACTADD")
@handles("ONCRMCONTACTUPDATE")
def on_contact_changed(portal: Portal, data: dict, ts: str) -> None:
    """Re-read the contact into the index; never starts an alignment. The app's own responsible changes
    come back as this event too, and are not read back (a bulk run must not spend the portal's rate
    reading what it wrote): their writes already went to the index, and since they move the contact's
    DATE_MODIFY, the periodic re-read of changed contacts reads them once anyway, with any edit a person
    made in those same moments."""
    contact_id = _contact_id(data)
    if contact_id <= 0:
        return
    moment = _event_moment(ts)
    if moment is not None and own_echo(portal.id, contact_id, moment):
        return
    refresh(portal, [contact_id])


@handles("ONCRMCONTACTDELETE")
def on_contact_deleted(portal: Portal, data: dict, ts: str) -> None:
    contact_id = _contact_id(data)
    if contact_id > 0:
        drop(portal.id, [contact_id])
        db.session.commit()


after_install.append(_after_install)
