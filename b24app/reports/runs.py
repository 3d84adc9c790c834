"""Report runs: record one, and the job that builds the workbook, uploads it to Disk and posts the summary.

**Each step once.** A run goes build → Disk → chat → done, and every step records what it did before
the next begins: the workbook's bytes (ReportFile) and call count, then the Disk file's ID and link, then
the message's ID. A retry (or a run resumed after its worker died) skips what is recorded; the upload is
idempotent by name as well (`delivery.upload`: a run's file name is its own and a file already there by
that name is taken), so an attempt that uploaded but died before writing the ID does not upload twice.

**Ownership.** `attempts` counts the attempts claimed. The job is enqueued with the count it expects
and claims the run with one conditional UPDATE (queued and still at that count → running, count + 1);
a late or duplicate job finds the count moved on and does nothing. Every write an attempt makes checks
that it still owns the run (running, at its count): an attempt a sweep gave up on (its worker looked
dead) stops at its next write instead of racing the new one.

**Failures** are retried with backoff (`BACKOFF`) up to `MAX_ATTEMPTS`; after the last one the run is
failed and the portal's admins get a notification. A portal that was uninstalled or needs reinstall
gets nothing: its run ends failed, quietly, with no retry and nobody told (nobody can be).

**Dead workers.** A run whose attempt gave no sign of life (`beat_at`: its claim, progress, each step) for
JOB_STALE_AFTER while `running` (or that long past its backoff while `queued`) is taken up again by
`resume_stale`, which the schedule's tick and worker start call; a long build that moves is left alone.
"""

from __future__ import annotations

import io
import logging
import os
from datetime import date, datetime, timedelta

from flask import current_app
from flask_babel import force_locale, gettext
from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from ..bitrix import errors as E
from ..extensions import db
from ..jobs import app_task
from ..models_base import utcnow
from ..portals.models import STATUS_ACTIVE, Portal
from . import chat_summary, delivery
from .models import KINDS, ReportFile, ReportRun, ReportSettings

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 4
BACKOFF = (60, 300, 900)  # seconds before attempt 2, 3, 4
BUILD_SHARE = 90          # the workbook is this much of a run's progress bar; Disk and chat the rest
_RUNS = ReportRun.__table__


class Superseded(Exception):
    """A sweep gave the run to a newer attempt: this one stops and changes nothing more."""


def backoff(attempts: int) -> int:
    """Seconds to wait after `attempts` failed attempts (0 before the first)."""
    if attempts <= 0:
        return 0
    return BACKOFF[min(attempts, len(BACKOFF)) - 1]


def start(portal_id: int, kind: str, first: date, last: date, *, departments=(), users=None,
          to_disk: bool = True, to_chat: bool = True, requested_by: int = 0, slot: str | None = None
          ) -> ReportRun | None:
    """Records the run (committed) and enqueues its job; None when a scheduled run of that slot already exists."""
    if kind not in KINDS:
        raise ValueError(f"unknown report kind {kind!r}")
    if last < first:
        raise ValueError("the period ends before it starts")
    if slot is not None and db.session.scalar(select(ReportRun.id).where(
            ReportRun.portal_id == portal_id, ReportRun.slot == slot)) is not None:
        return None
    run = ReportRun(portal_id=portal_id, kind=kind, slot=slot, first=first, last=last,
                    departments=sorted({int(d) for d in departments or ()}),
                    users=None if users is None else sorted({int(u) for u in users}),
                    to_disk=bool(to_disk), to_chat=bool(to_chat), requested_by=int(requested_by or 0),
                    status="queued", attempts=0)
    db.session.add(run)
    try:
        db.session.commit()
    except IntegrityError:  # another worker's tick made the same slot a moment ago
        db.session.rollback()
        return None
    run_id = run.id
    execute_run(run_id, 0)
    return _load((portal_id, run_id))


@app_task()
def execute_run(run_id: int, attempt: int = 0) -> str:
    """Run the report as the attempt after `attempt` (the count of attempts claimed when it was enqueued)."""
    return execute(run_id, attempt)


def execute(run_id: int, attempt: int = 0) -> str:
    run = db.session.get(ReportRun, run_id)
    if run is None or run.status in ("done", "failed"):
        return "nothing to do"
    portal = db.session.get(Portal, run.portal_id)
    if portal is None or portal.status != STATUS_ACTIVE:
        _stop_quietly((run.portal_id, run_id), "portal is not active")
        return "stopped"
    mine = _claim(run, attempt)
    if mine is None:
        return "not mine"
    lang = _lang(portal)
    key = (run.portal_id, run_id)
    try:
        with force_locale(lang):
            _steps(key, portal, mine)
    except Superseded:
        db.session.rollback()
        log.warning("report run %s: attempt %s superseded by a newer one, stopped", run_id, mine)
        return "superseded"
    except Exception as exc:  # noqa: BLE001  (every failure is retried, then reported to the admins)
        db.session.rollback()
        if E.needs_reinstall(exc):
            _own(key, mine, status="failed", error=f"portal needs reinstall: {E.root_code(exc)}"[:500],
                 finished_at=utcnow())
            log.warning("report run %s stopped: the portal needs a reinstall (%s)", run_id, E.root_code(exc))
            return "stopped"
        log.exception("report run %s attempt %s failed", run_id, mine)
        with force_locale(lang):
            return _failed(key, portal, mine, _error_text(exc))
    return "done"


