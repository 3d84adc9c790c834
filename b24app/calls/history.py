"""History import and reconcile over voximplant.statistic.get: resumable, never duplicating a call."""

from __future__ import annotations

import logging
import queue
import sys
import threading
from contextlib import contextmanager
from datetime import timedelta

from flask import current_app
from huey import crontab
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from ..bitrix import errors as E
from ..extensions import db
from ..jobs import app_periodic_task, app_task, at_worker_start, every_minutes
from ..models_base import row_for_portal, utcnow
from ..portals.models import STATUS_ACTIVE, Portal
from ..portals.rest import client_for
from ..qa.cards import queue_for, requeue_lost_cards
from . import store
from .bulk import CallWriter
from .models import Call, CallSettings, ImportRun

log = logging.getLogger(__name__)


class Superseded(Exception):
    """A sweep gave this import to a newer attempt (its worker looked dead): stop and change nothing."""


_RUNS = ImportRun.__table__


def start_import(portal: Portal, days: int) -> ImportRun:
    """Queue an import of the last `days` days unless one is already queued or running."""
    running = db.session.scalar(select(ImportRun).where(ImportRun.portal_id == portal.id,
                                                        ImportRun.status.in_(("queued", "running"))))
    if running:
        return running
    run = ImportRun(portal_id=portal.id, date_from=utcnow() - timedelta(days=days), status="queued", attempt=1)
    db.session.add(run)
    db.session.commit()
    run_import(run.id, run.attempt)
    return run


def _own(run: tuple[int, int], attempt: int, **values) -> bool:
    """Change the run (portal ID, run ID) if `attempt` still owns it and it is not done; False once a
    sweep took it over."""
    portal_id, run_id = run
    owned = db.session.execute(update(_RUNS).where(_RUNS.c.portal_id == portal_id, _RUNS.c.id == run_id,
                                                   _RUNS.c.attempt == attempt, _RUNS.c.status != "done")
                               .values(**values).returning(_RUNS.c.id)).first()
    db.session.commit()
    return owned is not None


@app_task(retries=3, retry_delay=60)
def run_import(run_id: int, attempt: int | None = None) -> str:
    """Import (or resume) one run as its `attempt`; None: whichever attempt the run is at.

    A run whose worker died is resumed by `resume_stale` with the next attempt number; an older
    attempt still running somewhere notices at its next heartbeat or commit and stops.
    """
    run = db.session.get(ImportRun, run_id)
    if run is None or run.status in ("done", "failed"):  # a failed run is followed by a new one (reinstall)
        return "nothing to do"
    attempt = run.attempt if attempt is None else attempt
    key = (run.portal_id, run_id)
    portal = db.session.get(Portal, run.portal_id)
    if portal is None or portal.status != STATUS_ACTIVE:
        _own(key, attempt, status="failed", error="portal is not active")
        return "failed"
    member_id = portal.member_id
    try:
        return _import(run, portal, attempt)
    except Superseded:
        log.warning("portal=%s import %s: attempt %s superseded by a newer one, stopped", member_id, run_id, attempt)
        return "superseded"
    except E.BitrixError as exc:
        if not E.needs_reinstall(exc):
            raise
        # Retrying cannot help; the run says why it stopped, and a reinstall starts the import again.
        db.session.rollback()
        _own(key, attempt, status="failed", error=f"portal needs reinstall: {E.root_code(exc)}"[:500])
        log.warning("portal=%s import %s stopped: the portal needs a reinstall (%s)", member_id, run_id,
                    E.root_code(exc))
        return "failed"


