"""The call list: one page of a period's calls under the analytics filters and its own arguments (number,
outcome, sort), each call's outcome read from its stored callback — one query for the page, one for the count
(from the aggregates where they hold it, else counted up to a cap)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from flask_babel import lazy_gettext as _
from sqlalchemy import BigInteger, Integer, and_, case, cast, false, func, or_, select
from werkzeug.datastructures import MultiDict

from ..calls.models import Call
from ..calls.rules import ANSWERED_CODE, INCOMING_TYPES, OUTGOING_TYPES
from ..extensions import db
from ..messages import register
from . import metrics
from .cube import Query
from .models import SCENARIOS, CallStatHour
from .settings import Settings
from .view import ViewError

PER_PAGE = 50
# Counting calls one by one stops here (a quarter at a million calls a year is a quarter of a million rows,
# read from the table itself when a line is filtered); past it the page says «более 10 000».
COUNT_CAP = 10_000
PHONE_DIGITS = (3, 20)
PHONE_PUNCTUATION = set(" +-().")
OUTCOMES = ("accepted", "missed", "recovered", "lost", "awaiting", "successful", "outgoing_connected",
            "outgoing_failed")
SORTS = ("start", "talk", "duration", "wait")
DEFAULT_SORT = "-start"
CLIENT_TYPES = INCOMING_TYPES | OUTGOING_TYPES
MAX_ROW_ID = 2 ** 63 - 1  # calls.id is a BIGINT: a larger id in the URL is no call, not a database error

register({
    "calls_list.bad_phone": _("Номер телефона указан неверно: введите цифры номера, например 79161234567."),
    "calls_list.bad_outcome": _("Такого исхода звонка нет. Выберите исход из списка."),
    "calls_list.not_found": _("Звонок не найден. Откройте его заново из списка звонков."),
    "calls_list.forbidden": _("Этот звонок вам недоступен: вы видите только свои звонки или звонки своих отделов."),
})


@dataclass(frozen=True)
class ListArgs:
    """The list's own arguments: the client number as digits, an outcome (OUTCOMES) and the sort."""

    phone: str = ""
    outcome: str = ""
    sort: str = DEFAULT_SORT

    def to_args(self) -> dict:
        out = {}
        if self.phone:
            out["phone"] = self.phone
        if self.outcome:
            out["outcome"] = self.outcome
        return out


def parse_args(args, sort: str) -> ListArgs:
    """`phone` and `outcome` from the URL, `sort` from the page state (already a well-formed key)."""
    if not isinstance(args, MultiDict):
        args = MultiDict(args)
    phone = _single(args, "phone")
    if phone:
        digits = "".join(ch for ch in phone if ch.isdigit())
        if (any(not ch.isdigit() and ch not in PHONE_PUNCTUATION for ch in phone)
                or not PHONE_DIGITS[0] <= len(digits) <= PHONE_DIGITS[1] or not digits.isascii()):
            raise ViewError("calls_list.bad_phone")
        phone = metrics.phone_key(digits)
    outcome = _single(args, "outcome")
    if outcome and outcome not in OUTCOMES:
        raise ViewError("calls_list.bad_outcome")
    sort = sort or DEFAULT_SORT
    if sort.lstrip("-") not in SORTS:
        raise ViewError("analytics.bad_sort")
    return ListArgs(phone, outcome, sort)


def _single(args: MultiDict, key: str) -> str:
    values = [str(v).strip() for v in args.getlist(key)]
    values = [v for v in values if v]
    if len(values) > 1:
        raise ViewError("analytics.repeated_param")
    if values and len(values[0]) > 64:
        raise ViewError("calls_list.bad_phone" if key == "phone" else "calls_list.bad_outcome")
    return values[0] if values else ""


# --- outcomes ----------------------------------------------------------------------------------------

def talk_seconds(call_type, failed_code, conversation, duration) -> int | None:
    """The conversation a call had, as the figures count it (connected client calls); None: none."""
    if failed_code != ANSWERED_CODE or call_type not in CLIENT_TYPES:
        return None
    return conversation if conversation is not None else (duration or 0)


def outcome_of(call_type, failed_code, start: datetime, callback_at: datetime | None, now: datetime,
               window: timedelta) -> str:
    """One call's outcome (DESIGN §5): accepted, recovered, awaiting or lost for incoming calls,
    outgoing_connected or outgoing_failed for outgoing ones, "other" for info calls."""
    connected = failed_code == ANSWERED_CODE
    if call_type in INCOMING_TYPES:
        if connected:
            return "accepted"
        if callback_at is not None:
            return "recovered"
        return "awaiting" if start + window > now else "lost"
    if call_type in OUTGOING_TYPES:
        return "outgoing_connected" if connected else "outgoing_failed"
    return "other"


