"""Jobs that process inbox rows, and the sweeper that re-enqueues rows whose job was lost."""

from __future__ import annotations

from huey import crontab

from ..jobs import app_periodic_task, app_task
from . import service


@app_task(retries=5, retry_delay=15)
def process_event(inbox_id: int) -> str:
    return service.process(inbox_id)


@app_periodic_task(crontab(minute="*/5"))
def sweep_inbox() -> int:
    ids = service.stale_ids()
    for i in ids:
        process_event(i)
    return len(ids)
