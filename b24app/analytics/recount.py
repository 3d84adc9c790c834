"""Keeping the aggregates true: writers mark the portal-local days whose calls changed, and a job
recounts each marked day from its calls — resolving missed calls' callbacks on the way.

Why whole days: a day is the unit every period is made of, small enough to recount in milliseconds
(a few thousand calls even for a big contact centre) and large enough that the dashboards read a
few thousand aggregate rows for a quarter instead of a quarter's calls. Recounting, not adding
deltas, makes re-delivered and late calls harmless: the day is counted again from what is stored.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta, timezone

from huey import crontab
from sqlalchemy import delete, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite

from ..calls.models import Call
from ..calls.rules import ANSWERED_CODE, INCOMING_TYPES, OUTGOING_TYPES
from ..extensions import db
from ..jobs import app_periodic_task, app_task
from ..models_base import utcnow
from . import metrics
from .models import (
    COUNTERS,
    DIR_IN,
    DIR_OTHER,
    DIR_OUT,
    GRAINS,
    CallStat,
    CallStatHour,
    StatsDirty,
    StatsVersion,
)
from .settings import Settings, load

log = logging.getLogger(__name__)
DAYS_PER_ROUND = 31
_STAT = CallStat.__table__
_HOUR = CallStatHour.__table__
_DIRTY = StatsDirty.__table__


def portal_tz(portal_id: int) -> timezone:
    from ..qa.clock import portal_tz as tz  # the one reading of the portal's offset

    return tz(portal_id)


def local_day(moment: datetime, tz: timezone) -> date:
    return moment.astimezone(tz).date()


def day_bounds(day: date, tz: timezone) -> tuple[datetime, datetime]:
    """[start, end) of a portal-local day, aware."""
    start = datetime.combine(day, time(0), tz)
    return start, start + timedelta(days=1)


def direction_code(call_type) -> int:
    if call_type in INCOMING_TYPES:
        return DIR_IN
    if call_type in OUTGOING_TYPES:
        return DIR_OUT
    return DIR_OTHER


# --- marking ---------------------------------------------------------------------------------------

def mark_days(portal_id: int, days: Iterable[date], conn=None) -> bool:
    """Mark days to recount, in the caller's transaction (the one that changes their calls).

    Returns True when a day was not marked before: the caller then kicks the job after its commit
    (`kick`). A day already marked has a job coming, or one running that will see the new version.
    """
    days = sorted(set(days))
    if not days:
        return False
    conn = conn if conn is not None else db.session.connection()
    ins = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    now = utcnow()
    stmt = ins(_DIRTY).values([{"portal_id": portal_id, "day": d, "version": 1, "marked_at": now} for d in days])
    stmt = stmt.on_conflict_do_update(index_elements=["portal_id", "day"],
                                      set_={"version": _DIRTY.c.version + 1, "marked_at": now})
    versions = conn.execute(stmt.returning(_DIRTY.c.version)).scalars().all()
    return any(v == 1 for v in versions)


def mark_moments(portal_id: int, moments: Iterable[datetime | None], conn=None, tz: timezone | None = None) -> bool:
    moments = [m for m in moments if m is not None]
    if not moments:
        return False
    tz = tz or portal_tz(portal_id)
    return mark_days(portal_id, {local_day(m, tz) for m in moments}, conn)


def mark_calls(portal_id: int, call_ids: Iterable[str], conn=None) -> bool:
    """Mark the days of calls known by CALL_ID (events that carry no start date)."""
    ids = list({c for c in call_ids if c})
    if not ids:
        return False
    starts = (conn if conn is not None else db.session).execute(select(Call.call_start_date).where(
        Call.portal_id == portal_id, Call.call_id.in_(ids))).scalars().all()
    return mark_moments(portal_id, starts, conn)


def kick(portal_id: int) -> None:
    """After the commit that marked a portal's days: start their recount."""
    recount_portal(portal_id)


def mark_all(portal_id: int) -> int:
    """Every day with calls (settings that change the figures, a rebuild after an upgrade)."""
    tz = portal_tz(portal_id)
    bounds = db.session.execute(select(db.func.min(Call.call_start_date), db.func.max(Call.call_start_date))
                                .where(Call.portal_id == portal_id)).one()
    if bounds[0] is None:
        return 0
    first, last = local_day(bounds[0], tz), local_day(bounds[1], tz)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    for i in range(0, len(days), 500):
        mark_days(portal_id, days[i:i + 500])
    return len(days)


# --- the job ---------------------------------------------------------------------------------------

@app_task(retries=5, retry_delay=5)
def recount_portal(portal_id: int) -> int:
    return refresh(portal_id)


