"""Claims of periodic-task runs: one row per (task, due minute), so one process runs each."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..models_base import UtcDateTime, created_at


class PeriodicClaim(db.Model):
    """Written by the scheduler of whichever worker process reaches a due minute first.

    Every worker process runs huey's scheduler; the primary key makes the others' inserts no-ops,
    so a periodic task is enqueued once per due minute however many workers there are.
    """

    __tablename__ = "periodic_claims"

    task: Mapped[str] = mapped_column(String(200), primary_key=True)
    slot: Mapped[datetime] = mapped_column(UtcDateTime(), primary_key=True)  # the due minute, UTC
    claimed_by: Mapped[str] = mapped_column(String(120), nullable=False, default="")  # host:pid, for operators
    claimed_at: Mapped[datetime] = created_at()
