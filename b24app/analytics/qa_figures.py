"""Quality figures for the calls of a cube query: scores counted, mean score and pass rate per manager,
topic, checklist and reviewer, failure rate per checklist item, the planning-meeting agenda, QA cards
by stage and the calibration spread — read from the app's own QA rows, never from the portal.

A call counts once with its current score: a card has one real score row (`calibration_id` 0, a unique
index), which a re-score or an arbiter's decision updates in place. Only `submitted` scores count
(drafts are unfinished, «Нельзя оценить» has no score); calibration rounds never count as scores.
Calls are matched to a query like the cube matches them: by the call's start in the portal's local
days, its manager, line, direction, chosen topic and scenario (working hours, weekend, …).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, or_, select

from ..calls.models import Call
from ..calls.rules import INCOMING_TYPES, OUTGOING_TYPES, SHORT
from ..extensions import db
from ..qa.models import Checklist, ChecklistVersion, QaCalibration, QaScore
from .cube import SCENARIO_NAMES, Query
from .recount import day_bounds, portal_tz
from .settings import load

# QaSettings define no pass mark: a call passes at 80 % or more (what the sales teams we met use).
PASS_PERCENT = 80.0
GROUPS = ("manager", "topic", "checklist", "reviewer")
STAGES = ("review", "done", "short", "skipped")  # the QA smart process's stages (qa/bootstrap.py)
_TYPES = {"incoming": INCOMING_TYPES, "outgoing": OUTGOING_TYPES}


@dataclass(frozen=True)
class QaSummary:
    scored: int                       # calls with a submitted real score
    mean_score: float | None          # 0..100; None without a score that has a percent
    passed: int = 0                   # scores ≥ PASS_PERCENT
    with_percent: int = 0             # scores that have a percent (all-N/A answers have none)

    @property
    def pass_rate(self) -> float | None:
        """Share 0..1 of scores at or above the pass mark; None without any."""
        return self.passed / self.with_percent if self.with_percent else None


@dataclass
class GroupRow:
    key: int                          # user id, topic id (0: no topic), checklist id
    scored: int = 0
    with_percent: int = 0
    percent_sum: float = 0.0
    passed: int = 0
    critical_failed: int = 0          # failed critical items, summed over the scores

    @property
    def mean_score(self) -> float | None:
        return round(self.percent_sum / self.with_percent, 1) if self.with_percent else None

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.with_percent if self.with_percent else None


@dataclass
class ItemRow:
    checklist_id: int
    checklist: str
    version_id: int
    version: int
    key: str
    text: str
    section: str
    critical: bool
    answered: int = 0                 # scores that answered the item (N/A left out)
    failed: int = 0                   # answered «нет» or 0 points (as the manager's result shows it)

    @property
    def failure_rate(self) -> float | None:
        return self.failed / self.answered if self.answered else None


@dataclass(frozen=True)
class AgendaRow:
    score_id: int
    call_pk: int                      # Call.id: the call page's address
    qa_item_id: int
    started: datetime                 # aware, UTC
    manager_id: int
    topic_id: int
    percent: float | None
    reviewer_id: int
    comment: str
    critical_failed: int


@dataclass(frozen=True)
class RoundRow:
    id: int
    qa_item_id: int
    call_pk: int | None
    created_at: datetime
    reviewers: int
    submitted: int
    mean: float | None = None
    spread: float | None = None       # max − min of the reviewers' totals, points of %
    stdev: float | None = None
    agreement: float | None = None    # 0..1, the share of reviewer pairs answering items alike

    @property
    def done(self) -> bool:
        return self.submitted >= self.reviewers


@dataclass(frozen=True)
class StageCount:
    key: str
    count: int


# --- selecting the scores of a query ------------------------------------------------------------------

def _bounds(q: Query) -> tuple[datetime, datetime]:
    tz = portal_tz(q.portal_id)
    return day_bounds(q.first, tz)[0], day_bounds(q.last, tz)[1]


def _nothing(q: Query) -> bool:
    return any(f is not None and not f for f in (q.users, q.lines, q.directions, q.topics, q.scenarios))


def _call_filters(q: Query, topic_col) -> list:
    """The query's filters on Call (and the topic column of an outer-joined CallTopic); scenarios are
    matched afterwards in Python, from each call's local start (`_scenario_ok`)."""
    start, end = _bounds(q)
    cond = [Call.portal_id == q.portal_id, Call.call_start_date >= start, Call.call_start_date < end]
    if q.users is not None:
        ids = sorted(u for u in q.users if u)
        cond.append(or_(Call.portal_user_id.in_(ids), Call.portal_user_id.is_(None)) if 0 in q.users
                    else Call.portal_user_id.in_(ids))
    if q.lines is not None:
        cond.append(Call.portal_number.in_(sorted(q.lines)))
    if q.directions is not None:
        cond.append(Call.call_type.in_(sorted({t for d in q.directions for t in _TYPES.get(d, ())})))
    if q.topics is not None:
        ids = sorted(t for t in q.topics if t)
        cond.append(or_(topic_col.in_(ids), topic_col.is_(None)) if 0 in q.topics else topic_col.in_(ids))
    return cond


