"""Reviewer workload: who reviews which QA card, the weekly quota sample, load-aware assignment, reassignment.

Each QA card has one `qa_assignments` row: its reviewer and why it is where it is (`reason`):

- ``assigned``: given to a reviewer when the card was made (no quota), in his queue at once;
- ``pending``: made while a weekly quota is on; in nobody's queue until the week's sample decides;
- ``sampled``: kept by the weekly sample and given to a reviewer;
- ``not_sampled``: left out by the sample; the card is moved to «Без оценки», not deleted;
- ``reassigned``: moved from an absent reviewer (or by an admin) to another one.

**The weekly quota (no cherry-picking).** With `QaSettings.weekly_quota` = N > 0, a card made for a
call to be reviewed is created in the CRM as before but without a reviewer, and is `pending`: no
queue shows it, so no reviewer can choose among the week's calls. Once per ISO week (portal time;
`QaSettings.quota_week` remembers the last), for every manager with pending cards of a past week,
the manager's cards of that week are put in a random order seeded by (portal, week, manager) —
the same order on every run and on every machine — and the first pending ones in that order are
kept until the manager has N cards kept that week (cards already in a queue or already scored
count as kept); the rest are `not_sampled` and moved to the «Без оценки» stage. A manager with
fewer than N cards keeps them all. Running the sample again changes nothing (decided cards stay
decided), and a call that arrives late for an already sampled week fills a free place if there is
one, else it is left out too. The CRM is touched on purpose: a left-out card that stayed in
«Оценить» could still be picked from the smart-process list, and would read as backlog in every
CRM report of that stage. A card with a draft or a score is never moved. Setting the quota back
to 0 releases pending cards to the reviewers.

**Assignment.** A card goes to the QA reviewer (role «Контролёр качества») with the fewest open
cards (in his queue and not yet scored); ties go round the reviewers in turn (the shared cursor),
absent reviewers and the call's own manager are skipped. Without a reviewer on hand the card goes
to the installer, as before.

**Absence.** Bitrix24 has no REST method for the absence chart (none in REST-FACTS, none in the
sandbox), so a reviewer is absent when his account is inactive (dismissed, blocked): the
periodic job reads `user.get` `ACTIVE` for the reviewers, as the directory sync does at install,
and moves an absent reviewer's open cards to the others by load. For a vacation an admin uses
«Передать карточки…» in the queue. A card with another reviewer's draft in progress stays where it is.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from huey import crontab
from sqlalchemy import (
    BigInteger,
    Index,
    Integer,
    String,
    UniqueConstraint,
    and_,
    exists,
    func,
    select,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..bitrix import errors as E
from ..calls.models import Call
from ..calls.rules import REVIEW
from ..extensions import db
from ..jobs import app_periodic_task, app_task
from ..models_base import UtcDateTime, portal_fk, utcnow
from ..portals.models import STATUS_ACTIVE, Portal, PortalUser, RoleGrant
from ..portals.rest import client_for
from ..portals.roles import names_for
from . import history
from .bootstrap import setup_for
from .clock import portal_tz
from .models import QaScore, QaSetup

log = logging.getLogger(__name__)

ASSIGNED, PENDING, SAMPLED, NOT_SAMPLED, REASSIGNED = "assigned", "pending", "sampled", "not_sampled", "reassigned"
IN_QUEUE = (ASSIGNED, SAMPLED, REASSIGNED)  # reasons that put a card in its reviewer's queue
FINAL = ("submitted", "unscorable")
BATCH = 50


class QaAssignment(db.Model):
    """Who reviews one QA card, and why the card is where it is (see the module's docstring)."""

    __tablename__ = "qa_assignments"
    __table_args__ = (
        UniqueConstraint("portal_id", "qa_item_id"),
        Index("ix_qa_assignments_portal_reviewer", "portal_id", "reviewer_id", "reason"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portal_id: Mapped[int] = portal_fk()
    qa_item_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    call_id: Mapped[str] = mapped_column(String(128), nullable=False)
    reviewer_id: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(16), nullable=False, default=ASSIGNED)
    week: Mapped[str | None] = mapped_column(String(10))  # ISO week the sample decided the card in
    assigned_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, nullable=False)


class WorkloadRefused(Exception):
    def __init__(self, key: str, status: int = 409):
        super().__init__(key)
        self.key, self.status = key, status


# --- time ----------------------------------------------------------------------------------------

def iso_week(when: datetime, tz: timezone) -> str:
    year, week, _ = when.astimezone(tz).isocalendar()
    return f"{year}-W{week:02d}"


def week_bounds(week: str, tz: timezone) -> tuple[datetime, datetime]:
    """[Monday 00:00, next Monday 00:00) of an ISO week in the portal's time."""
    year, num = week.split("-W")
    start = datetime.fromisocalendar(int(year), int(num), 1).replace(tzinfo=tz)
    return start, start + timedelta(days=7)


# --- who reviews ---------------------------------------------------------------------------------

def reviewers(portal_id: int) -> list[int]:
    return sorted(db.session.scalars(select(RoleGrant.user_id).where(
        RoleGrant.portal_id == portal_id, RoleGrant.role == "qa")).all())


def absent(portal_id: int, user_ids: Iterable[int]) -> set[int]:
    ids = set(user_ids)
    if not ids:
        return set()
    return set(db.session.scalars(select(PortalUser.user_id).where(
        PortalUser.portal_id == portal_id, PortalUser.user_id.in_(ids), PortalUser.active.is_(False))).all())


def available(portal_id: int) -> list[int]:
    every = reviewers(portal_id)
    gone = absent(portal_id, every)
    return [r for r in every if r not in gone]


def _open_query(portal_id: int):
    """Assignments whose card is in its reviewer's queue and not yet scored (the open load)."""
    scored = exists().where(QaScore.portal_id == portal_id, QaScore.qa_item_id == QaAssignment.qa_item_id,
                            QaScore.calibration_id == 0, QaScore.status.in_(FINAL))
    return (select(QaAssignment, Call)
            .join(Call, and_(Call.portal_id == QaAssignment.portal_id, Call.call_id == QaAssignment.call_id))
            .where(QaAssignment.portal_id == portal_id, Call.portal_id == portal_id,
                   QaAssignment.reason.in_(IN_QUEUE), Call.selection == REVIEW, ~scored))


def open_counts(portal_id: int, user_ids: Iterable[int] | None = None) -> dict[int, int]:
    q = _open_query(portal_id).with_only_columns(QaAssignment.reviewer_id, func.count()).group_by(
        QaAssignment.reviewer_id)
    if user_ids is not None:
        q = q.where(QaAssignment.reviewer_id.in_(list(user_ids)))
    return {rid: n for rid, n in db.session.execute(q).all() if rid is not None}


def pick(candidates: list[int], loads: dict[int, int], start: int) -> int:
    """The candidate with the fewest open cards; among equals, the first in turn from position `start`."""
    n = len(candidates)
    turn = {uid: (i - start) % n for i, uid in enumerate(candidates)}
    return min(candidates, key=lambda uid: (loads.get(uid, 0), turn[uid]))


def _turn(setup: QaSetup) -> int:
    # The cursor moves under a row update, so two workers picking at once start from different places.
    cursor = db.session.execute(update(QaSetup).where(QaSetup.portal_id == setup.portal_id, QaSetup.id == setup.id)
                                .values(reviewer_cursor=QaSetup.reviewer_cursor + 1)
                                .returning(QaSetup.reviewer_cursor)).scalar_one()
    db.session.commit()
    return cursor - 1


def choose_reviewer(setup: QaSetup, portal: Portal, exclude: int | None = None) -> int | None:
    """The reviewer for a new card: fewest open cards, then in turn; absent ones and `exclude` skipped."""
    on_hand = available(portal.id)
    candidates = [r for r in on_hand if r != exclude]
    if not candidates:
        # Nobody else on hand: the installer (an admin may score), unless that would be the manager himself.
        installer = portal.installer_user_id
        return installer if installer != exclude or not on_hand else on_hand[0]
    start = _turn(setup) % len(candidates)
    return pick(candidates, open_counts(portal.id, candidates), start)


def quota_of(portal_id: int) -> int:
    return max(0, int(history.settings_for(portal_id).weekly_quota or 0))


def record(portal_id: int, qa_item_id: int, call_id: str, reviewer_id: int | None, reason: str,
           week: str | None = None) -> QaAssignment:
    """Write (or rewrite) a card's assignment; the caller commits."""
    row = db.session.scalar(select(QaAssignment).where(QaAssignment.portal_id == portal_id,
                                                       QaAssignment.qa_item_id == qa_item_id))
    if row is None:
        row = QaAssignment(portal_id=portal_id, qa_item_id=qa_item_id, call_id=call_id)
        db.session.add(row)
    row.reviewer_id, row.reason, row.assigned_at = reviewer_id, reason, utcnow()
    if week is not None:
        row.week = week
    return row


def assignment(portal_id: int, qa_item_id: int) -> QaAssignment | None:
    return db.session.scalar(select(QaAssignment).where(QaAssignment.portal_id == portal_id,
                                                        QaAssignment.qa_item_id == qa_item_id))


def sampling_state(portal_id: int, qa_item_id: int) -> str | None:
    """'pending' or 'not_sampled' for a card the weekly sample has not given to review, else None."""
    row = assignment(portal_id, qa_item_id)
    return row.reason if row is not None and row.reason in (PENDING, NOT_SAMPLED) else None


# --- the queue -----------------------------------------------------------------------------------

@dataclass
class QueueItem:
    qa_item_id: int
    call_id: str
    when: datetime | None
    manager_id: int | None
    manager: str
    phone: str
    seconds: int | None
    topic: str
    draft_by: int | None  # who holds a draft of this card, if anyone
    path: str


@dataclass
class QueueCounts:
    open: int = 0
    done_week: int = 0
    quota: int = 0
    quota_week: str | None = None
    quota_done: int = 0
    quota_total: int = 0
    pending: int = 0


def queue(portal_id: int, reviewer_id: int, limit: int = 200) -> list[QueueItem]:
    """The reviewer's open cards, the oldest call first."""
    setup = setup_for(portal_id)
    if setup is None:
        return []
    q = (_open_query(portal_id).where(QaAssignment.reviewer_id == reviewer_id)
         .order_by(Call.call_start_date.is_(None), Call.call_start_date, Call.id).limit(limit))
    rows = db.session.execute(q).all()
    items = [a.qa_item_id for a, _c in rows]
    drafts = dict(db.session.execute(select(QaScore.qa_item_id, QaScore.reviewer_id).where(
        QaScore.portal_id == portal_id, QaScore.calibration_id == 0, QaScore.status == "draft",
        QaScore.qa_item_id.in_(items))).all()) if items else {}
    topics = _topics(portal_id, [c.call_id for _a, c in rows])
    who = names_for(portal_id, [c.portal_user_id for _a, c in rows])
    return [QueueItem(
        qa_item_id=a.qa_item_id, call_id=c.call_id, when=c.call_start_date, manager_id=c.portal_user_id,
        manager=who.get(c.portal_user_id, "—") if c.portal_user_id else "—", phone=c.phone_number or "—",
        seconds=c.conversation if c.conversation is not None else c.duration, topic=topics.get(c.call_id, ""),
        draft_by=drafts.get(a.qa_item_id), path=f"/crm/type/{setup.entity_type_id}/details/{a.qa_item_id}/",
    ) for a, c in rows]


def _topics(portal_id: int, call_ids: list[str]) -> dict[str, str]:
    if not call_ids:
        return {}
    from ..topics.models import CallTopic, Topic  # topics sit above qa

    return dict(db.session.execute(select(CallTopic.call_id, Topic.name)
                                   .join(Topic, and_(Topic.id == CallTopic.topic_id, Topic.portal_id == portal_id))
                                   .where(CallTopic.portal_id == portal_id, CallTopic.call_id.in_(call_ids))).all())


def counts(portal_id: int, reviewer_id: int, now: datetime | None = None) -> QueueCounts:
    now = now or utcnow()
    tz = portal_tz(portal_id)
    this_week = iso_week(now, tz)
    start, _end = week_bounds(this_week, tz)
    out = QueueCounts(quota=quota_of(portal_id))
    out.open = open_counts(portal_id, [reviewer_id]).get(reviewer_id, 0)
    out.done_week = db.session.scalar(select(func.count()).select_from(QaScore).where(
        QaScore.portal_id == portal_id, QaScore.calibration_id == 0, QaScore.reviewer_id == reviewer_id,
        QaScore.status.in_(FINAL), func.coalesce(QaScore.submitted_at, QaScore.updated_at) >= start)) or 0
    # The latest sampled week: how many of this reviewer's kept cards of it are scored.
    out.quota_week = db.session.scalar(select(func.max(QaAssignment.week)).where(
        QaAssignment.portal_id == portal_id, QaAssignment.week.is_not(None)))
    if out.quota_week:
        scored = exists().where(QaScore.portal_id == portal_id, QaScore.qa_item_id == QaAssignment.qa_item_id,
                                QaScore.calibration_id == 0, QaScore.status.in_(FINAL))
        base = select(func.count()).select_from(QaAssignment).where(
            QaAssignment.portal_id == portal_id, QaAssignment.reviewer_id == reviewer_id,
            QaAssignment.week == out.quota_week, QaAssignment.reason.in_(IN_QUEUE))
        out.quota_total = db.session.scalar(base) or 0
        out.quota_done = db.session.scalar(base.where(scored)) or 0
    out.pending = db.session.scalar(select(func.count()).select_from(QaAssignment).where(
        QaAssignment.portal_id == portal_id, QaAssignment.reason == PENDING)) or 0
    return out


# --- writing cards in the CRM --------------------------------------------------------------------

def _update_cards(portal: Portal, setup: QaSetup, changes: dict[int, dict]) -> tuple[set[int], set[int]]:
    """crm.item.update for each card (batches of 50): (the ids updated, the ids the CRM no longer has)."""
    client = client_for(portal.member_id)
    done, gone = set(), set()
    ids = list(changes)
    for i in range(0, len(ids), BATCH):
        chunk = ids[i:i + BATCH]
        res = client.batch({f"c{item}": ("crm.item.update", {
            "entityTypeId": setup.entity_type_id, "id": item, "useOriginalUfNames": "Y", "fields": changes[item]})
            for item in chunk})
        for item in chunk:
            err = res.errors.get(f"c{item}")
            if err is None and f"c{item}" in res.results:
                done.add(item)
            elif err is not None and err.code == "NOT_FOUND":
                gone.add(item)
            elif err is not None:
                log.warning("portal=%s card %s not updated: %s", portal.member_id, item, err.code)
    return done, gone


def _reviewer_fields(setup: QaSetup, reviewer_id: int) -> dict:
    return {"assignedById": reviewer_id, setup.fields["reviewer"]: reviewer_id}


# --- the weekly sample ---------------------------------------------------------------------------

@dataclass
class SampleResult:
    weeks: list[str] = field(default_factory=list)
    kept: int = 0
    left_out: int = 0
    released: int = 0


def _order(member_id: str, week: str, manager_id: int | None, item_ids: list[int]) -> list[int]:
    """The cards of one manager's week in a random order fixed by (portal, week, manager)."""
    ids = sorted(item_ids)
    random.Random(f"{member_id}|{week}|{manager_id or 0}").shuffle(ids)
    return ids


def _week_cards(portal_id: int, manager_id: int | None, start: datetime, end: datetime) -> list[tuple[Call, QaAssignment | None]]:
    q = (select(Call, QaAssignment)
         .outerjoin(QaAssignment, and_(QaAssignment.portal_id == Call.portal_id, QaAssignment.call_id == Call.call_id))
         .where(Call.portal_id == portal_id, Call.selection == REVIEW, Call.qa_item_id > 0,
                Call.call_start_date >= start, Call.call_start_date < end))
    q = q.where(Call.portal_user_id.is_(None) if manager_id is None else Call.portal_user_id == manager_id)
    return list(db.session.execute(q).all())


def _has_score(portal_id: int, item_ids: list[int]) -> set[int]:
    if not item_ids:
        return set()
    return set(db.session.scalars(select(QaScore.qa_item_id).where(
        QaScore.portal_id == portal_id, QaScore.calibration_id == 0, QaScore.qa_item_id.in_(item_ids))).all())


def sample(portal: Portal, now: datetime | None = None) -> SampleResult:
    """Decide the pending cards of past weeks (see the module's docstring); safe to run again."""
    now = now or utcnow()
    out = SampleResult()
    setup = setup_for(portal.id)
    if setup is None:
        return out
    settings = history.settings_for(portal.id)
    quota = max(0, int(settings.weekly_quota or 0))
    pending = db.session.execute(
        select(QaAssignment, Call.call_start_date, Call.portal_user_id)
        .join(Call, and_(Call.portal_id == QaAssignment.portal_id, Call.call_id == QaAssignment.call_id))
        .where(QaAssignment.portal_id == portal.id, Call.portal_id == portal.id,
               QaAssignment.reason == PENDING)).all()
    if quota == 0:
        out.released = _release(portal, setup, [a for a, _w, _m in pending])
        return out
    tz = portal_tz(portal.id)
    this_week = iso_week(now, tz)
    groups: set[tuple[str, int | None]] = set()
    for _a, when, manager in pending:
        week = iso_week(when or now, tz)
        if week < this_week:
            groups.add((week, manager))
    loads: dict[int, int] | None = None
    for week, manager in sorted(groups, key=lambda g: (g[0], g[1] or 0)):
        start, end = week_bounds(week, tz)
        cards = _week_cards(portal.id, manager, start, end)
        by_item = {int(c.qa_item_id): (c, a) for c, a in cards}
        scored = _has_score(portal.id, list(by_item))
        kept = sum(1 for item, (_c, a) in by_item.items()
                   if item in scored or (a is not None and a.reason in IN_QUEUE))
        keep, leave = [], []
        for item in _order(portal.member_id, week, manager, list(by_item)):
            c, a = by_item[item]
            if item in scored or (a is not None and a.reason != PENDING):
                continue
            if kept < quota:
                keep.append(item)
                kept += 1
            else:
                leave.append(item)
        if loads is None:  # one count for every group of this run, kept up to date as cards are given out
            on_hand = available(portal.id)
            have = open_counts(portal.id, on_hand)
            loads = {r: have.get(r, 0) for r in on_hand}
        out.kept += _give_out(portal, setup, [by_item[i][0] for i in keep], loads, SAMPLED, week)
        out.left_out += _leave_out(portal, setup, [by_item[i][0] for i in leave], week)
        out.weeks.append(week)
    settings.quota_week = this_week
    db.session.commit()
    return out


def _give_out(portal: Portal, setup: QaSetup, calls: list[Call], loads: dict[int, int], reason: str,
              week: str | None) -> int:
    """Give cards to reviewers by load (each card's own manager skipped) and write the CRM card."""
    if not calls:
        return 0
    chosen: dict[int, tuple[Call, int | None]] = {}
    on_hand = sorted(loads)
    start = _turn(setup) if on_hand else 0
    for call in calls:
        candidates = [r for r in on_hand if r != call.portal_user_id] or on_hand
        reviewer = pick(candidates, loads, start % len(candidates)) if candidates else portal.installer_user_id
        if reviewer in loads:
            loads[reviewer] += 1
        start += 1
        chosen[int(call.qa_item_id)] = (call, reviewer)
    done, gone = _update_cards(portal, setup, {i: _reviewer_fields(setup, r) for i, (_c, r) in chosen.items() if r})
    done |= {i for i, (_c, r) in chosen.items() if not r}
    for item in done | gone:
        call, reviewer = chosen[item]
        record(portal.id, item, call.call_id, reviewer, reason, week)
    db.session.commit()
    return len(done)


def _leave_out(portal: Portal, setup: QaSetup, calls: list[Call], week: str) -> int:
    if not calls:
        return 0
    by_item = {int(c.qa_item_id): c for c in calls}
    done, gone = _update_cards(portal, setup, {i: {"stageId": setup.stages["skipped"]} for i in by_item})
    for item in done | gone:
        record(portal.id, item, by_item[item].call_id, None, NOT_SAMPLED, week)
    db.session.commit()
    return len(done)


def _release(portal: Portal, setup: QaSetup, rows: list[QaAssignment]) -> int:
    """The quota was switched off: pending cards go to the reviewers."""
    if not rows:
        return 0
    calls = db.session.scalars(select(Call).where(Call.portal_id == portal.id,
                                                  Call.call_id.in_([r.call_id for r in rows]))).all()
    on_hand = available(portal.id)
    have = open_counts(portal.id, on_hand)
    return _give_out(portal, setup, list(calls), {r: have.get(r, 0) for r in on_hand}, ASSIGNED, None)


# --- absence and reassignment --------------------------------------------------------------------

@dataclass
class ReassignResult:
    moved: int = 0
    kept_drafts: int = 0
    failed: int = 0


def refresh_presence(portal: Portal) -> set[int]:
    """Read `ACTIVE` of the portal's reviewers with user.get; returns the absent ones (as now stored)."""
    ids = reviewers(portal.id)
    if not ids:
        return set()
    client = client_for(portal.member_id)
    rows = {u.user_id: u for u in db.session.scalars(select(PortalUser).where(
        PortalUser.portal_id == portal.id, PortalUser.user_id.in_(ids)))}
    for i in range(0, len(ids), BATCH):
        chunk = ids[i:i + BATCH]
        res = client.batch({f"u{uid}": ("user.get", {"ID": uid}) for uid in chunk})
        for uid in chunk:
            key = f"u{uid}"
            if key in res.errors or key not in res.results or uid not in rows:
                continue  # unknown this time: keep what the directory said
            found = [r for r in (res.results[key] or []) if isinstance(r, dict) and str(r.get("ID")) == str(uid)]
            # Not returned at all: the account is gone (deleted, or no longer an employee).
            rows[uid].active = bool(found) and found[0].get("ACTIVE") in (True, "Y", "true", "1", 1)
            rows[uid].synced_at = utcnow()
    db.session.commit()
    return absent(portal.id, ids)


def reassign(portal: Portal, from_id: int, actor_id: int | None) -> ReassignResult:
    """Move the open cards of reviewer `from_id` to the other reviewers on hand, by load."""
    setup = setup_for(portal.id)
    if setup is None:
        raise WorkloadRefused("workload.no_setup", 409)
    if from_id not in reviewers(portal.id) and not open_counts(portal.id, [from_id]):
        raise WorkloadRefused("workload.unknown_reviewer", 404)
    targets = [r for r in available(portal.id) if r != from_id]
    if not targets:
        raise WorkloadRefused("workload.no_one_to_take", 409)
    out = ReassignResult()
    rows = db.session.execute(_open_query(portal.id).where(QaAssignment.reviewer_id == from_id)
                              .order_by(Call.call_start_date, Call.id)).all()
    items = [a.qa_item_id for a, _c in rows]
    drafts = dict(db.session.execute(select(QaScore.qa_item_id, QaScore.reviewer_id).where(
        QaScore.portal_id == portal.id, QaScore.calibration_id == 0, QaScore.status == "draft",
        QaScore.qa_item_id.in_(items))).all()) if items else {}
    have = open_counts(portal.id, targets)
    loads = {r: have.get(r, 0) for r in targets}
    start = _turn(setup)
    plan: dict[int, tuple[QaAssignment, int]] = {}
    for a, call in rows:
        holder = drafts.get(a.qa_item_id)
        if holder is not None and holder != from_id:
            out.kept_drafts += 1  # another reviewer is scoring it: not taken from under him
            continue
        candidates = [r for r in targets if r != call.portal_user_id]
        if not candidates:
            out.failed += 1
            continue
        to = pick(candidates, loads, start % len(candidates))
        start += 1
        loads[to] += 1
        plan[a.qa_item_id] = (a, to)
    if not plan:
        return out
    done, gone = _update_cards(portal, setup, {i: _reviewer_fields(setup, to) for i, (_a, to) in plan.items()})
    who = names_for(portal.id, [from_id, *{to for _a, to in plan.values()}])
    for item in sorted(done):
        a, to = plan[item]
        a.reviewer_id, a.reason, a.assigned_at = to, REASSIGNED, utcnow()
        history.record(portal.id, item, "reassign", actor_id, text=f"{who[from_id]} → {who[to]}")
    out.moved = len(done)
    out.failed += len(plan) - len(done)
    db.session.commit()
    if gone:
        log.warning("portal=%s: cards %s are gone from the CRM", portal.member_id, sorted(gone))
    return out


def reassign_absent(portal: Portal) -> dict[int, int]:
    """Refresh who is absent, then move each absent reviewer's open cards; {reviewer: cards moved}."""
    moved: dict[int, int] = {}
    gone = refresh_presence(portal)
    for rid in sorted(gone):
        if not open_counts(portal.id, [rid]):
            continue
        try:
            moved[rid] = reassign(portal, rid, None).moved
        except WorkloadRefused as exc:
            log.info("portal=%s: cards of absent reviewer %s stay: %s", portal.member_id, rid, exc.key)
    return moved


# --- jobs ----------------------------------------------------------------------------------------

@app_task(retries=2, retry_delay=60)
def run_for_portal(portal_id: int) -> dict:
    portal = db.session.get(Portal, portal_id)
    if portal is None or not portal.is_active or setup_for(portal_id) is None:
        return {}
    out: dict = {}
    try:
        out["reassigned"] = reassign_absent(portal)
    except E.BitrixError as exc:
        db.session.rollback()
        log.warning("portal=%s: absence check skipped: %s", portal.member_id, exc.code)
    settings = history.settings_for(portal_id)
    due = settings.weekly_quota == 0 or settings.quota_week != iso_week(utcnow(), portal_tz(portal_id))
    if due:
        res = sample(portal)
        out["sample"] = {"weeks": res.weeks, "kept": res.kept, "left_out": res.left_out, "released": res.released}
    return out


@app_periodic_task(crontab(minute="41"))
def hourly() -> int:
    """Each hour: absent reviewers' cards move on; at the first hour of a week, the quota sample."""
    ids = db.session.scalars(select(QaSetup.portal_id).join(Portal, Portal.id == QaSetup.portal_id)
                             .where(Portal.status == STATUS_ACTIVE)).all()
    for pid in ids:
        run_for_portal(pid)
    return len(ids)
