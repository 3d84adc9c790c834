"""The bulk alignment (D1): a dry run that plans each contact's responsible from its winning deal, the run
that applies the plan to the portal, and the undo of an applied run — one resumable job for all three.

**Steps, each recorded before the next.** Reading: every deal of the rules' categories in ID order
(`portal_crm.export_deals`); each hand-over's deals that take part, with their contacts, become
RoutingCandidate rows (the best deal so far per contact) committed together with the export's resume
ID (`deal_cursor`), so a restarted run reads on from there. Planning: the candidates' responsibles as
the portal has them now, the per-manager counts and the planned changes, in one commit. Applying: 50
changes to a batch request, each chunk marked done in one commit after the portal took it. Then one
digest per manager who received contacts (`digest.py`).

**Each contact set once.** A chunk the previous attempt may have written but not marked (its worker
died between the two) is re-read first by the attempt that takes the run up again: what is already at
its target is marked done without a second update.

**Ownership, retries, dead workers** follow reports/runs.py: `attempts` counts the attempts claimed, an
attempt claims the run with one conditional UPDATE and every write checks it still owns it; a failure
is retried with backoff; `resume_stale` takes up a run silent (`beat_at`) for JOB_STALE_AFTER.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import force_locale, gettext
from sqlalchemy import and_, bindparam, delete, func, insert, select, update

from ..bitrix import errors as E
from ..extensions import db
from ..jobs import app_periodic_task, app_task, at_worker_start, every_minutes
from ..models_base import row_for_portal, utcnow
from ..portals.models import STATUS_ACTIVE, Portal
from ..portals.roles import names_for
from . import index, portal_crm
from .models import (
    ENTITY_COMPANY,
    ENTITY_CONTACT,
    RUN_KINDS,
    AlignmentChange,
    AlignmentRun,
    RoutingCandidate,
    RoutingSettings,
)
from .people import heads_of, inactive_users  # noqa: F401  (heads_of: also what tests compare with)
from .rules import Deal, Rules, _rank, takes_part, target_user

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 4
BACKOFF = (60, 300, 900)  # seconds before attempt 2, 3, 4
CHUNK = 50                # changes to one batch request (the portal's batch limit)
UNDO_GROUP = 500          # an undo re-reads this many responsibles in one batch request, then sets them back
READ_SHARE = 70           # of the progress bar, reading deals is this much of an apply run (90 of a dry one)
_RUNS = AlignmentRun.__table__
_CHANGES = AlignmentChange.__table__
_CANDS = RoutingCandidate.__table__
ACTIVE = ("queued", "running")


class Busy(Exception):
    """A run of this portal is queued or running."""


class Superseded(Exception):
    """A sweep gave the run to a newer attempt: this one stops and changes nothing more."""


@dataclass(frozen=True)
class ManagerCount:
    user_id: int
    name: str
    before: int
    after: int


def backoff(attempts: int) -> int:
    if attempts <= 0:
        return 0
    return BACKOFF[min(attempts, len(BACKOFF)) - 1]


# ---- reading the runs (the settings page, the CLI) ----

def latest(portal_id: int) -> AlignmentRun | None:
    return db.session.scalar(select(AlignmentRun).where(AlignmentRun.portal_id == portal_id)
                             .order_by(AlignmentRun.id.desc()).limit(1))


def history(portal_id: int, limit: int = 10) -> list[AlignmentRun]:
    return list(db.session.scalars(select(AlignmentRun).where(AlignmentRun.portal_id == portal_id)
                                   .order_by(AlignmentRun.id.desc()).limit(limit)))


def sample(run: AlignmentRun, limit: int = 50) -> list[AlignmentChange]:
    return list(db.session.scalars(select(AlignmentChange).where(
        AlignmentChange.portal_id == run.portal_id, AlignmentChange.run_id == run.id)
        .order_by(AlignmentChange.id).limit(limit)))


def undoable(run: AlignmentRun) -> bool:
    if run.kind != "apply" or run.status != "done":
        return False
    return db.session.scalar(select(AlignmentChange.id).where(
        AlignmentChange.portal_id == run.portal_id, AlignmentChange.run_id == run.id,
        AlignmentChange.status == "done").limit(1)) is not None


def manager_counts(run: AlignmentRun) -> list[ManagerCount]:
    """«было → станет» per manager over every contact the run considered, the biggest change first."""
    counts = {int(k): (int(v[0]), int(v[1])) for k, v in (run.counts or {}).items()}
    names = names_for(run.portal_id, [uid for uid in counts if uid > 0])
    out = [ManagerCount(uid, names.get(uid) or (gettext("Без ответственного") if uid <= 0 else f"#{uid}"), b, a)
           for uid, (b, a) in counts.items()]
    out.sort(key=lambda m: (-abs(m.after - m.before), m.name, m.user_id))
    return out


# ---- starting a run ----

def rules_of(portal_id: int) -> Rules:
    """The portal's rules as they are now: its settings, and every user the portal says is inactive."""
    settings = row_for_portal(RoutingSettings, portal_id)
    return Rules.of(settings, inactive_users(portal_id))


