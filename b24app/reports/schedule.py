"""When the weekly and monthly reports are due, and the periodic tick that starts them for every portal.

Weekly: on Monday, for the previous Monday–Sunday; monthly: on the 1st, for the previous month; both at
the settings' hour in the portal's time zone. **Catch-up window:** a report stays due for `GRACE` (a
day) after its hour, so a worker that was down over the hour still sends it when it comes back, later
that day or the next morning; after that the period is left alone (a report arriving days late, or
a schedule switched on mid-week sending last week at once, would surprise more than help). It is made
**once**: the slot («weekly:<first day>», «monthly:<first day>») is unique per portal in report_runs,
so later ticks in the window, a second worker, or a zone whose offset changed (DST) find it taken.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta, tzinfo

from sqlalchemy import or_, select

from ..extensions import db
from ..jobs import app_periodic_task, at_worker_start, every_minutes
from ..models_base import utcnow
from ..portals.models import STATUS_ACTIVE, Portal
from .models import ReportRun, ReportSettings

log = logging.getLogger(__name__)

GRACE = timedelta(hours=24)
TICK_MINUTES = 5  # the tick's default cadence (config REPORTS_TICK_MINUTES)


def scheduled_at(day: date, hour: int, tz: tzinfo) -> datetime:
    """The moment `hour`:00 of the portal-local `day` (an hour a DST change skips counts at the old offset)."""
    return datetime.combine(day, time(hour), tzinfo=tz)


def _due(day: date, hour: int, tz: tzinfo, now: datetime) -> bool:
    at = scheduled_at(day, hour, tz)
    return at <= now < at + GRACE


def weekly_period(monday: date) -> tuple[date, date]:
    """The Monday–Sunday before the Monday `monday`."""
    return monday - timedelta(days=7), monday - timedelta(days=1)


def monthly_period(first_of_month: date) -> tuple[date, date]:
    """The calendar month before the 1st `first_of_month`."""
    last = first_of_month - timedelta(days=1)
    return last.replace(day=1), last


def slot(kind: str, first: date) -> str:
    return f"{kind}:{first.isoformat()}"


def due_reports(settings, tz: tzinfo, now: datetime) -> list[tuple[str, date, date, str]]:
    """The reports due at `now` (aware) for `settings` (weekly, monthly, hour) in the portal's zone `tz`:
    (kind, first, last, slot) each, at most one per kind. Pure: the caller decides whether its slot is taken."""
    local = now.astimezone(tz)
    today, hour = local.date(), int(settings.hour)
    out = []
    if settings.weekly:
        monday = today - timedelta(days=today.weekday())
        for day in (monday, monday - timedelta(days=7)):
            if _due(day, hour, tz, now):
                first, last = weekly_period(day)
                out.append(("weekly", first, last, slot("weekly", first)))
                break
    if settings.monthly:
        this_month = today.replace(day=1)
        for day in (this_month, (this_month - timedelta(days=1)).replace(day=1)):
            if _due(day, hour, tz, now):
                first, last = monthly_period(day)
                out.append(("monthly", first, last, slot("monthly", first)))
                break
    return out


def last_period(kind: str, today: date) -> tuple[date, date]:
    """The period «Отправить сейчас» sends for `kind` on the portal-local `today`: the last finished one."""
    if kind == "weekly":
        return weekly_period(today - timedelta(days=today.weekday()))
    return monthly_period(today.replace(day=1))


def tick(now: datetime | None = None) -> int:
    """Resume runs whose worker died, then start every due scheduled report of every active portal;
    returns the runs started."""
    from ..analytics.recount import portal_tz
    from . import runs

    now = now or utcnow()
    runs.resume_stale(now)
    rows = db.session.execute(
        select(ReportSettings).join(Portal, Portal.id == ReportSettings.portal_id)
        .where(Portal.status == STATUS_ACTIVE, or_(ReportSettings.weekly.is_(True), ReportSettings.monthly.is_(True)))
        .order_by(ReportSettings.portal_id)).scalars().all()
    wanted = []
    for s in rows:
        if not (s.storage_id or s.dialog_id):
            continue  # nowhere to deliver (the settings form refuses this; kept safe here)
        for kind, first, last, key in due_reports(s, portal_tz(s.portal_id), now):
            wanted.append((s.portal_id, kind, first, last, key, list(s.departments or []),
                           bool(s.storage_id), bool(s.dialog_id)))
    db.session.commit()
    started = 0
    for pid, kind, first, last, key, departments, to_disk, to_chat in wanted:
        taken = db.session.scalar(select(ReportRun.id).where(ReportRun.portal_id == pid, ReportRun.slot == key))
        if taken is not None:
            continue
        run = runs.start(pid, kind, first, last, departments=departments, to_disk=to_disk, to_chat=to_chat,
                         slot=key)
        if run is not None:
            log.info("portal=%s scheduled report %s started (run %s)", pid, key, run.id)
            started += 1
    return started


@app_periodic_task(every_minutes("REPORTS_TICK_MINUTES", TICK_MINUTES))
def report_schedule() -> int:
    return tick()


# A restarted worker resumes its dead runs and catches up a missed hour at once, not at the next tick.
at_worker_start(tick)
