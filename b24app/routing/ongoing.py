"""The ongoing alignment (D2): on a deal's add or update event its contacts (and company) follow its
responsible by the portal's rules, and a periodic pass re-checks the deals changed since the last one,
since online events can be lost. Idempotent by construction: only an entity whose responsible differs
from its target is written, so a repeated event or a re-checked deal costs reads only."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from ..bitrix import errors as E
from ..bitrix.client import BitrixClient
from ..extensions import db
from ..inbox.service import handles
from ..jobs import app_periodic_task, app_task, every_minutes
from ..models_base import utcnow
from ..portals.models import STATUS_ACTIVE, Portal
from ..portals.rest import client_for
from . import index, portal_crm
from .models import ENTITY_COMPANY, ENTITY_CONTACT, AlignmentChange, RoutingSettings
from .people import heads_of, inactive_users
from .rules import Change, Deal, Rules, plan, takes_part

log = logging.getLogger(__name__)

DEALS_PER_PASS = 500      # deals whose contacts are read and aligned together in the re-check
LINKS_IN_MESSAGE = 20     # contact links in one notification; the rest is counted
FIRST_PASS_BACK = timedelta(minutes=15)  # the first re-check looks this far back (older is the bulk run's)
OTHER_DEALS_ORDER = {"newest": {"DATE_CREATE": "DESC"}, "largest": {"OPPORTUNITY": "DESC"}}


# --- who may receive contacts ------------------------------------------------------------------------

def rules_for(portal_id: int, settings: RoutingSettings) -> tuple[Rules, dict[int, int | None]]:
    rules = Rules.of(settings, inactive_users(portal_id))
    return rules, (heads_of(portal_id) if rules.on_excluded == "head" else {})


# --- reading what decides ----------------------------------------------------------------------------

def other_deals(client: BitrixClient, entity: str, ids: Iterable[int], rules: Rules) -> dict[int, list[Deal]]:
    """Each contact's (company's) deals for the winners that need them all ("newest", "largest"): one
    crm.deal.list per entity filtered by CONTACT_ID (COMPANY_ID), the best 50 by the winner's order, 50 calls
    to a batch request."""
    wanted = sorted({int(i) for i in ids})
    field = "CONTACT_ID" if entity == ENTITY_CONTACT else "COMPANY_ID"
    base = portal_crm.deal_filter(rules.categories)
    calls = [("crm.deal.list", {"filter": {**base, field: i}, "select": portal_crm.DEAL_SELECT,
                                "order": OTHER_DEALS_ORDER.get(rules.winner, {"DATE_MODIFY": "DESC"}),
                                "start": -1}) for i in wanted]
    out: dict[int, list[Deal]] = {i: [] for i in wanted}
    for batch in client.iter_batches(calls):  # keys are c<index into calls>, across every batch
        batch.raise_first()
        for key, rows in batch.results.items():
            out[wanted[int(key[1:])]] = [portal_crm.to_deal(r) for r in rows or [] if isinstance(r, dict)]
    return out


def _deals_of(deals: Iterable[Deal], entity: str) -> dict[int, list[Deal]]:
    out: dict[int, list[Deal]] = {}
    for d in deals:
        ids = d.contact_ids if entity == ENTITY_CONTACT else ((d.company_id,) if d.company_id > 0 else ())
        for i in ids:
            out.setdefault(int(i), []).append(d)
    return out


def _merge(known: dict[int, list[Deal]], more: dict[int, list[Deal]]) -> dict[int, list[Deal]]:
    """The deals just read win over the list's copy of the same deal (they are the newer state)."""
    out = {}
    for i, deals in known.items():
        by_id = {d.id: d for d in more.get(i, [])}
        by_id.update({d.id: d for d in deals})
        out[i] = list(by_id.values())
    return out