def rules_from(data: dict) -> Rules:
    """Rules back from `Rules.as_dict()` (a run keeps the rules it ran with)."""
    return Rules(categories=frozenset(int(c) for c in data.get("categories") or ()),
                 stages=frozenset(str(s) for s in data.get("stages") or ()),
                 winner=str(data.get("winner") or "modified"), companies=bool(data.get("companies")),
                 excluded=frozenset(int(u) for u in data.get("excluded") or ()),
                 on_excluded=str(data.get("on_excluded") or "keep"))


def record(portal_id: int, kind: str, *, requested_by: int = 0, undo_of: int | None = None) -> AlignmentRun:
    """The run recorded (committed), not enqueued: `start` enqueues it, the CLI executes it in place."""
    if kind not in RUN_KINDS:
        raise ValueError(gettext("Неизвестный вид запуска: %(kind)s", kind=str(kind)[:20]))
    if kind == "undo":
        target = db.session.scalar(select(AlignmentRun).where(AlignmentRun.portal_id == portal_id,
                                                              AlignmentRun.id == int(undo_of or 0)))
        if target is None or not undoable(target):
            raise ValueError(gettext("Нечего отменять: в этом запуске нет изменений, которые можно вернуть"))
    else:
        undo_of = None
    if _busy(portal_id):
        raise Busy(gettext("Выравнивание ответственных уже идёт: дождитесь его окончания"))
    run = AlignmentRun(portal_id=portal_id, kind=kind, undo_of=int(undo_of) if undo_of else None,
                       rules=rules_of(portal_id).as_dict(), requested_by=int(requested_by or 0), status="queued",
                       attempts=0, stage="", counts={})
    db.session.add(run)
    db.session.commit()
    run_id = run.id
    # Two requests at once both passed the check above: the older run stays, the newer one goes.
    older = db.session.scalar(select(AlignmentRun.id).where(
        AlignmentRun.portal_id == portal_id, AlignmentRun.status.in_(ACTIVE), AlignmentRun.id < run_id).limit(1))
    if older is not None:
        db.session.execute(delete(_RUNS).where(_RUNS.c.portal_id == portal_id, _RUNS.c.id == run_id))
        db.session.commit()
        raise Busy(gettext("Выравнивание ответственных уже идёт: дождитесь его окончания"))
    return _load((portal_id, run_id))


def start(portal_id: int, kind: str, *, requested_by: int = 0, undo_of: int | None = None) -> AlignmentRun:
    """Record the run with the portal's rules as they are now and enqueue it; Busy while another is going."""
    run = record(portal_id, kind, requested_by=requested_by, undo_of=undo_of)
    key = (run.portal_id, run.id)
    execute_run(run.id, 0)
    return _load(key)


def _busy(portal_id: int) -> bool:
    return db.session.scalar(select(AlignmentRun.id).where(AlignmentRun.portal_id == portal_id,
                                                           AlignmentRun.status.in_(ACTIVE)).limit(1)) is not None


# ---- the job ----

@app_task()
def execute_run(run_id: int, attempt: int = 0) -> str:
    """Run the alignment as the attempt after `attempt` (the count of attempts claimed when it was enqueued)."""
    return execute(run_id, attempt)