def _lang(portal: Portal) -> str:
    return portal.language if portal.language in ("ru", "en") else "ru"


def _claim(run: ReportRun, attempt: int) -> int | None:
    now = utcnow()
    got = db.session.execute(
        update(_RUNS).where(_RUNS.c.portal_id == run.portal_id, _RUNS.c.id == run.id, _RUNS.c.status == "queued",
                            _RUNS.c.attempts == attempt)
        .values(status="running", attempts=attempt + 1, started_at=now, beat_at=now, error="")
        .returning(_RUNS.c.attempts)).scalar()
    db.session.commit()
    return got


def _owned(key: tuple[int, int], attempt: int):
    """The run (portal ID, run ID) while `attempt` owns it."""
    return and_(_RUNS.c.portal_id == key[0], _RUNS.c.id == key[1], _RUNS.c.attempts == attempt,
                _RUNS.c.status == "running")


def _load(key: tuple[int, int]) -> ReportRun:
    return db.session.scalars(select(ReportRun).where(ReportRun.portal_id == key[0], ReportRun.id == key[1])
                              .execution_options(populate_existing=True)).one()


def _own(key: tuple[int, int], attempt: int, **values) -> bool:
    """Write `values` if `attempt` still owns the run (in the session's transaction, committed); each write
    is a sign of life."""
    done = db.session.execute(update(_RUNS).where(_owned(key, attempt)).values(beat_at=utcnow(), **values)
                              .returning(_RUNS.c.id)).first()
    db.session.commit()
    return done is not None


def _must_own(key: tuple[int, int], attempt: int, **values) -> None:
    if not _own(key, attempt, **values):
        raise Superseded


def _stop_quietly(key: tuple[int, int], reason: str) -> None:
    db.session.execute(update(_RUNS).where(_RUNS.c.portal_id == key[0], _RUNS.c.id == key[1],
                                           _RUNS.c.status.in_(("queued", "running")))
                       .values(status="failed", error=reason, finished_at=utcnow()))
    db.session.commit()


def _progress_writer(key: tuple[int, int], attempt: int):
    """progress(percent, stage) for the workbook: written on a connection of its own, so the build's
    session keeps its reads; raises Superseded once the run is no longer this attempt's."""
    engine = db.engine

    def progress(percent: int, stage: str) -> None:
        value = max(0, min(BUILD_SHARE, int(percent * BUILD_SHARE / 100)))
        with engine.begin() as conn:
            owned = conn.execute(update(_RUNS).where(_owned(key, attempt))
                                 .values(progress=value, stage=str(stage)[:64], beat_at=utcnow())
                                 .returning(_RUNS.c.id)).first()
        if owned is None:
            raise Superseded

    return progress


def scope_of(run: ReportRun):
    from .workbook import Scope

    return Scope(departments=tuple(run.departments or ()),
                 users=None if run.users is None else tuple(run.users))


def disk_name(run: ReportRun) -> str:
    """The file's name on Disk: the workbook's, and for a manual run its number too (a scheduled run is the
    only one of its period and kind; manual runs of one period would otherwise take each other's file)."""
    if run.slot:
        return run.file_name
    stem, ext = os.path.splitext(run.file_name)
    return f"{stem} (№{run.id}){ext}"


def _steps(key: tuple[int, int], portal: Portal, mine: int) -> None:
    run_id = key[1]
    run = _load(key)
    started = run.started_at or utcnow()
    have = db.session.scalar(select(ReportFile.run_id).where(ReportFile.run_id == run_id,
                                                             ReportFile.portal_id == run.portal_id))
    if have is None or run.calls is None:
        _build(key, run, mine)
    run = _load(key)
    settings = db.session.scalar(select(ReportSettings).where(ReportSettings.portal_id == run.portal_id))
    if run.to_disk and not run.disk_file_id and settings is not None and settings.storage_id:
        _must_own(key, mine, progress=BUILD_SHARE, stage=gettext("Загрузка на Диск"))
        content = db.session.scalar(select(ReportFile.content).where(ReportFile.run_id == run_id,
                                                                     ReportFile.portal_id == run.portal_id))
        up = delivery.upload(portal, settings.storage_id, settings.folder_name, run.first.year, disk_name(run),
                             content)
        _must_own(key, mine, disk_file_id=up.file_id[:32], file_url=up.url[:1024])
        run = _load(key)
    if run.to_chat and not run.message_id and settings is not None and settings.dialog_id:
        _must_own(key, mine, progress=95, stage=gettext("Отправка сводки в чат"))
        message = chat_summary.text(run.portal_id, run.first, run.last, scope_of(run), run.file_url or None)
        message_id = delivery.post(portal, settings.dialog_id, message)
        _must_own(key, mine, message_id=str(message_id)[:32])
    finished = utcnow()
    _must_own(key, mine, status="done", progress=100, stage=gettext("Готово"), error="", finished_at=finished,
              seconds=round((finished - started).total_seconds(), 3))