def _import(run: ImportRun, portal: Portal, attempt: int) -> str:
    run_id, key = run.id, (portal.id, run.id)
    values = {"status": "running", "heartbeat_at": utcnow(), "error": ""}
    if run.started_at is None:
        values["started_at"] = values["heartbeat_at"]
    if run.resume_from is not None:
        # Rows at or after the resume point are read again: count what is held below it, so the
        # progress counts each row once however often the import was interrupted.
        values["rows_done"] = db.session.scalar(select(func.count()).select_from(Call).where(
            Call.portal_id == portal.id, Call.stat_id < run.resume_from, Call.call_start_date >= run.date_from))
    if not _own(key, attempt, **values):
        raise Superseded
    db.session.refresh(run)
    client = client_for(portal.member_id)
    # With its offset: a time without one is read by the portal in the portal's own zone.
    flt = {">=CALL_START_DATE": run.date_from.isoformat()}
    if run.rows_expected is None:
        expected = int(client.call("voximplant.statistic.get", {"FILTER": flt, "start": 0}).total or 0)
        if not _own(key, attempt, rows_expected=expected):
            raise Superseded
    rules, departments = store.rules_for(portal.id), store.user_departments(portal.id)
    portal_id, member_id, resume_from = portal.id, portal.member_id, run.resume_from
    stale = float(current_app.config.get("JOB_STALE_AFTER", 300))
    beat = _Heartbeat(db.engine, key, attempt, every=max(0.5, stale / 5))
    writer = _Writer(current_app._get_current_object(), run_id, attempt, portal_id, db.engine.dialect.name)

    def on_rows(rows: list[dict]) -> None:
        if beat.lost.is_set():
            raise Superseded
        values = store.statistics_rows(rows, rules, departments)
        if values:
            writer.put(values)

    try:
        try:
            with _prompt_thread_switches():
                client.export("voximplant.statistic.get", {"FILTER": flt}, on_rows=on_rows,
                              resume_from=resume_from, on_progress=writer.mark)
        except E.ExportIncomplete as exc:
            writer.close()  # what was read is written before the resume point moves past it
            if not _own(key, attempt, resume_from=exc.resume_from, error=f"{exc.cause}"[:500]):
                raise Superseded from exc
            log.warning("portal=%s import %s paused at ID %s", member_id, run_id, exc.resume_from)
            raise
        except BaseException:
            writer.close(quiet=True)  # the resume point stays where the last commit left it
            raise
        writer.close()
    finally:
        beat.stop()
    if not _own(key, attempt, status="done", finished_at=utcnow()):
        raise Superseded
    store.committed(portal_id)  # the days the import marked are counted now, once (see _ImportWriter)
    return "done"


class _Heartbeat:
    """Keeps the run's heartbeat fresh while this attempt works, however long the portal makes it wait.

    A run whose heartbeat is older than JOB_STALE_AFTER is taken for dead and resumed by the sweep;
    if that happened to this attempt anyway (the process hung), `lost` is set and the import stops.
    """

    def __init__(self, engine, run: tuple[int, int], attempt: int, every: float):
        self.engine, self.every = engine, every
        self.beat = (update(_RUNS).where(_RUNS.c.portal_id == run[0], _RUNS.c.id == run[1], _RUNS.c.attempt == attempt,
                                         _RUNS.c.status == "running").returning(_RUNS.c.id))
        self.lost, self._stop = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._loop, name="import-heartbeat", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                with self.engine.begin() as conn:
                    owned = conn.execute(self.beat.values(heartbeat_at=utcnow())).first() is not None
            except SQLAlchemyError as exc:  # the next beat tries again; the writer's commits beat too
                log.warning("import heartbeat not written: %s", type(exc).__name__)
                continue
            if not owned:
                self.lost.set()
                return

    def stop(self) -> None:
        self._stop.set()
        self.thread.join()


def resume_stale(now=None) -> int:
    """Resume imports whose worker died: queued or running, no heartbeat for JOB_STALE_AFTER seconds.

    Each is claimed by one conditional UPDATE that moves it to the next attempt (and freshens its
    heartbeat), so of several workers sweeping at once exactly one enqueues it. The resumed job
    reads on from the run's resume point; the upsert by CALL_ID keeps every call once.
    """
    now = now or utcnow()
    cutoff = now - timedelta(seconds=float(current_app.config.get("JOB_STALE_AFTER", 300)))
    stale = or_(_RUNS.c.heartbeat_at < cutoff, and_(_RUNS.c.heartbeat_at.is_(None), _RUNS.c.created_at < cutoff))
    found = db.session.execute(
        select(_RUNS.c.portal_id, _RUNS.c.id, _RUNS.c.attempt).join(Portal, Portal.id == _RUNS.c.portal_id)
        .where(_RUNS.c.status.in_(("queued", "running")), Portal.status == STATUS_ACTIVE, stale)).all()
    db.session.commit()
    resumed = 0
    for portal_id, run_id, attempt in found:
        claimed = db.session.execute(
            update(_RUNS).where(_RUNS.c.portal_id == portal_id, _RUNS.c.id == run_id, _RUNS.c.attempt == attempt,
                                _RUNS.c.status.in_(("queued", "running")), stale)
            .values(attempt=attempt + 1, heartbeat_at=now).returning(_RUNS.c.attempt)).scalar()
        db.session.commit()
        if claimed is None:
            continue  # another worker's sweep (or the job itself) got there first
        log.warning("import %s: no heartbeat since %s, resumed as attempt %s", run_id, cutoff.isoformat(), claimed)
        run_import(run_id, claimed)
        resumed += 1
    return resumed