def execute(run_id: int, attempt: int = 0) -> str:
    run = db.session.get(AlignmentRun, run_id)
    if run is None or run.status in ("done", "failed"):
        return "nothing to do"
    portal = db.session.get(Portal, run.portal_id)
    if portal is None or portal.status != STATUS_ACTIVE:
        _stop_quietly((run.portal_id, run_id), "portal is not active")
        return "stopped"
    key = (run.portal_id, run_id)
    mine = _claim(key, attempt)
    if mine is None:
        return "not mine"
    lang = _lang(portal)
    try:
        with force_locale(lang):
            _steps(key, portal, mine)
    except Superseded:
        db.session.rollback()
        log.warning("portal=%s alignment run %s: attempt %s superseded, stopped", key[0], run_id, mine)
        return "superseded"
    except Exception as exc:  # noqa: BLE001  (every failure is retried with backoff)
        db.session.rollback()
        if E.needs_reinstall(exc):
            _own(key, mine, status="failed", error=f"portal needs reinstall: {E.root_code(exc)}"[:500],
                 finished_at=utcnow())
            log.warning("portal=%s alignment run %s stopped: the portal needs a reinstall", key[0], run_id)
            return "stopped"
        log.exception("portal=%s alignment run %s attempt %s failed", key[0], run_id, mine)
        return _failed(key, mine, _error_text(exc))
    return "done"


def _lang(portal: Portal) -> str:
    return portal.language if portal.language in ("ru", "en") else "ru"


def _claim(key: tuple[int, int], attempt: int) -> int | None:
    now = utcnow()
    got = db.session.execute(
        update(_RUNS).where(_RUNS.c.portal_id == key[0], _RUNS.c.id == key[1], _RUNS.c.status == "queued",
                            _RUNS.c.attempts == attempt)
        .values(status="running", attempts=attempt + 1, started_at=func.coalesce(_RUNS.c.started_at, now),
                beat_at=now, error="")
        .returning(_RUNS.c.attempts)).scalar()
    db.session.commit()
    return got


def _owned(key: tuple[int, int], attempt: int):
    return and_(_RUNS.c.portal_id == key[0], _RUNS.c.id == key[1], _RUNS.c.attempts == attempt,
                _RUNS.c.status == "running")


def _load(key: tuple[int, int]) -> AlignmentRun:
    return db.session.scalars(select(AlignmentRun).where(AlignmentRun.portal_id == key[0], AlignmentRun.id == key[1])
                              .execution_options(populate_existing=True)).one()


def _own(key: tuple[int, int], attempt: int, **values) -> bool:
    """Write `values` (with whatever else the session's transaction holds) and commit, if `attempt` still
    owns the run; otherwise roll the whole transaction back. Each write is a sign of life."""
    done = db.session.execute(update(_RUNS).where(_owned(key, attempt)).values(beat_at=utcnow(), **values)
                              .returning(_RUNS.c.id)).first()
    if done is None:
        db.session.rollback()
        return False
    db.session.commit()
    return True


def _must_own(key: tuple[int, int], attempt: int, **values) -> None:
    if not _own(key, attempt, **values):
        raise Superseded


def _stop_quietly(key: tuple[int, int], reason: str) -> None:
    db.session.execute(update(_RUNS).where(_RUNS.c.portal_id == key[0], _RUNS.c.id == key[1],
                                           _RUNS.c.status.in_(ACTIVE))
                       .values(status="failed", error=reason, finished_at=utcnow()))
    db.session.commit()


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, E.BitrixError):
        return f"{E.root_code(exc)}: {exc.description}"[:500] if exc.description else E.root_code(exc)[:500]
    return f"{type(exc).__name__}: {exc}"[:500]


def _failed(key: tuple[int, int], mine: int, error: str) -> str:
    if mine < MAX_ATTEMPTS:
        if _own(key, mine, status="queued", error=error):
            execute_run.schedule(args=(key[1], mine), delay=backoff(mine))
            log.warning("portal=%s alignment run %s attempt %s failed (%s); retry in %s s", key[0], key[1], mine,
                        error, backoff(mine))
            return "retry"
        return "superseded"
    if not _own(key, mine, status="failed", error=error, finished_at=utcnow()):
        return "superseded"
    return "failed"


def _client(portal: Portal):
    from ..portals.rest import client_for

    return client_for(portal.member_id)