def _build(key: tuple[int, int], run: ReportRun, mine: int) -> None:
    from . import workbook

    run_id, portal_id = run.id, run.portal_id
    out = io.BytesIO()
    built = workbook.build(portal_id, run.first, run.last, out, scope=scope_of(run),
                           progress=_progress_writer(key, mine))
    db.session.rollback()  # the build's reads end here; what follows is this attempt's writes
    db.session.execute(delete(ReportFile).where(ReportFile.run_id == run_id, ReportFile.portal_id == portal_id))
    db.session.add(ReportFile(run_id=run_id, portal_id=portal_id, content=out.getvalue()))
    done = db.session.execute(update(_RUNS).where(_owned(key, mine)).values(
        calls=int(built.calls), file_name=str(built.file_name)[:255], progress=BUILD_SHARE, beat_at=utcnow())
        .returning(_RUNS.c.id)).first()
    if done is None:
        db.session.rollback()
        raise Superseded
    db.session.commit()


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, E.BitrixError):
        return f"{E.root_code(exc)}: {exc.description}"[:500] if exc.description else E.root_code(exc)[:500]
    return f"{type(exc).__name__}: {exc}"[:500]


def _failed(key: tuple[int, int], portal: Portal, mine: int, error: str) -> str:
    """After a failed attempt: retry later, or (after the last) fail the run and tell the admins."""
    if mine < MAX_ATTEMPTS:
        if _own(key, mine, status="queued", error=error):
            execute_run.schedule(args=(key[1], mine), delay=backoff(mine))
            log.warning("report run %s attempt %s failed (%s); retry in %s s", key[1], mine, error, backoff(mine))
            return "retry"
        return "superseded"
    if not _own(key, mine, status="failed", error=error, finished_at=utcnow()):
        return "superseded"
    tell_admins(key, portal)
    return "failed"


def tell_admins(key: tuple[int, int], portal: Portal) -> int:
    """A notification to every admin of the app that the report was not delivered; how many were told."""
    from ..qa.feedback import admins

    run = _load(key)
    run_id = key[1]
    text = "\n".join([
        "[B]" + gettext("Отчёт по звонкам за %(period)s не отправлен",
                        period=chat_summary.period_text(run.first, run.last)) + "[/B]",
        gettext("Попыток: %(n)s. Последняя ошибка: %(error)s", n=run.attempts, error=run.error or "—"),
        gettext("Проверьте в настройках приложения раздел «Отчёты»: папку на Диске и чат. "
                "Отчёт можно отправить ещё раз кнопкой «Отправить сейчас»."),
    ])
    told = 0
    for user_id in admins(portal.id):
        try:
            delivery.notify(portal, user_id, text, f"cq_report_run_{run_id}")
            told += 1
        except E.BitrixError as exc:
            log.warning("report run %s: admin %s not told (%s)", run_id, user_id, E.root_code(exc))
    return told


def resume_stale(now: datetime | None = None) -> int:
    """Take up runs whose worker died: `running` with no sign of life of its attempt (claim, progress, a
    step) for JOB_STALE_AFTER, or `queued` that long past its backoff (its job was lost). Each is claimed by
    one conditional UPDATE, so of several sweeping workers one enqueues it; a running run at its last
    attempt is failed and reported instead. Returns the runs taken up."""
    now = now or utcnow()
    stale = timedelta(seconds=float(current_app.config.get("JOB_STALE_AFTER", 300)))
    alive_at = func.coalesce(_RUNS.c.beat_at, _RUNS.c.started_at, _RUNS.c.created_at)
    found = db.session.execute(
        select(_RUNS.c.id, _RUNS.c.portal_id, _RUNS.c.status, _RUNS.c.attempts)
        .join(Portal, Portal.id == _RUNS.c.portal_id)
        .where(_RUNS.c.status.in_(("queued", "running")), Portal.status == STATUS_ACTIVE,
               alive_at < now - stale)).all()
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
                    status="failed", error=gettext("Построение отчёта прервалось %(n)s раз подряд", n=attempts),
                    finished_at=now).returning(_RUNS.c.id)).first()
                db.session.commit()
                if gone is not None:
                    tell_admins((portal_id, run_id), portal)
                    taken += 1
            continue
        claimed = db.session.execute(update(_RUNS).where(where).values(status="queued", started_at=now,
                                                                       beat_at=now)
                                     .returning(_RUNS.c.id)).first()
        db.session.commit()
        if claimed is None:
            continue  # another worker's sweep, or the job itself, got there first
        log.warning("report run %s: %s with no sign of life since %s, taken up again", run_id, status,
                    cutoff.isoformat())
        execute_run(run_id, attempts)
        taken += 1
    return taken