def align(portal: Portal, client: BitrixClient, settings: RoutingSettings, deals: list[Deal]) -> list[AlignmentChange]:
    """Make the contacts (and companies) of `deals` follow their winning deal; the changes made.

    The contact's other deals are read (one list call each, 50 to a batch request) only when they may
    decide: always for the "newest" and "largest" winners; for "modified", when the contact would move
    or its changed deal no longer takes part (closed, moved out of the chosen funnels). A contact
    already right under its changed deal costs no read beyond its own."""
    rules, head_of = rules_for(portal.id, settings)
    entities = [ENTITY_CONTACT] + ([ENTITY_COMPANY] if rules.companies else [])
    planned: list[Change] = []
    contact_rows: dict[int, dict] = {}
    for entity in entities:
        deals_of = _deals_of(deals, entity)
        if not deals_of:
            continue
        if entity == ENTITY_CONTACT:
            # The contacts' index rows come with the same reads (crm.contact.list, 50 IDs a call).
            contact_rows = {r["id"]: r for r in portal_crm.owners(client, deals_of)}
            current = {i: r["user_id"] for i, r in contact_rows.items()}
        else:
            current = portal_crm.responsibles(client, entity, deals_of)
        if rules.winner == "modified":
            # Only a contact about to move, or whose changed deal no longer takes part, needs its other
            # deals: an event delivered late or out of order must not hand it to a deal changed earlier.
            moving = {c.entity_id for c in plan(deals_of, current, rules, head_of, entity)}
            unsure = [i for i, known in deals_of.items() if i in current
                      and (i in moving or not any(takes_part(d, rules) for d in known))]
        else:
            unsure = [i for i in deals_of if i in current]
        if unsure:
            deals_of = _merge(deals_of, other_deals(client, entity, unsure, rules))
        planned += plan(deals_of, current, rules, head_of, entity)
    done = apply(portal, client, planned)
    for change in done:
        if change.entity == ENTITY_CONTACT and change.entity_id in contact_rows:
            contact_rows[change.entity_id]["user_id"] = change.new_user_id
    index.apply_rows(portal.id, contact_rows.values())
    db.session.commit()
    if settings.notify and done:
        notify(portal, client, done, {i: r["name"] for i, r in contact_rows.items()})
    return done


def apply(portal: Portal, client: BitrixClient, changes: list[Change]) -> list[AlignmentChange]:
    """Log, write and mark the changes; the ones the portal took."""
    if not changes:
        return []
    rows = [AlignmentChange(portal_id=portal.id, run_id=None, entity=c.entity, entity_id=c.entity_id,
                            deal_id=c.deal_id, old_user_id=c.old_user_id, new_user_id=c.new_user_id,
                            status="planned") for c in changes]
    db.session.add_all(rows)
    db.session.commit()  # the log first, and no write lock held across the REST calls (SQLite: one writer)
    errors: dict[tuple[str, int], str] = {}
    for entity in (ENTITY_CONTACT, ENTITY_COMPANY):
        todo = [(r.entity_id, r.new_user_id) for r in rows if r.entity == entity]
        if todo:
            errors.update({(entity, i): code for i, code in portal_crm.set_responsibles(client, entity, todo).items()})
    now = utcnow()
    done = []
    for r in rows:
        if (r.entity, r.entity_id) in errors:
            r.status = "skipped"
            log.info("portal=%s %s %s not moved: %s", portal.member_id, r.entity, r.entity_id,
                     errors[(r.entity, r.entity_id)])
        else:
            r.status, r.applied_at = "done", now
            done.append(r)
    db.session.commit()
    return done


# --- telling the new responsibles ----------------------------------------------------------------------

def _contact_link(portal: Portal, contact_id: int, name: str) -> str:
    return f"[URL={portal.origin}/crm/contact/details/{contact_id}/]{name or f'№{contact_id}'}[/URL]"


def _deal_link(portal: Portal, deal_id: int) -> str:
    return f"[URL={portal.origin}/crm/deal/details/{deal_id}/]№{deal_id}[/URL]"


def message_for(portal: Portal, changes: list[AlignmentChange], names: dict[int, str]) -> str:
    """One user's notification for the contacts he received (one deal's, or a re-check's several)."""
    contacts = sorted({c.entity_id for c in changes})
    links = [_contact_link(portal, i, names.get(i, "")) for i in contacts[:LINKS_IN_MESSAGE]]
    listed = ", ".join(links)
    if len(contacts) > LINKS_IN_MESSAGE:
        listed += " " + _("и ещё %(count)s", count=len(contacts) - LINKS_IN_MESSAGE)
    deals = {c.deal_id for c in changes}
    if len(deals) == 1:
        deal = _deal_link(portal, next(iter(deals)))
        if len(contacts) == 1:
            return _("Вам передан контакт %(contact)s по сделке %(deal)s", contact=listed, deal=deal)
        return _("Вам переданы контакты (%(count)s) по сделке %(deal)s: %(contacts)s", count=len(contacts),
                 deal=deal, contacts=listed)
    return _("Вам переданы контакты (%(count)s) по вашим сделкам: %(contacts)s", count=len(contacts),
             contacts=listed)