def _steps(key: tuple[int, int], portal: Portal, mine: int) -> None:
    run = _load(key)
    client = _client(portal)
    if run.kind == "undo":
        _undo(key, run, client, mine)
    else:
        rules = rules_from(run.rules or {})
        if not _planned(key):
            _read_deals(key, run, rules, client, mine)
            _plan(key, _load(key), rules, client, mine)
        if run.kind == "apply":
            _apply(key, client, mine)
            from . import digest

            digest.send(portal, key[1])
    _must_own(key, mine, status="done", progress=100, stage=gettext("Готово"), error="", finished_at=utcnow())


def _planned(key: tuple[int, int]) -> bool:
    """The plan was committed: planning writes the counts (every considered contact has its manager there)
    and the changes in one transaction; a run that considered nothing plans again at no cost."""
    run = _load(key)
    if run.counts:
        return True
    return db.session.scalar(select(AlignmentChange.id).where(AlignmentChange.portal_id == key[0],
                                                              AlignmentChange.run_id == key[1]).limit(1)) is not None


# ---- 1. reading the deals ----

_RANK_OFFSET = 10**17
_RANK_MAX = 10**18 - 1


def rank_key(deal: Deal, winner: str) -> str:
    """rules._rank as a string that sorts the same way: each number fixed-point, offset to be positive,
    zero-padded; a missing date (-inf) sorts first."""
    parts = []
    for value in _rank(deal, winner):
        if value is None or (isinstance(value, float) and math.isinf(value) and value < 0):
            n = 0
        elif isinstance(value, float) and (math.isinf(value) or math.isnan(value)):
            n = _RANK_MAX
        else:
            n = min(_RANK_MAX, max(1, int(round(float(value) * 100)) + _RANK_OFFSET))
        parts.append(f"{n:018d}")
    return ".".join(parts)


def _read_deals(key: tuple[int, int], run: AlignmentRun, rules: Rules, client, mine: int) -> None:
    categories = sorted(rules.categories)
    if run.deals_total is None:
        got = client.call("crm.deal.list", {"filter": portal_crm.deal_filter(categories), "select": ["ID"],
                                            "start": 0})
        total = int(got.total or 0) if got.total is not None else len(got.result or [])
        _must_own(key, mine, deals_total=total, stage=gettext("Чтение сделок"))
    run = _load(key)
    total = max(1, int(run.deals_total or 0))
    share = READ_SHARE if run.kind == "apply" else 90
    state = {"read": int(run.deals_read or 0)}
    pending: list[dict] = []

    def on_rows(rows: list[dict]) -> None:
        pending.extend(rows)

    def on_progress(resume_id: int) -> None:
        rows = list(pending)
        pending.clear()
        if rows:
            _absorb(key, rules, client, rows)
        state["read"] += len(rows)
        progress = min(share, int(share * state["read"] / total))
        _must_own(key, mine, deal_cursor=int(resume_id), deals_read=state["read"], progress=progress,
                  stage=gettext("Чтение сделок"))

    resume = int(run.deal_cursor or 0) or None
    portal_crm.export_deals(client, on_rows, categories=categories, resume_from=resume, on_progress=on_progress)
    if pending:  # export hands every batch over before its progress; kept for safety
        on_progress(int(_load(key).deal_cursor or 0))


def _absorb(key: tuple[int, int], rules: Rules, client, rows: list[dict]) -> None:
    """The deals of one hand-over that take part, with their contacts, folded into the run's candidates (in
    the session's transaction; the caller commits it with the cursor)."""
    taking = [d for d in (portal_crm.to_deal(r) for r in rows) if d.id > 0 and takes_part(d, rules)]
    if not taking:
        return
    links = portal_crm.contacts_of(client, [d.id for d in taking])
    best: dict[tuple[str, int], tuple[str, int, int]] = {}

    def consider(entity: str, entity_id: int, rank: str, deal: Deal) -> None:
        have = best.get((entity, entity_id))
        if have is None or rank > have[0]:
            best[(entity, entity_id)] = (rank, deal.id, deal.assigned_by)

    for d in taking:
        rank = rank_key(d, rules.winner)
        for contact_id in links.get(d.id, ()):
            consider(ENTITY_CONTACT, int(contact_id), rank, d)
        if rules.companies and d.company_id > 0:
            consider(ENTITY_COMPANY, d.company_id, rank, d)
    _upsert(key, best)