def _scenario_check(q: Query):
    """A predicate on a call's UTC start for the scenario filter, or None when there is none."""
    if q.scenarios is None:
        return None
    settings, tz = load(q.portal_id), portal_tz(q.portal_id)
    return lambda at: SCENARIO_NAMES.get(settings.scenario(at.astimezone(tz))) in q.scenarios


def _scored(q: Query, *cols):
    """A select of `cols` over the query's calls with a submitted real score (Call, QaScore, CallTopic)."""
    from ..topics.models import CallTopic  # topics sit beside analytics; read lazily like the cube does

    return (select(*cols).select_from(QaScore)
            .join(Call, and_(Call.portal_id == QaScore.portal_id, Call.qa_item_id == QaScore.qa_item_id))
            .outerjoin(CallTopic, and_(CallTopic.portal_id == Call.portal_id, CallTopic.call_id == Call.call_id))
            .where(QaScore.portal_id == q.portal_id, QaScore.calibration_id == 0, QaScore.status == "submitted",
                   *_call_filters(q, CallTopic.topic_id)))


def _topic_col():
    from ..topics.models import CallTopic

    return CallTopic.topic_id


# --- the figures --------------------------------------------------------------------------------------

def summary(q: Query) -> QaSummary:
    """Calls scored and their mean score (0..100) for the calls of `q`."""
    if _nothing(q):
        return QaSummary(0, None)
    check = _scenario_check(q)
    if check is None:
        passed = case((QaScore.percent >= PASS_PERCENT, 1), else_=0)
        n, with_pct, total, npass = db.session.execute(_scored(
            q, func.count(QaScore.id), func.count(QaScore.percent), func.sum(QaScore.percent),
            func.sum(passed))).one()
        n, with_pct, total, npass = int(n or 0), int(with_pct or 0), float(total or 0), int(npass or 0)
    else:
        rows = [p for at, p in db.session.execute(_scored(q, Call.call_start_date, QaScore.percent)) if check(at)]
        known = [p for p in rows if p is not None]
        n, with_pct, total, npass = len(rows), len(known), sum(known), sum(p >= PASS_PERCENT for p in known)
    return QaSummary(n, round(total / with_pct, 1) if with_pct else None, npass, with_pct)


def _rows(q: Query, *extra, where=()) -> list:
    """(start, percent, critical_failed, manager, topic, checklist, reviewer, *extra) per scored call."""
    if _nothing(q):
        return []
    cols = (Call.call_start_date, QaScore.percent, QaScore.critical_failed, Call.portal_user_id, _topic_col(),
            QaScore.checklist_id, QaScore.reviewer_id, *extra)
    check = _scenario_check(q)
    rows = db.session.execute(_scored(q, *cols).where(*where)).all()
    return [r for r in rows if check is None or check(r[0])]


def by(q: Query, group: str) -> list[GroupRow]:
    """Per manager, topic, checklist or reviewer: scored, mean score, pass rate, failed critical items;
    the most scored first."""
    return by_groups(q, (group,))[group]


