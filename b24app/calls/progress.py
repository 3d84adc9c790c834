"""History-import progress as the settings page shows it: rows, rate, time left."""

from __future__ import annotations

from sqlalchemy import select

from ..extensions import db
from .models import ImportRun


def latest_run(portal_id: int) -> ImportRun | None:
    return db.session.scalar(select(ImportRun).where(ImportRun.portal_id == portal_id)
                             .order_by(ImportRun.id.desc()).limit(1))


def progress(portal_id: int) -> dict:
    run = latest_run(portal_id)
    if run is None:
        return {"status": "none"}
    expected = run.rows_expected
    done = min(run.rows_done, expected) if expected is not None else run.rows_done
    elapsed = (run.heartbeat_at - run.started_at).total_seconds() if run.heartbeat_at and run.started_at else 0
    rate = done / elapsed if elapsed > 0 else None
    if run.status == "done":
        percent = 100.0
    elif expected:
        percent = round(100.0 * done / expected, 1)
    else:
        percent = 0.0
    eta = (expected - done) / rate if rate and expected and run.status == "running" else None
    return {"status": run.status, "rows_done": done, "rows_expected": expected, "percent": percent,
            "rate_per_s": round(rate, 1) if rate else None, "eta_s": round(eta) if eta is not None else None,
            "error": run.error if run.status != "done" else "", "days": (run.created_at - run.date_from).days}