def _upsert(key: tuple[int, int], best: dict[tuple[str, int], tuple[str, int, int]]) -> None:
    portal_id, run_id = key
    for entity in (ENTITY_CONTACT, ENTITY_COMPANY):
        ids = sorted(i for e, i in best if e == entity)
        existing: dict[int, tuple[int, str]] = {}
        for i in range(0, len(ids), 500):
            for row_id, entity_id, rank in db.session.execute(
                    select(_CANDS.c.id, _CANDS.c.entity_id, _CANDS.c.rank).where(
                        _CANDS.c.portal_id == portal_id, _CANDS.c.run_id == run_id, _CANDS.c.entity == entity,
                        _CANDS.c.entity_id.in_(ids[i:i + 500]))):
                existing[entity_id] = (row_id, rank)
        fresh, better = [], []
        for entity_id in ids:
            rank, deal_id, user_id = best[(entity, entity_id)]
            have = existing.get(entity_id)
            if have is None:
                fresh.append({"portal_id": portal_id, "run_id": run_id, "entity": entity, "entity_id": entity_id,
                              "deal_id": deal_id, "user_id": user_id, "rank": rank})
            elif rank > have[1]:
                better.append({"row_id": have[0], "deal_id": deal_id, "user_id": user_id, "rank": rank})
        if fresh:
            db.session.execute(insert(_CANDS), fresh)
        if better:
            db.session.execute(update(_CANDS).where(_CANDS.c.id == bindparam("row_id")).values(
                deal_id=bindparam("deal_id"), user_id=bindparam("user_id"), rank=bindparam("rank")), better)


# ---- 2. planning ----

def _plan(key: tuple[int, int], run: AlignmentRun, rules: Rules, client, mine: int) -> None:
    portal_id, run_id = key
    _must_own(key, mine, stage=gettext("Чтение контактов"))
    cands = db.session.execute(select(_CANDS.c.entity, _CANDS.c.entity_id, _CANDS.c.deal_id, _CANDS.c.user_id)
                               .where(_CANDS.c.portal_id == portal_id, _CANDS.c.run_id == run_id)
                               .order_by(_CANDS.c.entity, _CANDS.c.entity_id)).all()
    db.session.commit()
    current: dict[str, dict[int, int]] = {}
    for entity in (ENTITY_CONTACT, ENTITY_COMPANY):
        ids = [c.entity_id for c in cands if c.entity == entity]
        current[entity] = portal_crm.responsibles(client, entity, ids) if ids else {}
    head_of = heads_of(portal_id)
    counts: dict[str, list[int]] = {}
    changes = []
    now = utcnow()
    for c in cands:
        have = current[c.entity]
        if c.entity_id not in have:
            continue  # deleted since its deal named it
        before = int(have[c.entity_id] or 0)
        target = target_user(Deal(id=c.deal_id, assigned_by=c.user_id), rules, head_of)
        after = before if target is None else int(target)
        if c.entity == ENTITY_CONTACT:
            counts.setdefault(str(before), [0, 0])[0] += 1
            counts.setdefault(str(after), [0, 0])[1] += 1
        if after != before:
            changes.append({"portal_id": portal_id, "run_id": run_id, "entity": c.entity, "entity_id": c.entity_id,
                            "deal_id": c.deal_id, "old_user_id": before, "new_user_id": after, "status": "planned",
                            "notified": False, "created_at": now})
    db.session.execute(delete(_CHANGES).where(_CHANGES.c.portal_id == portal_id, _CHANGES.c.run_id == run_id))
    for i in range(0, len(changes), 1000):
        db.session.execute(insert(_CHANGES), changes[i:i + 1000])
    share = READ_SHARE + 5 if run.kind == "apply" else 100
    _must_own(key, mine, counts=counts, planned=len(changes), progress=share)
    # The candidates did their work; the plan is what the run keeps.
    db.session.execute(delete(_CANDS).where(_CANDS.c.portal_id == portal_id, _CANDS.c.run_id == run_id))
    db.session.commit()


# ---- 3. applying ----