def by_groups(q: Query, groups: tuple[str, ...] = GROUPS) -> dict[str, list[GroupRow]]:
    """`by` for several groups from one read of the scores (the report workbook shows all four)."""
    for group in groups:
        if group not in GROUPS:
            raise ValueError(group)
    out: dict[str, dict[int, GroupRow]] = {g: {} for g in groups}
    indexes = [(out[g], 3 + GROUPS.index(g)) for g in groups]
    for row in _rows(q):
        failed, pct = len(row[2] or ()), row[1]
        for found, index in indexes:
            key = int(row[index] or 0)
            g = found.get(key)
            if g is None:
                g = found[key] = GroupRow(key)
            g.scored += 1
            g.critical_failed += failed
            if pct is not None:
                g.with_percent += 1
                g.percent_sum += pct
                g.passed += pct >= PASS_PERCENT
    return {g: sorted(found.values(), key=lambda r: (-r.scored, r.key)) for g, found in out.items()}


def items(q: Query) -> list[ItemRow]:
    """Failure rate of every checklist item per checklist version over the scored calls, worst first."""
    rows = _rows(q, QaScore.version_id, QaScore.answers)
    if not rows:
        return []
    from ..qa import scoring

    versions = {v.id: v for v in db.session.scalars(select(ChecklistVersion).where(
        ChecklistVersion.portal_id == q.portal_id, ChecklistVersion.id.in_({r[7] for r in rows})))}
    names = _checklist_names(q.portal_id, {v.checklist_id for v in versions.values()})
    out: dict[tuple[int, str], ItemRow] = {}
    for row in rows:
        v = versions.get(row[7])
        if v is None:
            continue
        answers = row[8] or {}
        for si, sec in enumerate(v.sections or []):
            for ii, it in enumerate(sec.get("items") or []):
                key = scoring.item_key(si, ii, it)
                value = scoring.item_value(it, answers.get(key))
                if value is None or isinstance(value, str):  # N/A, or not answered in this version
                    continue
                r = out.get((v.id, key))
                if r is None:
                    r = out[(v.id, key)] = ItemRow(
                        v.checklist_id, names.get(v.checklist_id, v.name), v.id, v.number, key,
                        it.get("text", ""), sec.get("title", ""), bool(it.get("critical")))
                r.answered += 1
                r.failed += value == 0
    return sorted(out.values(), key=lambda r: (-(r.failure_rate or 0), -r.failed, r.checklist, r.version, r.key))


def agenda(q: Query) -> list[AgendaRow]:
    """The scored calls a reviewer flagged «Разобрать на планёрке», in the order they were made."""
    rows = _rows(q, QaScore.id, Call.id, QaScore.qa_item_id, QaScore.comment, where=(QaScore.for_meeting.is_(True),))
    return sorted((AgendaRow(r[7], r[8], r[9], r[0], int(r[3] or 0), int(r[4] or 0), r[1], r[6], r[10] or "",
                             len(r[2] or ())) for r in rows), key=lambda a: (a.started, a.score_id))


def cards_by_stage(portal_id: int, q: Query) -> list[StageCount]:
    """QA cards of the query's calls by stage, from what the app wrote to them (no REST call):
    «Оценено» a submitted score, «Без оценки» «Нельзя оценить» or left out by the weekly sample,
    «Короткий звонок» a short call not scored, «Оценить» the rest (drafts too).

    A stage moved by hand in the portal's kanban is not seen here."""
    from ..qa.workload import NOT_SAMPLED, QaAssignment

    if portal_id != q.portal_id:
        raise ValueError("the query belongs to another portal")
    counts = dict.fromkeys(STAGES, 0)
    if _nothing(q):
        return [StageCount(k, 0) for k in STAGES]
    from ..topics.models import CallTopic

    stmt = (select(Call.call_start_date, Call.selection, QaScore.status, QaAssignment.reason)
            .select_from(Call)
            .outerjoin(QaScore, and_(QaScore.portal_id == Call.portal_id, QaScore.qa_item_id == Call.qa_item_id,
                                     QaScore.calibration_id == 0))
            .outerjoin(QaAssignment, and_(QaAssignment.portal_id == Call.portal_id,
                                          QaAssignment.qa_item_id == Call.qa_item_id))
            .outerjoin(CallTopic, and_(CallTopic.portal_id == Call.portal_id, CallTopic.call_id == Call.call_id))
            .where(Call.qa_item_id > 0, *_call_filters(q, CallTopic.topic_id)))
    check = _scenario_check(q)
    for at, selection, status, reason in db.session.execute(stmt):
        if check is not None and not check(at):
            continue
        if status == "submitted":
            counts["done"] += 1
        elif status == "unscorable" or reason == NOT_SAMPLED:
            counts["skipped"] += 1
        elif selection == SHORT:
            counts["short"] += 1
        else:
            counts["review"] += 1
    return [StageCount(k, counts[k]) for k in STAGES]


