"""Jobs that process inbox rows, and the sweeper that re-enqueues rows whose job was lost."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app

from ..jobs import app_periodic_task, app_task, every_minutes
from . import service


@app_task(retries=5, retry_delay=15)
def process_event(inbox_id: int) -> str:
    return service.process(inbox_id)


@app_periodic_task(every_minutes("SWEEP_EVERY_MINUTES", 5))
def sweep_inbox() -> int:
    ids = service.stale_ids(timedelta(seconds=float(current_app.config.get("JOB_STALE_AFTER", 300))))
    for i in ids:
        process_event(i)
    return len(ids)
