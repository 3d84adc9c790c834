"""The one definition of every call figure (DESIGN §5, REQUIREMENTS K1, K5, A1–A3): dashboards,
exports and chat summaries all read them from here. Unknown is None ("no data"), never 0."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, select

from ..calls.models import Call
from ..calls.rules import ANSWERED_CODE, INCOMING_TYPES, OUTGOING_TYPES
from ..extensions import db
from ..models_base import utcnow

GROUPS = {"user": Call.portal_user_id, "line": Call.portal_number}
PHONES_PER_QUERY = 30_000  # spellings in one IN list: one pass over the range (SQLite takes 32 766 parameters)


@dataclass(frozen=True)
class Period:
    """[start, end): moments, aware."""

    start: datetime
    end: datetime

    def previous(self) -> Period:
        """The period of the same length just before this one (every figure is compared with it)."""
        return Period(self.start - (self.end - self.start), self.start)


@dataclass(frozen=True)
class MetricSettings:
    success_seconds: int = 30        # successful = connected with conversation above this (K5, A1)
    callback_hours: int = 24         # a missed call not called back within this is lost
    service_level_seconds: int = 20  # accepted within this many seconds of ringing counts for SL


@dataclass
class Figures:
    """One period's figures for one scope (the whole portal, a manager, a line)."""

    incoming: int = 0
    accepted: int = 0
    missed: int = 0
    lost: int = 0                # missed, not called back within the window, window closed
    recovered: int = 0           # missed and called back within the window
    awaiting_callback: int = 0   # missed, window still open: «ждёт перезвона»
    outgoing: int = 0
    outgoing_connected: int = 0
    successful_incoming: int = 0
    successful_outgoing: int = 0
    connected: int = 0           # accepted incoming + connected outgoing
    talk_seconds: int = 0
    rated: int = 0
    satisfied: int = 0           # votes 4–5
    vote_sum: int = 0
    waited: int = 0              # accepted incoming whose ring and answer times are known
    wait_seconds: float = 0.0    # their total ring → answer time
    rung: int = 0                # incoming whose ring time is known (the service level's denominator)
    within_sl: int = 0
    callback_seconds: float = 0.0  # total time to callback of the recovered calls

    # --- derived figures: None when there is nothing to divide by ------------------------------------
    @property
    def missed_share(self) -> float | None:
        return self.missed / self.incoming if self.incoming else None

    @property
    def lost_share(self) -> float | None:
        return self.lost / self.incoming if self.incoming else None

    @property
    def calls(self) -> int:
        """Client calls: incoming and outgoing (info calls are neither)."""
        return self.incoming + self.outgoing

    @property
    def successful_share(self) -> float | None:
        """Successful calls (either direction) among the client calls."""
        calls = self.calls
        return (self.successful_incoming + self.successful_outgoing) / calls if calls else None

    @property
    def talk_minutes(self) -> float:
        return self.talk_seconds / 60

    @property
    def aht_seconds(self) -> float | None:
        return self.talk_seconds / self.connected if self.connected else None

    @property
    def asa_seconds(self) -> float | None:
        return self.wait_seconds / self.waited if self.waited else None

    @property
    def service_level(self) -> float | None:
        return self.within_sl / self.rung if self.rung else None

    @property
    def csat(self) -> float | None:
        return self.satisfied / self.rated if self.rated else None

    @property
    def mean_vote(self) -> float | None:
        return self.vote_sum / self.rated if self.rated else None

    @property
    def mean_callback_seconds(self) -> float | None:
        return self.callback_seconds / self.recovered if self.recovered else None

    @property
    def missed_open(self) -> int:
        """Missed and not called back: lost, or still waiting for a callback."""
        return self.lost + self.awaiting_callback

    def add(self, other: Figures) -> Figures:
        """Sum in place (figures of several cells, days or managers); derived figures follow."""
        for name in ADDITIVE:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self


ADDITIVE = tuple(f.name for f in fields(Figures))