def _talk_sql():
    return case((and_(Call.failed_code == ANSWERED_CODE, Call.call_type.in_(sorted(CLIENT_TYPES))),
                 func.coalesce(Call.conversation, Call.duration, 0)), else_=0)


def outcome_condition(outcome: str, settings: Settings, now: datetime):
    """The SQL reading of `outcome_of` (and of «successful», which spans both directions)."""
    incoming = Call.call_type.in_(sorted(INCOMING_TYPES))
    outgoing = Call.call_type.in_(sorted(OUTGOING_TYPES))
    connected = Call.failed_code == ANSWERED_CODE
    missed = and_(incoming, Call.failed_code != ANSWERED_CODE)
    closes = now - timedelta(hours=settings.metrics.callback_hours)  # started before this: window closed
    return {
        "accepted": lambda: and_(incoming, connected),
        "missed": lambda: missed,
        "recovered": lambda: and_(missed, Call.callback_at.is_not(None)),
        "lost": lambda: and_(missed, Call.callback_at.is_(None), Call.call_start_date <= closes),
        "awaiting": lambda: and_(missed, Call.callback_at.is_(None), Call.call_start_date > closes),
        "successful": lambda: and_(connected, Call.call_type.in_(sorted(CLIENT_TYPES)),
                                   func.coalesce(Call.conversation, Call.duration, 0)
                                   > settings.metrics.success_seconds),
        "outgoing_connected": lambda: and_(outgoing, connected),
        "outgoing_failed": lambda: and_(outgoing, Call.failed_code != ANSWERED_CODE),
    }[outcome]()


# --- scenarios as moments ----------------------------------------------------------------------------