at_worker_start(resume_stale)


@app_periodic_task(crontab(minute="*"))
def resume_stale_imports() -> int:
    return resume_stale()


@contextmanager
def _prompt_thread_switches(seconds: float = 0.001):
    """Hand the GIL over sooner while an import runs.

    The writer thread comes back from the database after each statement and waits for the GIL,
    by default up to 5 ms, while the reader converts rows; that idles the database a third of the
    time. The setting is the process's, so it is put back afterwards.
    """
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, seconds))
    try:
        yield
    finally:
        sys.setswitchinterval(before)


class _Writer:
    """Writes converted rows on its own thread and connection while the export reads on.

    The driver leaves the GIL while the database works, so reading, converting and writing overlap.
    Rows and the progress they make are committed together, `COMMIT_ROWS` at a time (sooner when the
    reader has nothing more yet): small transactions rewrite the same index pages again and again.
    The queue is short, which bounds memory and makes a slow database slow the reader down instead
    of piling rows up.
    """

    COMMIT_ROWS = 50_000
    QUEUED = 8  # prepared batch answers waiting for the writer (a few MB)
    # SQLite, for the writer's connection only: the import touches the whole of the unique CALL_ID
    # index (the default cache is 2 MB), and checkpoints that come every 4 MB of WAL rewrite the same
    # index pages into the database file again and again.
    SQLITE_PRAGMAS = {"cache_size": (-32_768, -2_000), "wal_autocheckpoint": (10_000, 1_000)}

    def __init__(self, app, run_id: int, attempt: int, portal_id: int, dialect: str):
        self.app, self.run_id, self.attempt, self.portal_id = app, run_id, attempt, portal_id
        self.out = CallWriter(dialect, portal_id, store.IMPORT_COLUMNS, update=store.STAT_UPDATE, source="import")
        self.queue: queue.Queue = queue.Queue(maxsize=self.QUEUED)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._loop, name="import-writer", daemon=True)
        self.thread.start()
        self.closed = False

    def put(self, rows: list[tuple]) -> None:
        """Hand rows over (prepared here, on the reader's thread); the writer commits every `COMMIT_ROWS`."""
        for start in range(0, len(rows), self.COMMIT_ROWS):
            if self.error is not None:
                raise self.error
            part = rows[start:start + self.COMMIT_ROWS]
            work = self.out.prepare(part)
            starts = {r[store.START] for r in part}  # the days the analytics recount after the commit
            self.queue.put((len(part), work, None, starts))

    def mark(self, resume_from: int) -> None:
        """Every row below `resume_from` has been handed over: it is committed with (or after) them."""
        if self.error is not None:
            raise self.error
        self.queue.put((0, None, int(resume_from), ()))

    def close(self, quiet: bool = False) -> None:
        if not self.closed:
            self.closed = True
            self.queue.put(None)
            self.thread.join()
        if self.error is not None:
            err, self.error = self.error, None
            if not quiet:
                raise err

    def _loop(self) -> None:
        with self.app.app_context(), db.engine.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:
                for name, (value, _) in self.SQLITE_PRAGMAS.items():
                    conn.exec_driver_sql(f"PRAGMA {name} = {value}")
            try:
                self._consume(conn)
            finally:
                if sqlite:  # the connection goes back to the pool as it came
                    for name, (_, value) in self.SQLITE_PRAGMAS.items():
                        conn.exec_driver_sql(f"PRAGMA {name} = {value}")

    def _consume(self, conn) -> None:
        # Progress only while this attempt owns the run: a superseded writer's rows roll back with it.
        progress = (update(_RUNS).where(_RUNS.c.portal_id == self.portal_id, _RUNS.c.id == self.run_id,
                                        _RUNS.c.attempt == self.attempt)
                    .returning(_RUNS.c.id))
        out = self.out
        pending = 0  # rows written in the open transaction
        resume_from = committed_from = None  # the latest resume point handed over / committed

        starts: set = set()  # start moments of the rows in the open transaction

        def commit() -> None:
            nonlocal pending, committed_from
            if pending or resume_from != committed_from:
                out.flush(conn)
                store.changed(self.portal_id, starts=starts, conn=conn)
                values = {"rows_done": _RUNS.c.rows_done + pending, "heartbeat_at": utcnow()}
                if resume_from is not None:
                    values["resume_from"] = resume_from
                if conn.execute(progress.values(**values)).first() is None:
                    raise Superseded
                conn.commit()
                pending, committed_from = 0, resume_from
                starts.clear()
                # The marked days are counted when the import is done, not after each commit: a day
                # recounted every time more of its calls arrive would cost the import half its speed.

        while (item := self.queue.get()) is not None:  # the prepared rows of (part of) one batch answer
            count, work, mark, item_starts = item
            if self.error is not None:
                continue  # drain, so the reader never blocks on a dead writer
            try:
                if work is None:
                    resume_from = mark
                else:
                    if not pending and conn.dialect.name == "postgresql":
                        # Safe to skip the flush wait: a crash loses at most the last commits, which
                        # the resumed import reads again; it never corrupts anything.
                        conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
                    self._write(out, conn, work)
                    pending += count
                    starts.update(item_starts)
                if pending >= self.COMMIT_ROWS or self.queue.empty():
                    commit()
            except BaseException as exc:  # handed to the reader, which stops the export
                conn.rollback()
                pending = 0
                starts.clear()
                self.error = exc
        if self.error is None:
            try:
                commit()
            except BaseException as exc:
                conn.rollback()
                self.error = exc

    @staticmethod
    def _write(out: CallWriter, conn, work: list) -> None:
        out.add(conn, work, prepared=True)


