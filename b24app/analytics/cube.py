"""Reading the figures of `metrics` from the aggregates: any period of portal-local days, any filter
and grouping the dashboards ask for, in one query over a few thousand rows instead of the calls.

Only what cannot be stored is read from calls: which missed calls still wait for a callback (their
window is open, so «lost» depends on the moment of reading) — the last day or so of missed calls.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from ..calls.models import Call
from ..calls.rules import ANSWERED_CODE, INCOMING_TYPES
from ..extensions import db
from ..models_base import utcnow
from .metrics import Figures
from .models import COUNTERS, DIRECTIONS, FLOAT_COUNTERS, GRAINS, SCENARIOS, CallStat, CallStatHour
from .recount import day_bounds, direction_code, portal_tz
from .settings import Settings, load

# What a table or chart may be grouped by: the aggregate column, or a value made from the day.
DIMENSIONS = {"user": CallStat.user_id, "line": CallStat.line, "direction": CallStat.direction,
              "scenario": CallStat.scenario, "topic": CallStat.topic_id, "day": CallStat.day}
DERIVED = {"weekday": lambda d: d.weekday(), "month": lambda d: d.replace(day=1)}
SCENARIO_NAMES = {v: k for k, v in SCENARIOS.items()}
DIRECTION_NAMES = {v: k for k, v in DIRECTIONS.items()}


@dataclass(frozen=True)
class Query:
    """Calls of `portal_id` that started on portal-local days first..last (inclusive), filtered.

    A filter of None takes everything; an empty set takes nothing (a head of no department's users).
    Directions are "incoming"/"outgoing", scenarios "work"/"after_hours"/"weekend"/"holiday".
    """

    portal_id: int
    first: date
    last: date
    users: frozenset[int] | None = None
    lines: frozenset[str] | None = None
    directions: frozenset[str] | None = None
    topics: frozenset[int] | None = None
    scenarios: frozenset[str] | None = None

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def previous(self) -> Query:
        """The same number of days just before (every figure is compared with it)."""
        return replace(self, first=self.first - timedelta(days=self.days), last=self.first - timedelta(days=1))

    def between(self, first: date, last: date) -> Query:
        return replace(self, first=first, last=last)


def grain_for(q: Query, group_by: Iterable[str] = ()) -> int:
    """The smallest grain that keeps every dimension the query filters or groups by."""
    need = {g for g in group_by if g in DIMENSIONS and g != "day"}
    need |= {name for name, f in (("line", q.lines), ("direction", q.directions), ("topic", q.topics),
                                  ("scenario", q.scenarios)) if f is not None}
    return next(g for g, dims in GRAINS.items() if need <= dims)


def _where(q: Query, table=CallStat, grain: int | None = None) -> list:
    c = table.__table__.c
    cond = [c.portal_id == q.portal_id, c.day >= q.first, c.day <= q.last]
    if table is CallStat:
        cond.insert(1, c.grain == grain)
    if q.users is not None:
        cond.append(c.user_id.in_(sorted(q.users)))
    if q.directions is not None:
        cond.append(c.direction.in_(sorted(DIRECTIONS[d] for d in q.directions)))
    if table is CallStat:
        if q.lines is not None:
            cond.append(c.line.in_(sorted(q.lines)))
        if q.topics is not None:
            cond.append(c.topic_id.in_(sorted(q.topics)))
        if q.scenarios is not None:
            cond.append(c.scenario.in_(sorted(SCENARIOS[s] for s in q.scenarios)))
    return cond


def _nothing(q: Query) -> bool:
    return any(f is not None and not f for f in (q.users, q.lines, q.directions, q.topics, q.scenarios))


def figures(q: Query, group_by: Iterable[str] = (), *, settings: Settings | None = None,
            now: datetime | None = None) -> dict:
    """Figures per group (a tuple of the `group_by` values; `()` for the whole scope)."""
    group_by = tuple(group_by)
    out: dict[tuple, Figures] = defaultdict(Figures)
    if _nothing(q):
        return {}
    stored = [g for g in group_by if g in DIMENSIONS]
    needs_day = any(g in DERIVED for g in group_by) and "day" not in stored
    cols = [DIMENSIONS[g] for g in stored] + ([CallStat.day] if needs_day else [])
    sums = [func.sum(getattr(CallStat, c)) for c in COUNTERS] + [func.sum(CallStat.missed_open)]
    stmt = select(*cols, *sums).where(*_where(q, grain=grain_for(q, group_by)))
    if cols:
        stmt = stmt.group_by(*cols)
    n = len(cols)
    for row in db.session.execute(stmt):
        values = dict(zip(stored, row[:len(stored)], strict=True))
        day = row[n - 1] if needs_day else values.get("day")
        key = tuple(values[g] if g in values else DERIVED[g](day) for g in group_by)
        if row[n] is None:  # SUM over no rows
            continue
        f = out[key]
        _add_counts(f, row[n:])
    settings = settings or load(q.portal_id)
    _split_open(out, q, group_by, settings, now or utcnow())
    return dict(out)


def _add_counts(f: Figures, sums) -> None:
    vals = dict(zip(COUNTERS, sums, strict=False))
    for name in COUNTERS:  # PostgreSQL sums integers as numeric: back to int and float
        kind = float if name in FLOAT_COUNTERS else int
        setattr(f, name, getattr(f, name) + kind(vals[name] or 0))
    f.missed = f.incoming - f.accepted
    f.connected = f.accepted + f.outgoing_connected
    f.lost += int(sums[-1] or 0)  # missed and not called back; those still waiting move out below


def _split_open(out: dict, q: Query, group_by: tuple, settings: Settings, now: datetime) -> None:
    """Missed calls not called back whose window is still open: «ждут перезвона», not lost yet."""
    tz = portal_tz(q.portal_id)
    window = timedelta(hours=settings.metrics.callback_hours)
    start, _ = day_bounds(q.first, tz)
    _, end = day_bounds(q.last, tz)
    since = max(start, now - window)
    if since >= end:
        return
    from ..topics.models import CallTopic

    stmt = (select(Call.portal_user_id, Call.portal_number, Call.call_type, Call.call_start_date, CallTopic.topic_id)
            .outerjoin(CallTopic, (CallTopic.portal_id == Call.portal_id) & (CallTopic.call_id == Call.call_id))
            .where(Call.portal_id == q.portal_id, Call.call_start_date >= since, Call.call_start_date < end,
                   Call.call_type.in_(INCOMING_TYPES), Call.failed_code != ANSWERED_CODE,
                   Call.callback_at.is_(None)))
    if q.users is not None:
        stmt = stmt.where(Call.portal_user_id.in_(sorted(q.users)))
    if q.lines is not None:
        stmt = stmt.where(Call.portal_number.in_(sorted(q.lines)))
    for user, line, ctype, at, topic in db.session.execute(stmt):
        if at + window <= now:
            continue
        local = at.astimezone(tz)
        values = {"user": user or 0, "line": line or "", "direction": direction_code(ctype),
                  "scenario": settings.scenario(local), "topic": topic or 0, "day": local.date()}
        if q.directions is not None and DIRECTION_NAMES.get(values["direction"]) not in q.directions:
            continue
        if q.topics is not None and values["topic"] not in q.topics:
            continue
        if q.scenarios is not None and SCENARIO_NAMES.get(values["scenario"]) not in q.scenarios:
            continue
        key = tuple(values[g] if g in values else DERIVED[g](values["day"]) for g in group_by)
        f = out.get(key)
        if f is None:
            continue  # not counted yet (its day is being recounted): nothing to move
        f.lost -= 1
        f.awaiting_callback += 1


def total(q: Query, **kw) -> Figures:
    return figures(q, **kw).get(()) or Figures()


def with_previous(q: Query, **kw) -> tuple[Figures, Figures]:
    return total(q, **kw), total(q.previous(), **kw)


def by_hour(q: Query) -> dict[tuple[int, int], dict]:
    """(weekday, hour) → {"calls", "incoming", "accepted", "outgoing", "talk_seconds"}: the heat map.

    The hourly table holds manager and direction only; a line, topic or scenario filter reads calls."""
    if _nothing(q):
        return {}
    if q.lines is None and q.topics is None and q.scenarios is None:
        t = CallStatHour
        rows = db.session.execute(
            select(t.day, t.hour, func.sum(t.calls), func.sum(t.incoming), func.sum(t.accepted),
                   func.sum(t.outgoing), func.sum(t.talk_seconds))
            .where(*_where(q, CallStatHour)).group_by(t.day, t.hour)).all()
    else:
        rows = _hours_from_calls(q)
    out: dict[tuple[int, int], dict] = {}
    for day, hour, *sums in rows:
        cell = out.setdefault((day.weekday(), int(hour)), dict.fromkeys(
            ("calls", "incoming", "accepted", "outgoing", "talk_seconds"), 0))
        for k, v in zip(("calls", "incoming", "accepted", "outgoing", "talk_seconds"),
                        sums, strict=True):
            cell[k] += int(v or 0)
    return out


def _hours_from_calls(q: Query) -> list[tuple]:
    from ..topics.models import CallTopic
    from . import metrics

    settings, tz = load(q.portal_id), portal_tz(q.portal_id)
    start, _ = day_bounds(q.first, tz)
    _, end = day_bounds(q.last, tz)
    stmt = (select(Call.call_type, Call.failed_code, Call.conversation, Call.duration, Call.vote, Call.ring_at,
                   Call.answered_at, Call.call_start_date, Call.callback_at, CallTopic.topic_id)
            .outerjoin(CallTopic, (CallTopic.portal_id == Call.portal_id) & (CallTopic.call_id == Call.call_id))
            .where(Call.portal_id == q.portal_id, Call.call_start_date >= start, Call.call_start_date < end))
    if q.users is not None:
        stmt = stmt.where(Call.portal_user_id.in_(sorted(q.users)))
    if q.lines is not None:
        stmt = stmt.where(Call.portal_number.in_(sorted(q.lines)))
    acc: dict[tuple, list] = {}
    for ctype, code, conv, dur, vote, ring, ans, at, cb, topic in db.session.execute(stmt):
        local = at.astimezone(tz)
        if q.directions is not None and DIRECTION_NAMES.get(direction_code(ctype)) not in q.directions:
            continue
        if q.topics is not None and (topic or 0) not in q.topics:
            continue
        if q.scenarios is not None and SCENARIO_NAMES.get(settings.scenario(local)) not in q.scenarios:
            continue
        c = metrics.contribution(ctype, code, conv, dur, vote, ring, ans, at, cb, settings.metrics)
        cell = acc.setdefault((local.date(), local.hour), [0, 0, 0, 0, 0])
        for i, v in enumerate((1, c[0], c[1], c[2], c[6])):
            cell[i] += v
    return [(d, h, *v) for (d, h), v in acc.items()]
