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
from sqlalchemy import func, select, update

from ..bitrix import errors as E
from ..extensions import db
from ..jobs import app_periodic_task, app_task
from ..models_base import utcnow
from ..portals.models import STATUS_ACTIVE, Portal
from ..portals.rest import client_for
from ..qa.cards import queue_for
from . import store
from .bulk import CallWriter
from .models import Call, ImportRun

log = logging.getLogger(__name__)


def start_import(portal: Portal, days: int) -> ImportRun:
    """Queue an import of the last `days` days unless one is already queued or running."""
    running = db.session.scalar(select(ImportRun).where(ImportRun.portal_id == portal.id,
                                                        ImportRun.status.in_(("queued", "running"))))
    if running:
        return running
    run = ImportRun(portal_id=portal.id, date_from=utcnow() - timedelta(days=days), status="queued")
    db.session.add(run)
    db.session.commit()
    run_import(run.id)
    return run


@app_task(retries=3, retry_delay=60)
def run_import(run_id: int) -> str:
    run = db.session.get(ImportRun, run_id)
    if run is None or run.status == "done":
        return "nothing to do"
    portal = db.session.get(Portal, run.portal_id)
    if portal is None or portal.status != STATUS_ACTIVE:
        run.status, run.error = "failed", "portal is not active"
        db.session.commit()
        return run.status
    client = client_for(portal.member_id)
    # With its offset: a time without one is read by the portal in the portal's own zone.
    flt = {">=CALL_START_DATE": run.date_from.isoformat()}
    if run.rows_expected is None:
        run.rows_expected = int(client.call("voximplant.statistic.get", {"FILTER": flt, "start": 0}).total or 0)
    run.status, run.started_at, run.error = "running", run.started_at or utcnow(), ""
    db.session.commit()
    rules, departments = store.rules_for(portal.id), store.user_departments(portal.id)
    portal_id, member_id = portal.id, portal.member_id
    writer = _Writer(current_app._get_current_object(), run.id, portal_id, db.engine.dialect.name)

    def on_rows(rows: list[dict]) -> None:
        values = store.statistics_rows(rows, rules, departments)
        if values:
            writer.put(values)

    try:
        with _prompt_thread_switches():
            client.export("voximplant.statistic.get", {"FILTER": flt}, on_rows=on_rows, resume_from=run.resume_from)
    except E.ExportIncomplete as exc:
        writer.close()  # what was read is written before the resume point moves past it
        db.session.refresh(run)
        run.resume_from, run.error = exc.resume_from, f"{exc.cause}"[:500]
        db.session.commit()
        log.warning("portal=%s import %s paused at ID %s", member_id, run_id, exc.resume_from)
        raise
    finally:
        writer.close()  # a failed write keeps the old resume point: the retry reads those rows again
    db.session.refresh(run)
    run.status, run.finished_at = "done", utcnow()
    db.session.commit()
    return "done"


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

    def __init__(self, app, run_id: int, portal_id: int, dialect: str):
        self.app, self.run_id = app, run_id
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
            self.queue.put((len(part), work))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.queue.put(None)
            self.thread.join()
        if self.error is not None:
            err, self.error = self.error, None
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
        progress = update(ImportRun).where(ImportRun.id == self.run_id)
        out = self.out
        pending = 0  # rows written in the open transaction

        def commit() -> None:
            nonlocal pending
            if pending:
                out.flush(conn)
                conn.execute(progress.values(rows_done=ImportRun.rows_done + pending, heartbeat_at=utcnow()))
                conn.commit()
                pending = 0

        while (item := self.queue.get()) is not None:  # the prepared rows of (part of) one batch answer
            count, work = item
            if self.error is not None:
                continue  # drain, so the reader never blocks on a dead writer
            try:
                if not pending and conn.dialect.name == "postgresql":
                    # Safe to skip the flush wait: a crash loses at most the last commits, which
                    # the resumed import reads again; it never corrupts anything.
                    conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
                self._write(out, conn, work)
                pending += count
                if pending >= self.COMMIT_ROWS or self.queue.empty():
                    commit()
            except BaseException as exc:  # handed to the reader, which stops the export
                conn.rollback()
                pending = 0
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


def reconcile(portal: Portal) -> int:
    """Read statistics rows newer than the newest one we hold: calls whose events were lost."""
    last = db.session.scalar(select(func.max(Call.stat_id)).where(Call.portal_id == portal.id))
    flt = {">ID": int(last)} if last else {">=CALL_START_DATE": (utcnow() - timedelta(days=1)).isoformat()}
    rules, departments = store.rules_for(portal.id), store.user_departments(portal.id)
    seen = 0

    def on_rows(rows):
        nonlocal seen
        seen += len(rows)
        store.save_statistics(portal.id, rows, "reconcile", rules, departments)
        queue_for(portal.id, [str(r.get("CALL_ID")) for r in rows])

    client_for(portal.member_id).export("voximplant.statistic.get", {"FILTER": flt}, on_rows=on_rows)
    # Calls completed by an event whose statistics (vote, recording) were not read yet.
    pending = db.session.scalars(select(Call.call_id).where(
        Call.portal_id == portal.id, Call.ended.is_(True), Call.enriched.is_(False))).all()
    if pending:
        res = client_for(portal.member_id).list_all("voximplant.statistic.get", {"FILTER": {"CALL_ID": list(pending)}})
        seen += len(res)
        store.save_statistics(portal.id, res, "reconcile", rules, departments)
        queue_for(portal.id, [str(r.get("CALL_ID")) for r in res])
    return seen


@app_periodic_task(crontab(minute="*/5"))
def reconcile_all() -> int:
    total = 0
    for portal in db.session.scalars(select(Portal).where(Portal.status == STATUS_ACTIVE)).all():
        try:
            total += reconcile(portal)
        except E.BitrixError as exc:
            log.warning("portal=%s reconcile failed: %s", portal.member_id, exc.code)
    return total