def contribution(call_type, failed_code, conversation, duration, vote, ring_at, answered_at, start,
                 callback_at, settings: MetricSettings) -> tuple:
    """One call's share of every additive figure, in `models.COUNTERS` order, then `missed_open`.

    The per-call reading of DESIGN §5 that the aggregates are counted with; `figures` below reads the
    same definitions in SQL over raw calls, and tests/analytics/test_aggregates.py keeps both equal.
    """
    incoming = call_type in INCOMING_TYPES
    outgoing = call_type in OUTGOING_TYPES
    connected = failed_code == ANSWERED_CODE
    talk = conversation if conversation is not None else (duration if duration is not None else 0)
    success = connected and talk > settings.success_seconds
    rated = vote is not None and 1 <= vote <= 5 and (incoming or outgoing)  # info calls are not client calls
    rung = incoming and ring_at is not None
    waited = rung and connected and answered_at is not None
    wait = max((answered_at - ring_at).total_seconds(), 0.0) if waited else 0.0
    missed = incoming and not connected
    recovered = missed and callback_at is not None
    return (int(incoming), int(incoming and connected), int(outgoing), int(outgoing and connected),
            int(incoming and success), int(outgoing and success),
            talk if connected and (incoming or outgoing) else 0,
            int(rated), int(rated and vote >= 4), vote if rated else 0,
            int(rung), int(waited), wait, int(waited and wait <= settings.service_level_seconds),
            int(recovered), (callback_at - start).total_seconds() if recovered else 0.0,
            int(missed and not recovered))


def figures(portal_id: int, period: Period, *, user_ids: Iterable[int] | None = None,
            lines: Iterable[str] | None = None, settings: MetricSettings | None = None,
            group_by: str | None = None, now: datetime | None = None) -> dict:
    """Figures of the calls that started in `period`, for the whole scope (key None) or per `group_by`
    value ("user": the manager, "line": PORTAL_NUMBER). Lost calls are judged at `now`."""
    settings = settings or MetricSettings()
    now = now or utcnow()
    group = GROUPS[group_by] if group_by else None
    scope = [Call.portal_id == portal_id, Call.call_start_date >= period.start, Call.call_start_date < period.end]
    if user_ids is not None:
        scope.append(Call.portal_user_id.in_(list(user_ids)))
    if lines is not None:
        scope.append(Call.portal_number.in_(list(lines)))
    out: dict = defaultdict(Figures)
    _counts(out, group, scope, settings)
    _callbacks(out, portal_id, group, scope, settings, now)
    return dict(out)


def total(portal_id: int, period: Period, **kw) -> Figures:
    """The scope's figures as one (a period without calls has all-zero counts and no averages)."""
    return figures(portal_id, period, **kw).get(None) or Figures()


def with_previous(portal_id: int, period: Period, **kw) -> tuple[Figures, Figures]:
    return total(portal_id, period, **kw), total(portal_id, period.previous(), **kw)


# --- the queries -------------------------------------------------------------------------------------

def phone_key(number: str | None) -> str:
    """A number as digits, so that the client's callback matches however it was dialled: the portal
    writes +79161234567, 79161234567 or 89161234567 for the same Russian number."""
    digits = "".join(ch for ch in (number or "") if ch.isdigit())
    if len(digits) == 11 and digits[0] == "8":
        digits = "7" + digits[1:]
    return digits


def spellings(key: str) -> set[str]:
    """How a number written as `key` (digits) may stand in PHONE_NUMBER."""
    out = {key, "+" + key}
    if len(key) == 11 and key[0] == "7":
        out |= {"8" + key[1:], "+8" + key[1:]}
    return out


def first_callback(times: list[datetime], start: datetime, window: timedelta) -> int | None:
    """Index in sorted `times` of the callback of a call missed at `start`: the first connected call
    strictly after it and no later than the window's end; None when there is none."""
    i = bisect.bisect_right(times, start)
    return i if i < len(times) and times[i] <= start + window else None


def _grouped(group, *columns):
    """SELECT the group's value first (None for the whole scope), GROUP BY it when there is one."""
    if group is None:
        return select(*columns), lambda q: q, lambda row: (None, *row)
    return select(group, *columns), lambda q: q.group_by(group), lambda row: tuple(row)