def _apply(key: tuple[int, int], client, mine: int) -> None:
    portal_id, run_id = key
    run = _load(key)
    planned = max(1, int(run.planned or 0))
    applied = int(run.applied or 0)
    # An attempt after another one may find a chunk its predecessor wrote but did not mark: re-read it.
    doubtful = mine > 1
    stage = gettext("Изменение ответственных")
    _must_own(key, mine, stage=stage)
    handled = int(db.session.scalar(select(func.count()).select_from(_CHANGES).where(
        _CHANGES.c.portal_id == portal_id, _CHANGES.c.run_id == run_id, _CHANGES.c.status != "planned")) or 0)
    while True:
        rows = db.session.execute(select(_CHANGES.c.id, _CHANGES.c.entity, _CHANGES.c.entity_id,
                                         _CHANGES.c.new_user_id)
                                  .where(_CHANGES.c.portal_id == portal_id, _CHANGES.c.run_id == run_id,
                                         _CHANGES.c.status == "planned")
                                  .order_by(_CHANGES.c.entity, _CHANGES.c.id).limit(CHUNK)).all()
        db.session.commit()
        if not rows:
            break
        entity = rows[0].entity
        rows = [r for r in rows if r.entity == entity]
        done, skipped = [], []
        todo = rows
        if doubtful:
            now_at = portal_crm.responsibles(client, entity, [r.entity_id for r in rows])
            todo = []
            for r in rows:
                if r.entity_id not in now_at:
                    skipped.append(r.id)
                elif now_at[r.entity_id] == r.new_user_id:
                    done.append(r.id)
                else:
                    todo.append(r)
            doubtful = False
        errors = portal_crm.set_responsibles(client, entity, [(r.entity_id, r.new_user_id) for r in todo]) \
            if todo else {}
        for r in todo:
            if r.entity_id in errors:
                if errors[r.entity_id] not in portal_crm.NOT_FOUND:
                    log.warning("portal=%s alignment run %s: %s %s not set (%s)", portal_id, run_id, entity,
                                r.entity_id, errors[r.entity_id])
                skipped.append(r.id)
            else:
                done.append(r.id)
        moment = utcnow()
        if done:
            db.session.execute(update(_CHANGES).where(_CHANGES.c.portal_id == portal_id, _CHANGES.c.id.in_(done))
                               .values(status="done", applied_at=moment))
            if entity == ENTITY_CONTACT:  # the routing index follows without reading back what was written
                by_id = {r.id: r for r in rows}
                index.record_owners(portal_id, [(by_id[i].entity_id, by_id[i].new_user_id) for i in done])
        if skipped:
            db.session.execute(update(_CHANGES).where(_CHANGES.c.portal_id == portal_id,
                                                      _CHANGES.c.id.in_(skipped)).values(status="skipped"))
        applied += len(done)
        handled += len(done) + len(skipped)
        progress = READ_SHARE + 5 + int((100 - READ_SHARE - 6) * min(1.0, handled / planned))
        _must_own(key, mine, applied=applied, progress=progress, stage=stage)


# ---- 5. undo ----

def _undo(key: tuple[int, int], run: AlignmentRun, client, mine: int) -> None:
    portal_id, run_id = key
    target = int(run.undo_of or 0)
    stage = gettext("Изменение ответственных")
    if not run.planned:
        total = db.session.scalar(select(func.count()).select_from(_CHANGES).where(
            _CHANGES.c.portal_id == portal_id, _CHANGES.c.run_id == target, _CHANGES.c.status == "done"))
        _must_own(key, mine, planned=int(total or 0), stage=stage)
    run = _load(key)
    planned = max(1, int(run.planned or 0))
    counts: dict[str, list[int]] = {k: list(v) for k, v in (run.counts or {}).items()}
    reverted_total = int(run.applied or 0)
    while True:
        rows = db.session.execute(select(_CHANGES.c.id, _CHANGES.c.entity, _CHANGES.c.entity_id,
                                         _CHANGES.c.old_user_id, _CHANGES.c.new_user_id)
                                  .where(_CHANGES.c.portal_id == portal_id, _CHANGES.c.run_id == target,
                                         _CHANGES.c.status == "done")
                                  .order_by(_CHANGES.c.entity, _CHANGES.c.id).limit(UNDO_GROUP)).all()
        db.session.commit()
        if not rows:
            break
        entity = rows[0].entity
        rows = [r for r in rows if r.entity == entity]
        now_at = portal_crm.responsibles(client, entity, [r.entity_id for r in rows])
        back, reverted, skipped = [], [], []
        for r in rows:
            current = now_at.get(r.entity_id)
            if current == r.new_user_id:
                back.append(r)
            elif current == r.old_user_id:
                reverted.append(r.id)   # already as it was (an attempt before this one set it back)
            else:
                skipped.append(r.id)    # deleted, or a manager changed it by hand since: his choice stays
        errors = portal_crm.set_responsibles(client, entity, [(r.entity_id, r.old_user_id) for r in back]) \
            if back else {}
        for r in back:
            (skipped if r.entity_id in errors else reverted).append(r.id)
        if entity == ENTITY_CONTACT:
            for r in rows:
                current = now_at.get(r.entity_id)
                if current is None:
                    continue
                after = r.old_user_id if r.id in reverted else current
                counts.setdefault(str(current), [0, 0])[0] += 1
                counts.setdefault(str(after), [0, 0])[1] += 1
        if reverted:
            db.session.execute(update(_CHANGES).where(_CHANGES.c.portal_id == portal_id,
                                                      _CHANGES.c.id.in_(reverted)).values(status="reverted"))
            if entity == ENTITY_CONTACT:
                by_id = {r.id: r for r in rows}
                index.record_owners(portal_id, [(by_id[i].entity_id, by_id[i].old_user_id) for i in reverted])
        if skipped:
            db.session.execute(update(_CHANGES).where(_CHANGES.c.portal_id == portal_id,
                                                      _CHANGES.c.id.in_(skipped)).values(status="skipped"))
        reverted_total += len(reverted)
        done_share = min(1.0, (planned - _left(key, target)) / planned)
        _must_own(key, mine, applied=reverted_total, counts=counts, progress=min(99, int(99 * done_share)),
                  stage=stage)