@app_periodic_task(crontab(minute="*"))  # days whose kick was lost (a crash, a restart)
def sweep_marked_days() -> int:
    from ..calls.models import ImportRun

    # A portal whose history import runs is counted when it ends (the import kicks it): recounting its
    # days while they fill would slow the import and count each day many times over.
    importing = select(ImportRun.portal_id).where(ImportRun.status.in_(("queued", "running")))
    pids = db.session.scalars(select(StatsDirty.portal_id).where(StatsDirty.portal_id.not_in(importing))
                              .distinct()).all()
    db.session.commit()
    for pid in pids:
        recount_portal(pid)
    return len(pids)


def refresh(portal_id: int, rounds: int = 20) -> int:
    """Recount the portal's marked days; return how many were recounted."""
    done = 0
    for _ in range(rounds):
        marked = db.session.execute(select(StatsDirty.day, StatsDirty.version).where(
            StatsDirty.portal_id == portal_id).order_by(StatsDirty.day).limit(DAYS_PER_ROUND)).all()
        if not marked:
            db.session.commit()
            return done
        # After the marks: settings saved with new marks commit together, so these are at least as new
        settings, tz = load(portal_id), portal_tz(portal_id)
        db.session.commit()
        for day, version in marked:
            _serialize(portal_id, day)
            extra = recount_day(portal_id, day, settings, tz)
            for other in sorted(extra - {day}):
                count_day(portal_id, other, settings, tz)
            db.session.execute(delete(StatsDirty).where(StatsDirty.portal_id == portal_id, StatsDirty.day == day,
                                                        StatsDirty.version == version))
            _bump(portal_id)
            db.session.commit()
            done += 1
    recount_portal(portal_id)  # a portal that keeps changing: go on in a new job rather than hold a worker
    return done


def _bump(portal_id: int) -> None:
    conn = db.session.connection()
    ins = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    t = StatsVersion.__table__
    now = utcnow()
    stmt = ins(t).values(portal_id=portal_id, version=1, changed_at=now)
    conn.execute(stmt.on_conflict_do_update(index_elements=["portal_id"],
                                            set_={"version": t.c.version + 1, "changed_at": now}))


def version(portal_id: int) -> int:
    """How many times the portal's figures were recounted: changes whenever a figure may have."""
    return db.session.scalar(select(StatsVersion.version).where(StatsVersion.portal_id == portal_id)) or 0


def _serialize(portal_id: int, day: date) -> None:
    """One recount of a portal at a time, and none interleaved with a writer on SQLite.

    PostgreSQL: a transaction-scoped advisory lock per portal. SQLite has one writer at a time; a write
    first takes its lock, so the calls read next cannot change until this transaction commits.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(872301, :p)"), {"p": portal_id})
    else:
        db.session.execute(text("UPDATE call_stats_dirty SET version = version WHERE portal_id = :p AND day = :d"),
                           {"p": portal_id, "d": day})


def recount_day(portal_id: int, day: date, settings: Settings, tz: timezone) -> set[date]:
    """Resolve the callbacks a change on `day` may decide, then count `day`; return the days whose
    missed calls' callbacks changed (they are counted too)."""
    changed = resolve_callbacks(portal_id, day, settings, tz)
    count_day(portal_id, day, settings, tz)
    return changed


def resolve_callbacks(portal_id: int, day: date, settings: Settings, tz: timezone) -> set[date]:
    """Each missed call that a call of `day` may have called back (and those of `day` itself): the
    first connected call with the same number strictly after it and within the window (DESIGN §5)."""
    start, end = day_bounds(day, tz)
    window = timedelta(hours=settings.metrics.callback_hours)
    missed = db.session.execute(select(Call.id, Call.phone_number, Call.call_start_date, Call.callback_at,
                                       Call.callback_by).where(
        Call.portal_id == portal_id, Call.call_start_date >= start - window, Call.call_start_date < end,
        Call.call_type.in_(INCOMING_TYPES), Call.failed_code != ANSWERED_CODE)).all()
    if not missed:
        return set()
    keys = {metrics.phone_key(p) for _, p, _, _, _ in missed} - {""}
    spellings = sorted({s for k in keys for s in metrics.spellings(k)})
    answered: dict[str, list[tuple[datetime, int | None]]] = defaultdict(list)
    first = min(m[2] for m in missed)
    for i in range(0, len(spellings), metrics.PHONES_PER_QUERY):
        rows = db.session.execute(select(Call.phone_number, Call.call_start_date, Call.portal_user_id).where(
            Call.portal_id == portal_id, Call.failed_code == ANSWERED_CODE,
            Call.phone_number.in_(spellings[i:i + metrics.PHONES_PER_QUERY]),
            Call.call_start_date > first, Call.call_start_date <= end + window))
        for phone, at, user in rows:
            answered[metrics.phone_key(phone)].append((at, user))
    for times in answered.values():
        times.sort(key=lambda t: t[0])
    changed_days: set[date] = set()
    updates = []
    for cid, phone, at, old_at, old_by in missed:
        found = metrics.first_callback([t for t, _ in answered.get(metrics.phone_key(phone), ())], at, window)
        new_at, new_by = None, None
        if found is not None:
            new_at, new_by = answered[metrics.phone_key(phone)][found]
        if new_at != old_at or new_by != old_by:
            updates.append({"cid": cid, "callback_at": new_at, "callback_by": new_by})
            changed_days.add(local_day(at, tz))
    if updates:
        table = Call.__table__
        stmt = (table.update().where(table.c.id == db.bindparam("cid"))
                .values(callback_at=db.bindparam("callback_at"), callback_by=db.bindparam("callback_by")))
        db.session.execute(stmt, updates)
    return changed_days