def _counts(out: dict, group, scope: list, settings: MetricSettings) -> None:
    incoming = Call.call_type.in_(INCOMING_TYPES)
    outgoing = Call.call_type.in_(OUTGOING_TYPES)
    connected = Call.failed_code == ANSWERED_CODE
    talk = func.coalesce(Call.conversation, Call.duration, 0)
    success = and_(connected, talk > settings.success_seconds)
    rated = and_(Call.vote.between(1, 5), Call.call_type.in_(INCOMING_TYPES | OUTGOING_TYPES))  # client calls only
    # ring → answer from CALLINIT/CALLSTART; imported history has no ring time, so no data there
    rung = and_(incoming, Call.ring_at.is_not(None))
    waited = and_(rung, connected, Call.answered_at.is_not(None))
    wait = _seconds_between(Call.ring_at, Call.answered_at)

    def n(cond):
        return func.sum(case((cond, 1), else_=0))

    q, grouping, unpack = _grouped(
        group, n(incoming), n(and_(incoming, connected)), n(outgoing), n(and_(outgoing, connected)),
        n(and_(incoming, success)), n(and_(outgoing, success)),
        func.sum(case((and_(connected, Call.call_type.in_(INCOMING_TYPES | OUTGOING_TYPES)), talk), else_=0)),
        n(rated), n(and_(rated, Call.vote >= 4)), func.sum(case((rated, Call.vote), else_=0)),
        n(rung), n(waited), func.sum(case((waited, func.max(wait, 0) if _sqlite() else func.greatest(wait, 0)),
                                          else_=0)),
        n(and_(waited, wait <= settings.service_level_seconds)))
    rows = db.session.execute(grouping(q.where(*scope))).all()
    for (g, inc, acc, outg, outc, s_in, s_out, talk_s, n_rated, n_sat, votes,
         n_rung, n_waited, wait_s, n_sl) in map(unpack, rows):
        if group is None and not inc and not outg:
            continue  # an aggregate over no rows: nothing to report
        f = out[g]
        f.incoming, f.accepted, f.missed = int(inc or 0), int(acc or 0), int(inc or 0) - int(acc or 0)
        f.outgoing, f.outgoing_connected = int(outg or 0), int(outc or 0)
        f.successful_incoming, f.successful_outgoing = int(s_in or 0), int(s_out or 0)
        f.connected, f.talk_seconds = f.accepted + f.outgoing_connected, int(talk_s or 0)
        f.rated, f.satisfied, f.vote_sum = int(n_rated or 0), int(n_sat or 0), int(votes or 0)
        f.rung, f.waited, f.wait_seconds, f.within_sl = int(n_rung or 0), int(n_waited or 0), float(wait_s or 0), int(n_sl or 0)


def _sqlite() -> bool:
    return db.session.get_bind().dialect.name == "sqlite"


def _seconds_between(earlier, later):
    """later − earlier in seconds, in SQL (SQLite keeps UTC text, PostgreSQL timestamps)."""
    if _sqlite():
        # julianday is a double of ~2.5 million days: 40 µs of noise, which would put a 20 s wait over a
        # 20 s service level; the portal's times are whole seconds, so milliseconds are exact enough
        return func.round((func.julianday(later) - func.julianday(earlier)) * 86400.0, 3)
    return func.extract("epoch", later - earlier)


def _callbacks(out: dict, portal_id: int, group, scope: list, settings: MetricSettings, now: datetime) -> None:
    """Each missed call: called back (a connected call, either direction, with the same number, within
    the window, even past the period's end), still waiting, or lost."""
    q, _, unpack = _grouped(group, Call.phone_number, Call.call_start_date)
    missed = [unpack(r) for r in db.session.execute(
        q.where(*scope, Call.call_type.in_(INCOMING_TYPES), Call.failed_code != ANSWERED_CODE))]
    if not missed:
        return
    window = timedelta(hours=settings.callback_hours)
    keys = {phone_key(p) for _, p, _ in missed} - {""}
    # every missed call has a start: the scope selects by it
    first, last = min(s for _, _, s in missed), max(s for _, _, s in missed) + window
    answered: dict[str, list[datetime]] = defaultdict(list)
    numbers = sorted({s for k in keys for s in spellings(k)})
    # The database picks the numbers (an IN list per chunk, each a pass over the period's index
    # range): cheaper than bringing every connected call of the period into Python.
    for i in range(0, len(numbers), PHONES_PER_QUERY):
        q = select(Call.phone_number, Call.call_start_date).where(
            Call.portal_id == portal_id, Call.failed_code == ANSWERED_CODE,
            Call.phone_number.in_(numbers[i:i + PHONES_PER_QUERY]),
            Call.call_start_date > first, Call.call_start_date <= last)
        for phone, start in db.session.execute(q):
            answered[phone_key(phone)].append(start)
    for times in answered.values():
        times.sort()
    for g, phone, start in missed:
        f = out[g]
        times = answered.get(phone_key(phone))
        i = first_callback(times, start, window) if times else None
        if i is not None:
            f.recovered += 1
            f.callback_seconds += (times[i] - start).total_seconds()
            continue
        if start + window > now:
            f.awaiting_callback += 1
        else:
            f.lost += 1  # a call without a number to call back is lost as well
