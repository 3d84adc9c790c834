"""The job queue: one Huey instance whose storage is chosen by config (SQLite, Redis, or inline).

Tasks are declared with `app_task`, which runs them inside the Flask app's context, so feature
code reads `db` and config the same way in a view, a worker thread or an inline test run.
"""

from __future__ import annotations

import functools

from flask import Flask, current_app, has_app_context
from huey import Huey
from huey.storage import RedisStorage, SqliteStorage

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


def app_task(**task_kwargs):
    """`huey.task` whose body runs inside the app context (the current one, else the worker's app)."""
    return lambda fn: huey.task(**task_kwargs)(_in_app_context(fn))


def app_periodic_task(validate_datetime, **task_kwargs):
    return lambda fn: huey.periodic_task(validate_datetime, **task_kwargs)(_in_app_context(fn))


def current_config(name: str, default=None):
    return current_app.config.get(name, default)