def _reconcile_cursor(portal_id: int) -> tuple[CallSettings, int | None]:
    settings = row_for_portal(CallSettings, portal_id, rules={}, import_days=90)
    if settings.reconcile_from is not None:
        return settings, settings.reconcile_from
    # Before the first reconcile: from the newest row the import read (rows after it came live). Not
    # the newest call of all: a live call enriched by its event may be newer than one whose were lost.
    last = db.session.scalar(select(func.max(Call.stat_id)).where(Call.portal_id == portal_id,
                                                                 Call.source == "import"))
    return settings, last


def reconcile(portal: Portal) -> int:
    """Read the statistics rows added since the last reconcile: calls whose events were lost.

    Its cursor is the newest row it has itself read, so a call whose events were lost is found
    even when newer calls came in by their events meanwhile. Then it fills in calls completed by an
    event whose statistics were not read yet, and enqueues the cards whose job was lost.
    """
    rules, departments = store.rules_for(portal.id), store.user_departments(portal.id)
    seen = 0
    importing = db.session.scalar(select(func.count()).select_from(ImportRun).where(
        ImportRun.portal_id == portal.id, ImportRun.status.in_(("queued", "running"))))
    # While the history import runs, the rows past any cursor are mostly history it has not reached yet:
    # reading them would import them twice over and make QA cards of old calls. The import reads
    # every row up to its start; the first reconcile after it goes on from the newest it read.
    if not importing:
        settings, last = _reconcile_cursor(portal.id)
        flt = {">ID": int(last)} if last else {">=CALL_START_DATE": (utcnow() - timedelta(days=1)).isoformat()}
        newest = int(last or 0)

        def on_rows(rows):
            nonlocal seen, newest
            seen += len(rows)
            newest = max([newest, *(int(r.get("ID") or 0) for r in rows)])
            store.save_statistics(portal.id, rows, "reconcile", rules, departments)
            queue_for(portal.id, [str(r.get("CALL_ID")) for r in rows])

        client_for(portal.member_id).export("voximplant.statistic.get", {"FILTER": flt}, on_rows=on_rows)
        if newest and newest != settings.reconcile_from:  # the whole export was read: move the cursor past it
            db.session.execute(update(CallSettings).where(CallSettings.portal_id == portal.id)
                               .values(reconcile_from=newest))
            db.session.commit()
    # Calls completed by an event whose statistics (vote, recording) were not read yet.
    pending = db.session.scalars(select(Call.call_id).where(
        Call.portal_id == portal.id, Call.ended.is_(True), Call.enriched.is_(False))).all()
    if pending:
        res = client_for(portal.member_id).list_all("voximplant.statistic.get", {"FILTER": {"CALL_ID": list(pending)}})
        seen += len(res)
        store.save_statistics(portal.id, res, "reconcile", rules, departments)
        queue_for(portal.id, [str(r.get("CALL_ID")) for r in res])
    requeue_lost_cards(portal.id, timedelta(seconds=float(current_app.config.get("JOB_STALE_AFTER", 300))))
    return seen


@app_periodic_task(every_minutes("RECONCILE_EVERY_MINUTES", 5))
def reconcile_all() -> int:
    total = 0
    for portal in db.session.scalars(select(Portal).where(Portal.status == STATUS_ACTIVE)).all():
        try:
            total += reconcile(portal)
        except E.BitrixError as exc:
            log.warning("portal=%s reconcile failed: %s", portal.member_id, E.root_code(exc))
    return total