def _left(key: tuple[int, int], target: int) -> int:
    return int(db.session.scalar(select(func.count()).select_from(_CHANGES).where(
        _CHANGES.c.portal_id == key[0], _CHANGES.c.run_id == target, _CHANGES.c.status == "done")) or 0)


# ---- dead workers ----

def resume_stale(now: datetime | None = None) -> int:
    """Take up runs whose worker died: `running` with no sign of life for JOB_STALE_AFTER, or `queued` that
    long past its backoff (its job was lost). Each is claimed by one conditional UPDATE, so of several
    sweeping workers one enqueues it; a run at its last attempt is failed instead."""
    now = now or utcnow()
    stale = timedelta(seconds=float(current_app.config.get("JOB_STALE_AFTER", 300)))
    alive_at = func.coalesce(_RUNS.c.beat_at, _RUNS.c.started_at, _RUNS.c.created_at)
    found = db.session.execute(
        select(_RUNS.c.id, _RUNS.c.portal_id, _RUNS.c.status, _RUNS.c.attempts)
        .join(Portal, Portal.id == _RUNS.c.portal_id)
        .where(_RUNS.c.status.in_(ACTIVE), Portal.status == STATUS_ACTIVE, alive_at < now - stale)).all()
    db.session.commit()
    taken = 0
    for run_id, portal_id, status, attempts in found:
        cutoff = now - stale - timedelta(seconds=backoff(attempts) if status == "queued" else 0)
        where = and_(_RUNS.c.id == run_id, _RUNS.c.portal_id == portal_id, _RUNS.c.status == status,
                     _RUNS.c.attempts == attempts, alive_at < cutoff)
        if status == "running" and attempts >= MAX_ATTEMPTS:
            portal = db.session.get(Portal, portal_id)
            with force_locale(_lang(portal)):
                gone = db.session.execute(update(_RUNS).where(where).values(
                    status="failed", error=gettext("Выравнивание прервалось %(n)s раз подряд", n=attempts),
                    finished_at=now).returning(_RUNS.c.id)).first()
            db.session.commit()
            taken += gone is not None
            continue
        claimed = db.session.execute(update(_RUNS).where(where).values(status="queued", beat_at=now)
                                     .returning(_RUNS.c.id)).first()
        db.session.commit()
        if claimed is None:
            continue  # another worker's sweep, or the job itself, got there first
        log.warning("portal=%s alignment run %s: %s with no sign of life since %s, taken up again", portal_id,
                    run_id, status, cutoff.isoformat())
        execute_run(run_id, attempts)
        taken += 1
    return taken


at_worker_start(resume_stale)


@app_periodic_task(every_minutes("ROUTING_TICK_MINUTES", 5))
def alignment_sweep() -> int:
    return resume_stale()