def notify(portal: Portal, client: BitrixClient, done: list[AlignmentChange], names: dict[int, str]) -> None:
    """One im.notify.system.add per new responsible for the contacts he received; a failed notification is
    logged, never retried (the contacts are already his, and a retry would move nothing to tell about)."""
    by_user: dict[int, list[AlignmentChange]] = {}
    for c in done:
        if c.entity == ENTITY_CONTACT:
            by_user.setdefault(c.new_user_id, []).append(c)
    with force_locale(portal.language or "ru"):
        for user_id, changes in sorted(by_user.items()):
            tag = f"cq.routing.{min(c.id for c in changes)}"
            try:
                client.call("im.notify.system.add", {"USER_ID": user_id, "MESSAGE": message_for(portal, changes, names),
                                                     "TAG": tag})
            except E.BitrixError as exc:
                if E.needs_reinstall(exc):
                    raise
                log.warning("portal=%s routing notification to user %s failed: %s", portal.member_id, user_id,
                            E.root_code(exc) or type(exc).__name__)
                continue
            for c in changes:
                c.notified = True
    db.session.commit()


# --- the deal events -----------------------------------------------------------------------------------

def _deal_id(data: dict) -> int:
    fields = data.get("FIELDS") if isinstance(data, dict) else None
    try:
        return int((fields or {}).get("ID") or 0)
    except (TypeError, ValueError):
        return 0


@handles("ONCRMDEALADD")
@handles("ONCRMDEALUPDATE")
def on_deal_changed(portal: Portal, data: dict, ts: str) -> None:
    settings = index.settings_for(portal.id)
    if not settings.enabled:
        return
    deal_id = _deal_id(data)
    if deal_id <= 0:
        return
    client = client_for(portal.member_id)
    deal = portal_crm.deal(client, deal_id)
    if deal is None:
        log.info("portal=%s deal %s of an event does not exist: ignored", portal.member_id, deal_id)
        return
    align(portal, client, settings, [deal])


# --- the periodic re-check -----------------------------------------------------------------------------

def reconcile(portal: Portal) -> int:
    """Re-check the deals changed at or after the cursor and move it to the newest change seen; the number
    of entities moved. The first pass (no cursor yet) starts a little before now: older deals are the
    bulk alignment's."""
    settings = index.settings_for(portal.id)
    if not settings.enabled:
        return 0
    since = settings.reconciled_to or (utcnow() - FIRST_PASS_BACK).isoformat(timespec="seconds")
    client = client_for(portal.member_id)
    rows: dict[int, dict] = {}

    def take(batch: list[dict]) -> None:
        for r in batch:
            rows[int(r.get("ID") or 0)] = r

    portal_crm.export_deals(client, take, categories=settings.categories, modified_since=since)
    newest = since
    for r in rows.values():
        newest = index._later(newest, str(r.get("DATE_MODIFY") or ""))
    ids = sorted(i for i in rows if i > 0)
    # With the "modified" winner a contact's winner among these is the latest of them: a deal outside the
    # window changed earlier, so reading the window in one piece per contact is enough.
    moved = 0
    for start in range(0, len(ids), DEALS_PER_PASS):
        part = ids[start:start + DEALS_PER_PASS]
        contacts = portal_crm.contacts_of(client, part)
        deals = [portal_crm.to_deal(rows[i], contacts.get(i, ())) for i in part if i in contacts]
        moved += len(align(portal, client, settings, deals))
    settings = index.settings_for(portal.id)
    settings.reconciled_to = newest
    db.session.commit()
    return moved


@app_task(retries=2, retry_delay=120)
def reconcile_portal(portal_id: int) -> str:
    portal = db.session.get(Portal, portal_id)
    if portal is None or not portal.is_active:
        return "portal inactive"
    indexed = index.catch_up(portal)
    moved = reconcile(portal)
    return f"indexed {indexed}, moved {moved}"


@app_periodic_task(every_minutes("ROUTING_RECONCILE_MINUTES", 10))
def reconcile_routing() -> None:
    """Every active portal's index catches up, and where distribution is on its changed deals are
    re-checked; one job per portal, so one slow portal holds up no other."""
    portals = db.session.scalars(select(Portal.id).where(Portal.status == STATUS_ACTIVE)).all()
    for portal_id in portals:
        reconcile_portal(portal_id)