def calibration(q: Query, limit: int = 50) -> list[RoundRow]:
    """Calibration rounds made on the query's days (for calls of the query's managers), newest first,
    with the spread of the reviewers' scores once every reviewer has submitted (rounds are blind)."""
    from ..qa.calibration import spread

    if q.users is not None and not q.users:
        return []
    start, end = _bounds(q)
    stmt = (select(QaCalibration, Call.id, Call.portal_user_id).select_from(QaCalibration)
            .outerjoin(Call, and_(Call.portal_id == QaCalibration.portal_id, Call.call_id == QaCalibration.call_id))
            .where(QaCalibration.portal_id == q.portal_id, QaCalibration.created_at >= start,
                   QaCalibration.created_at < end)
            .order_by(QaCalibration.id.desc()).limit(limit))
    rounds = [(c, pk) for c, pk, user in db.session.execute(stmt)
              if q.users is None or (user or 0) in q.users]
    if not rounds:
        return []
    by_round: dict[int, list[QaScore]] = defaultdict(list)
    for s in db.session.scalars(select(QaScore).where(QaScore.portal_id == q.portal_id,
                                                      QaScore.calibration_id.in_([c.id for c, _ in rounds]))):
        by_round[s.calibration_id].append(s)
    versions = {v.id: v for v in db.session.scalars(select(ChecklistVersion).where(
        ChecklistVersion.portal_id == q.portal_id, ChecklistVersion.id.in_({c.version_id for c, _ in rounds})))}
    out = []
    for cal, pk in rounds:
        submitted = [s for s in by_round[cal.id] if s.status == "submitted" and s.reviewer_id in cal.reviewers]
        row = RoundRow(cal.id, cal.qa_item_id, pk, cal.created_at, len(cal.reviewers), len(submitted))
        version = versions.get(cal.version_id)
        if row.done and version is not None:
            s = spread(version.sections, {x.reviewer_id: x.answers for x in submitted},
                       {x.reviewer_id: x.percent for x in submitted})
            row = RoundRow(row.id, row.qa_item_id, pk, row.created_at, row.reviewers, row.submitted,
                           s.mean, s.spread, s.stdev, s.agreement)
        out.append(row)
    return out


# --- names --------------------------------------------------------------------------------------------

def _checklist_names(portal_id: int, ids: Iterable[int]) -> dict[int, str]:
    ids = sorted(set(ids))
    if not ids:
        return {}
    return dict(db.session.execute(select(Checklist.id, Checklist.name).where(
        Checklist.portal_id == portal_id, Checklist.id.in_(ids))).all())


def topic_names(portal_id: int, ids: Iterable[int]) -> dict[int, str]:
    from ..topics.models import Topic

    ids = sorted({i for i in ids if i})
    if not ids:
        return {}
    return dict(db.session.execute(select(Topic.id, Topic.name).where(Topic.portal_id == portal_id,
                                                                      Topic.id.in_(ids))).all())


def names(portal_id: int, group: str, keys: Iterable[int]) -> dict[int, str]:
    """Display names of a group's keys (users, topics or checklists) on this portal; 0 is left to the page."""
    from ..portals.roles import names_for

    keys = [k for k in keys if k]
    if group in ("manager", "reviewer"):
        return names_for(portal_id, keys)
    if group == "topic":
        return topic_names(portal_id, keys)
    return _checklist_names(portal_id, keys)