def local_moment(day: date, minute: int, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(minute // 60, minute % 60), tzinfo=tz).astimezone(UTC)


def _cuts(settings: Settings) -> list[int]:
    """Minutes of a day where the scenario may change: midnight and the schedule's hours."""
    return sorted({0} | {m for hours in settings.schedule.values() if hours for m in hours if 0 < m < 1440})


def day_pattern(settings: Settings, day: date, tz: tzinfo) -> tuple[tuple[int, int, int], ...]:
    """A portal-local day as (first minute, end minute, scenario code) pieces, adjacent equal ones merged.

    The scenario changes only at midnight and at the schedule's hours, so `Settings.scenario` (the one
    definition the aggregates are counted with) is asked once per piece between those minutes."""
    cuts = _cuts(settings)
    out: list[list[int]] = []
    for i, cut in enumerate(cuts):
        end = cuts[i + 1] if i + 1 < len(cuts) else 1440
        code = settings.scenario(datetime.combine(day, time(cut // 60, cut % 60), tzinfo=tz))
        if out and out[-1][2] == code:
            out[-1][1] = end
        else:
            out.append([cut, end, code])
    return tuple((a, b, c) for a, b, c in out)


def scenario_spans(settings: Settings, first: date, last: date, tz: tzinfo,
                   wanted: frozenset[str]) -> list[tuple[datetime, datetime]]:
    """[start, end) UTC moments of the portal-local days first..last whose scenario is one of `wanted`;
    adjacent pieces merge (a weekend is one span, an evening and the next early morning another)."""
    codes = {SCENARIOS[s] for s in wanted}
    spans: list[list[datetime]] = []
    day = first
    while day <= last:
        for a, b, code in day_pattern(settings, day, tz):
            if code not in codes:
                continue
            start = local_moment(day, a, tz)
            end = local_moment(day, b, tz) if b < 1440 else local_moment(day + timedelta(days=1), 0, tz)
            if spans and spans[-1][1] == start:
                spans[-1][1] = end
            else:
                spans.append([start, end])
        day += timedelta(days=1)
    return [(a, b) for a, b in spans]


SPANS_MAX = 40  # ranges of the start-time index OR-ed together; past this, each call's local time is read


def scenario_condition(settings: Settings, first: date, last: date, tz: tzinfo, wanted: frozenset[str]):
    """The calls of the days first..last whose scenario is one of `wanted`, as SQL.

    A week or a month is a few ranges of the start-time index (`scenario_spans`). A quarter or a year would
    be hundreds, which PostgreSQL checks one by one for every row and SQLite refuses to parse (its
    expression depth is 1000): there the days are grouped by their pattern (working days with the same
    hours, weekends, holidays) and each call's local day number and minute are compared with them."""
    spans = scenario_spans(settings, first, last, tz, wanted)
    if not spans:
        return false()
    offsets = {tz.utcoffset(datetime.combine(first, time())), tz.utcoffset(datetime.combine(last, time(23, 59)))}
    if len(spans) <= SPANS_MAX or len(offsets) != 1:  # (a clock change in the period: the ranges are exact)
        return or_(*[and_(Call.call_start_date >= a, Call.call_start_date < b) for a, b in spans])
    codes = {SCENARIOS[s] for s in wanted}
    patterns: dict[tuple, list[int]] = {}
    day = first
    while day <= last:
        patterns.setdefault(day_pattern(settings, day, tz), []).append((day - EPOCH_DAY).days)
        day += timedelta(days=1)
    local = _epoch_seconds(Call.call_start_date) + int(offsets.pop().total_seconds())
    day_number, minute = local // 86400, local % 86400 // 60
    terms = []
    for pattern, days in patterns.items():
        pieces = [(a, b) for a, b, code in pattern if code in codes]
        if not pieces:
            continue
        on_days = day_number.in_(days)
        if pieces == [(0, 1440)]:
            terms.append(on_days)
        else:
            terms.append(and_(on_days, or_(*[and_(minute >= a, minute < b) for a, b in pieces])))
    return or_(*terms) if terms else false()


EPOCH_DAY = date(1970, 1, 1)


def _epoch_seconds(column):
    """Whole seconds since 1970 of a stored UTC moment (SQLite keeps text, PostgreSQL timestamps)."""
    if db.session.get_bind().dialect.name == "sqlite":
        return cast(func.strftime("%s", column), Integer)
    return cast(func.floor(func.extract("epoch", column)), BigInteger)


# --- the query ---------------------------------------------------------------------------------------

@dataclass
class CallRow:
    id: int
    call_id: str
    start: datetime
    user_id: int | None
    call_type: int | None
    phone: str
    crm_type: str
    crm_id: int | None
    line: str
    duration: int | None
    talk: int | None
    wait: float | None
    outcome: str
    successful: bool
    callback_at: datetime | None
    callback_by: int | None
    callback_seconds: float | None   # recovered: missed → called back
    left_seconds: float | None       # awaiting: until the callback window closes
    vote: int | None
    topic_id: int | None
    topic: str
    topic_color: str
    qa_item_id: int | None
    qa_status: str                   # "", draft, submitted, unscorable
    qa_percent: float | None         # only a submitted score
    has_record: bool


@dataclass
class ListPage:
    rows: list[CallRow]
    total: int            # a counted total stops at COUNT_CAP + 1: «more than COUNT_CAP»
    page: int
    exact: bool = False   # read from the aggregates: any size, never capped
    per_page: int = PER_PAGE

    @property
    def capped(self) -> bool:
        return not self.exact and self.total > COUNT_CAP

    @property
    def pages(self) -> int:
        return max(1, -(-(COUNT_CAP if self.capped else self.total) // self.per_page))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages or (self.capped and len(self.rows) == self.per_page)


def conditions(q: Query, args: ListArgs, settings: Settings, tz: tzinfo, now: datetime) -> list:
    """The WHERE of the list over the calls (topics apart: `with_topics`); `false()` among it when a filter
    takes nothing (an empty scope)."""
    start = local_moment(q.first, 0, tz)
    end = local_moment(q.last + timedelta(days=1), 0, tz)
    cond = [Call.portal_id == q.portal_id, Call.call_start_date >= start, Call.call_start_date < end]
    if any(f is not None and not f for f in (q.users, q.lines, q.directions, q.topics, q.scenarios)):
        return [*cond, false()]
    if q.users is not None:
        cond.append(Call.portal_user_id.in_(sorted(q.users)))
    if q.lines is not None:
        cond.append(Call.portal_number.in_(sorted(q.lines)))
    if q.directions is not None:
        types = set()
        for d in q.directions:
            types |= INCOMING_TYPES if d == "incoming" else OUTGOING_TYPES
        cond.append(Call.call_type.in_(sorted(types)))
    if q.scenarios is not None and set(q.scenarios) != set(SCENARIOS):
        cond.append(scenario_condition(settings, q.first, q.last, tz, frozenset(q.scenarios)))
    if args.phone:
        cond.append(Call.phone_number.in_(sorted(metrics.spellings(args.phone))))
    if args.outcome:
        cond.append(outcome_condition(args.outcome, settings, now))
    return cond


def with_topics(stmt, q: Query, *, as_set: bool):
    """The topic filter: a join, so that the newest calls are tried first and the page stops at fifty, or (to
    count) the topic's calls as a set the period's calls are looked up in, whichever side the database starts from."""
    if q.topics is None:
        return stmt
    from ..topics.models import CallTopic

    if as_set:
        return stmt.where(Call.call_id.in_(select(CallTopic.call_id).where(
            CallTopic.portal_id == q.portal_id, CallTopic.topic_id.in_(sorted(q.topics)))))
    return stmt.join(CallTopic, (CallTopic.portal_id == Call.portal_id) & (CallTopic.call_id == Call.call_id)).where(
        CallTopic.topic_id.in_(sorted(q.topics)))


def _order(sort: str):
    key, descending = sort.lstrip("-"), sort.startswith("-")
    column = {"start": Call.call_start_date, "talk": _talk_sql(), "duration": Call.duration,
              "wait": case((Call.call_type.in_(sorted(INCOMING_TYPES)),
                            metrics._seconds_between(Call.ring_at, Call.answered_at)), else_=None)}[key]
    first = column.desc() if descending else column.asc()
    if key in ("duration", "wait"):
        first = first.nulls_last()  # unknown is not the shortest wait
    tie = (Call.call_start_date.desc(), Call.id.desc())
    return (first, Call.id.desc()) if key == "start" and descending else (first, *tie)


def _select():
    """A call with its topic and its QA card's real score: every column a row shows (outer joins on unique keys)."""
    from ..qa.models import QaScore
    from ..topics.models import CallTopic, Topic

    return (select(Call.id, Call.call_id, Call.call_start_date, Call.portal_user_id, Call.call_type,
                   Call.phone_number, Call.crm_entity_type, Call.crm_entity_id, Call.portal_number, Call.duration,
                   Call.conversation, Call.failed_code, Call.vote, Call.ring_at, Call.answered_at, Call.callback_at,
                   Call.callback_by, Call.qa_item_id, Call.record_file_id, CallTopic.topic_id, Topic.name,
                   Topic.color, QaScore.status, QaScore.percent)
            .outerjoin(CallTopic, (CallTopic.portal_id == Call.portal_id) & (CallTopic.call_id == Call.call_id))
            .outerjoin(Topic, Topic.id == CallTopic.topic_id)
            .outerjoin(QaScore, (QaScore.portal_id == Call.portal_id) & (QaScore.qa_item_id == Call.qa_item_id)
                       & (QaScore.calibration_id == 0)))


def list_calls(q: Query, args: ListArgs, settings: Settings, tz: tzinfo, now: datetime, page: int = 1) -> ListPage:
    """One page of the calls (newest first unless sorted otherwise) and their count."""
    # The page's ids first, from the calls alone (a sort reads the whole period: without the joins), then
    # the fifty rows with their topic and score.
    ids = (with_topics(select(Call.id), q, as_set=False).where(*conditions(q, args, settings, tz, now))
           .order_by(*_order(args.sort)).limit(PER_PAGE).offset((page - 1) * PER_PAGE))
    stmt = _select().where(Call.id.in_(ids.scalar_subquery())).order_by(*_order(args.sort))
    window = timedelta(hours=settings.metrics.callback_hours)
    rows = [_row(r, now, window, settings) for r in db.session.execute(stmt)]
    total, exact = count_calls(q, args, settings, tz, now)
    return ListPage(rows, total, page, exact)


def iter_calls(q: Query, args: ListArgs, settings: Settings, tz: tzinfo, now: datetime, batch: int = 2000):
    """Every call of the list, not one page, in the list's order, `batch` rows a query: the CallRows a workbook's
    «Звонки» or «Выгрузить в Excel» streams. The time order pages by its key (start, id), so each query starts
    on the index where the last stopped; the other sorts page by offset."""
    window = timedelta(hours=settings.metrics.callback_hours)
    cond = conditions(q, args, settings, tz, now)
    by_start, descending = args.sort.lstrip("-") == "start", args.sort.startswith("-")
    after, offset = None, 0
    while True:
        ids = with_topics(select(Call.id), q, as_set=False).where(*cond)
        if by_start and after is not None:
            at, last_id = after
            # _order: start either way, then id descending among calls of the same moment
            ids = ids.where(or_(Call.call_start_date < at if descending else Call.call_start_date > at,
                                and_(Call.call_start_date == at, Call.id < last_id)))
        ids = ids.order_by(*_order(args.sort)).limit(batch)
        if not by_start:
            ids = ids.offset(offset)
        stmt = _select().where(Call.id.in_(ids.scalar_subquery())).order_by(*_order(args.sort))
        rows = db.session.execute(stmt).all()
        for r in rows:
            yield _row(r, now, window, settings)
        if len(rows) < batch:
            return
        after, offset = (rows[-1][2], rows[-1][0]), offset + batch


def count_calls(q: Query, args: ListArgs, settings: Settings, tz: tzinfo, now: datetime) -> tuple[int, bool]:
    """How many calls the list has, and whether exactly: from the aggregates when they hold it, else counted
    up to COUNT_CAP + 1 (a number searched for, or a line, topic or scenario without an outcome or direction).

    The aggregates are recounted right after calls are stored (a job): a call that has just arrived may be
    on the page a moment before it is in the count."""
    if not args.phone:
        n = _from_aggregates(q, args, settings, now)
        if n is not None:
            return n, True
    inner = (with_topics(select(Call.id), q, as_set=True).where(*conditions(q, args, settings, tz, now))
             .limit(COUNT_CAP + 1).subquery())
    return int(db.session.scalar(select(func.count()).select_from(inner)) or 0), False


def _from_aggregates(q: Query, args: ListArgs, settings: Settings, now: datetime) -> int | None:
    """The list's count as the figures have it; None when they do not hold it (info calls are in no figure:
    without an outcome or a direction they are counted only by the hourly table, which has no line, topic or
    scenario)."""
    from . import cube

    if args.outcome or q.directions is not None:
        f = cube.total(q, settings=settings, now=now)
        if args.outcome:
            return {"accepted": f.accepted, "missed": f.missed, "recovered": f.recovered, "lost": f.lost,
                    "awaiting": f.awaiting_callback, "successful": f.successful_incoming + f.successful_outgoing,
                    "outgoing_connected": f.outgoing_connected,
                    "outgoing_failed": f.outgoing - f.outgoing_connected}[args.outcome]
        return (f.incoming if "incoming" in q.directions else 0) + (f.outgoing if "outgoing" in q.directions else 0)
    if q.lines is None and q.topics is None and q.scenarios is None:
        if q.users is not None and not q.users:
            return 0
        h = CallStatHour
        stmt = select(func.sum(h.calls)).where(h.portal_id == q.portal_id, h.day >= q.first, h.day <= q.last)
        if q.users is not None:
            stmt = stmt.where(h.user_id.in_(sorted(q.users)))
        return int(db.session.scalar(stmt) or 0)
    return None


def _row(r, now: datetime, window: timedelta, settings: Settings) -> CallRow:
    (cid, call_id, start, user, ctype, phone, crm_type, crm_id, line, duration, conv, code, vote, ring, answered,
     cb_at, cb_by, qa_item, record, topic_id, topic, color, qa_status, qa_percent) = r
    talk = talk_seconds(ctype, code, conv, duration)
    outcome = outcome_of(ctype, code, start, cb_at, now, window)
    # the client's wait for an answer (ASA's reading): incoming calls seen ringing and answered
    wait = max((answered - ring).total_seconds(), 0.0) if ring and answered and ctype in INCOMING_TYPES else None
    return CallRow(
        id=cid, call_id=call_id, start=start, user_id=user, call_type=ctype, phone=phone or "",
        crm_type=crm_type or "", crm_id=crm_id, line=line or "", duration=duration, talk=talk, wait=wait,
        outcome=outcome, successful=talk is not None and talk > settings.metrics.success_seconds,
        callback_at=cb_at, callback_by=cb_by,
        callback_seconds=(cb_at - start).total_seconds() if outcome == "recovered" else None,
        left_seconds=(start + window - now).total_seconds() if outcome == "awaiting" else None,
        vote=vote if vote is not None and 1 <= vote <= 5 and ctype in CLIENT_TYPES else None,
        topic_id=topic_id, topic=topic or "", topic_color=color or "", qa_item_id=qa_item,
        qa_status=qa_status or "", qa_percent=qa_percent if qa_status == "submitted" else None,
        has_record=bool(record))


def one_call(portal_id: int, call_id: int, settings: Settings, now: datetime) -> CallRow | None:
    """A call of this portal by its row id, read like a list row (None: no such call here)."""
    if not 0 < call_id <= MAX_ROW_ID:
        return None
    stmt = _select().where(Call.portal_id == portal_id, Call.id == call_id)
    r = db.session.execute(stmt).first()
    if r is None or r[2] is None:
        return None
    return _row(r, now, timedelta(hours=settings.metrics.callback_hours), settings)


def recording_of(portal_id: int, call_id: int) -> tuple[int | None, int | None] | None:
    """(manager, Disk file of the recording) of a call of this portal by its row id; None: no such call here."""
    if not 0 < call_id <= MAX_ROW_ID:
        return None
    row = db.session.execute(select(Call.portal_user_id, Call.record_file_id).where(
        Call.portal_id == portal_id, Call.id == call_id)).first()
    return None if row is None else (row[0], row[1])
