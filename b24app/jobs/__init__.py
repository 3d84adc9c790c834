"""The job queue: one Huey instance whose storage is chosen by config (SQLite, Redis, or inline).

Tasks are declared with `app_task`, which runs them inside the Flask app's context, so feature
code reads `db` and config the same way in a view, a worker thread or an inline test run.
Periodic tasks (`app_periodic_task`) are enqueued once per due minute however many worker
processes run their schedulers: each due minute is claimed in the database first.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
from datetime import UTC, datetime, timedelta

from flask import Flask, current_app, has_app_context
from huey import Huey
from huey.storage import RedisStorage, SqliteStorage
from sqlalchemy import delete, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ..bitrix import errors as E
from ..extensions import db
from .models import PeriodicClaim

log = logging.getLogger(__name__)

# Immediate mode with in-memory storage until init_app says otherwise: no IO at import time.
huey = Huey("b24app", immediate=True, utc=True)
_app: Flask | None = None


def init_app(app: Flask) -> None:
    global _app
    _app = app
    cfg = app.config
    if cfg.get("JOBS_IMMEDIATE"):
        huey.immediate = True
        return
    huey._immediate = False
    if cfg.get("REDIS_URL"):
        huey.storage = RedisStorage("b24app", url=cfg["REDIS_URL"])
    else:
        huey.storage = SqliteStorage("b24app", filename=cfg["HUEY_SQLITE_PATH"])


def _in_app_context(fn):
    """Run `fn` in the current app context, else in the worker's app."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        if has_app_context():
            return fn(*args, **kwargs)
        if _app is None:
            raise RuntimeError("jobs.init_app() was not called")
        with _app.app_context():
            return fn(*args, **kwargs)

    return run


def _stops_for_reinstall(fn):
    """A job of a portal whose tokens are revoked (or the app removed) ends quietly, without retries.

    Only a reinstall helps such a portal; the REST client has already marked it `needs_reinstall`,
    and the sweeps and reconcile catch up what was left undone once it is active again. Retrying
    would only repeat the refusal, and each failure would log a traceback.
    """

    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except E.BitrixError as exc:
            if not E.needs_reinstall(exc):
                raise
            log.warning("%s%r stopped: the portal needs a reinstall (%s)", fn.__name__, args, E.root_code(exc))
            return "portal needs reinstall"

    return run


def app_task(**task_kwargs):
    """`huey.task` whose body runs inside the app context (the current one, else the worker's app)."""
    return lambda fn: huey.task(**task_kwargs)(_in_app_context(_stops_for_reinstall(fn)))


def app_periodic_task(validate_datetime, **task_kwargs):
    """`huey.periodic_task` in the app context, enqueued by one process per due minute.

    Every `flask worker` process runs huey's scheduler, and each would enqueue every due task:
    with two workers, two reconciles, two sweeps, two bot loops each tick. The scheduler asks the
    task's `validate_datetime` before enqueueing, so that check also claims the (task, minute)
    slot; the other schedulers find it taken. Calling the task directly (tests, inline mode) is
    not a scheduled run and claims nothing.
    """

    def decorator(fn):
        name = f"{fn.__module__}.{fn.__name__}"

        def due_and_claimed(when: datetime) -> bool:
            return bool(validate_datetime(when)) and claim_slot(name, when)

        return huey.periodic_task(due_and_claimed, **task_kwargs)(_in_app_context(_stops_for_reinstall(fn)))

    return decorator


def every_minutes(config_key: str, default: int):
    """A periodic schedule of every N minutes of the day (N from the app's config, read when checked).

    N = 5 is crontab(minute="*/5"); a config value lets an operator (or a test) change the cadence
    without touching code. Minutes are counted from midnight UTC, so N need not divide 60.
    """

    def due(when: datetime) -> bool:
        cfg = current_app.config if has_app_context() else (_app.config if _app is not None else {})
        every = max(1, int(cfg.get(config_key) or default))
        return (when.hour * 60 + when.minute) % every == 0

    return due


# Run once by `flask worker` before it consumes (in the app context): checks that should not wait for
# the first periodic tick, e.g. an import whose worker died and which this restart should resume.
WORKER_START: list = []


def at_worker_start(fn):
    WORKER_START.append(fn)
    return fn


def run_worker_start() -> None:
    for fn in WORKER_START:
        try:
            fn()
        except Exception:  # the periodic run of the same check comes a minute later
            log.exception("worker start check %s failed", fn.__name__)


# Claims older than this are deleted as new ones land: long enough for an operator to look back on a
# day's runs, short enough that the table stays a few thousand rows.
CLAIMS_KEPT = timedelta(days=2)
_WHO = f"{socket.gethostname()}:{os.getpid()}"[:120]


def claim_slot(task: str, when: datetime) -> bool:
    """Claim the run of `task` due in the minute of `when` (naive = UTC); True for exactly one caller.

    A database error counts as not claimed: skipping one run is safe (the next minute or the sweeps
    catch up), running it twice is what this prevents.
    """
    slot = (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC).replace(second=0, microsecond=0)
    try:
        if has_app_context():
            return _claim(task, slot)
        if _app is None:
            raise RuntimeError("jobs.init_app() was not called")
        with _app.app_context():
            return _claim(task, slot)
    except SQLAlchemyError as exc:
        log.warning("periodic task %s due %s not claimed (skipped): %s", task, slot, type(exc).__name__)
        return False


def _claim(task: str, slot: datetime) -> bool:
    values = {"task": task, "slot": slot, "claimed_by": _WHO, "claimed_at": datetime.now(UTC)}
    dialect = db.engine.dialect.name
    # ON CONFLICT DO NOTHING: the loser gets no row back rather than an error in the database's log
    # every minute for every task. (RETURNING, not rowcount: psycopg's count here is -1.)
    if dialect == "postgresql":
        stmt = postgresql.insert(PeriodicClaim).values(values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        stmt = sqlite.insert(PeriodicClaim).values(values).on_conflict_do_nothing()
    else:
        stmt = insert(PeriodicClaim).values(values)
    try:
        with db.engine.begin() as conn:
            won = conn.execute(stmt.returning(PeriodicClaim.task)).first() is not None
            if won:
                conn.execute(delete(PeriodicClaim).where(PeriodicClaim.task == task,
                                                         PeriodicClaim.slot < slot - CLAIMS_KEPT))
    except IntegrityError:
        return False
    return won


def current_config(name: str, default=None):
    return current_app.config.get(name, default)