def count_day(portal_id: int, day: date, settings: Settings, tz: timezone) -> None:
    """Replace the day's aggregate rows with a count of its calls as stored now."""
    from ..topics.models import CallTopic

    start, end = day_bounds(day, tz)
    rows = db.session.execute(
        select(Call.portal_user_id, Call.portal_number, Call.call_type, Call.failed_code, Call.conversation,
               Call.duration, Call.vote, Call.ring_at, Call.answered_at, Call.call_start_date, Call.callback_at,
               CallTopic.topic_id)
        .outerjoin(CallTopic, (CallTopic.portal_id == Call.portal_id) & (CallTopic.call_id == Call.call_id))
        .where(Call.portal_id == portal_id, Call.call_start_date >= start, Call.call_start_date < end)).all()
    cells: dict[tuple, list] = {}
    hours: dict[tuple, list] = {}
    width = len(COUNTERS) + 1
    ms = settings.metrics
    for user, line, ctype, code, conv, dur, vote, ring, answered, at, cb, topic in rows:
        c = metrics.contribution(ctype, code, conv, dur, vote, ring, answered, at, cb, ms)
        local = at.astimezone(tz)
        d = direction_code(ctype)
        user, line, scenario, topic = user or 0, line or "", settings.scenario(local), topic or 0
        # (grain, user, line, direction, scenario, topic) with the grain's rolled-up dimensions zeroed
        for key in ((0, user, line, d, scenario, topic), (1, user, "", d, scenario, 0), (2, user, "", 0, 0, topic),
                    (3, user, line, d, 0, 0)):
            acc = cells.get(key)
            if acc is None:
                acc = cells[key] = [0] * width
            for i, v in enumerate(c):
                acc[i] += v
        hkey = (local.hour, user or 0, d)
        h = hours.get(hkey)
        if h is None:
            h = hours[hkey] = [0, 0, 0, 0, 0]
        h[0] += 1
        h[1] += c[0]
        h[2] += c[1]
        h[3] += c[2]
        h[4] += c[6]
    db.session.execute(delete(_STAT).where(_STAT.c.portal_id == portal_id, _STAT.c.grain.in_(sorted(GRAINS)),
                                           _STAT.c.day == day))  # the grain keeps the unique index usable
    db.session.execute(delete(_HOUR).where(_HOUR.c.portal_id == portal_id, _HOUR.c.day == day))
    if cells:
        db.session.execute(insert(_STAT), [
            {"portal_id": portal_id, "grain": k[0], "day": day, "user_id": k[1], "line": k[2], "direction": k[3],
             "scenario": k[4], "topic_id": k[5], **dict(zip(COUNTERS, v[:-1], strict=True)), "missed_open": v[-1]}
            for k, v in cells.items()])
    if hours:
        db.session.execute(insert(_HOUR), [
            {"portal_id": portal_id, "day": day, "hour": k[0], "user_id": k[1], "direction": k[2], "calls": v[0],
             "incoming": v[1], "accepted": v[2], "outgoing": v[3], "talk_seconds": v[4]}
            for k, v in hours.items()])


def _on_calls_changed(portal_id: int, *, call_ids=(), starts=(), conn=None) -> bool:
    if starts:
        return mark_moments(portal_id, starts, conn)
    return mark_calls(portal_id, call_ids, conn)


def _on_topic_changed(portal_id: int, call_id: str) -> None:
    new = mark_calls(portal_id, [call_id])
    db.session.commit()
    if new:
        kick(portal_id)


def _register() -> None:
    from ..calls import store
    from ..topics import service

    if _on_calls_changed not in store.CHANGED:
        store.CHANGED.append(_on_calls_changed)
        store.COMMITTED.append(kick)
    if _on_topic_changed not in service.TOPIC_CHANGED:
        service.TOPIC_CHANGED.append(_on_topic_changed)


_register()
