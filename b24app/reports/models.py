"""The report tables: a portal's report settings (schedule, Disk target, chat, scope) and every run
(scheduled or on demand) with its status, progress, file and the workbook's bytes while they are kept."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..models_base import UtcDateTime, created_at, portal_fk

KINDS = ("weekly", "monthly", "manual")
STATUSES = ("queued", "running", "done", "failed")


class ReportSettings(db.Model):
    """One row per portal (`models_base.row_for_portal`); `version` refuses a stale settings form."""

    __tablename__ = "report_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portal_id: Mapped[int] = mapped_column(Integer, ForeignKey("portals.id", ondelete="CASCADE"), unique=True,
                                           nullable=False)
    weekly: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    monthly: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    hour: Mapped[int] = mapped_column(Integer, nullable=False, default=9)            # portal-local hour 0..23
    storage_id: Mapped[str] = mapped_column(String(32), nullable=False, default="")  # disk.storage ID; "" = none
    storage_name: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    folder_name: Mapped[str] = mapped_column(String(255), nullable=False, default="Отчёты по звонкам")
    dialog_id: Mapped[str] = mapped_column(String(64), nullable=False, default="")   # "chat12"; "" = no summary
    chat_title: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    departments: Mapped[list] = mapped_column(JSON, nullable=False, default=list)    # [] = the whole company
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    updated_by: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class ReportRun(db.Model):
    """One report built (or being built) for a period.

    A scheduled run has a `slot` ("weekly:2026-11-30", "monthly:2026-11-01"): unique per portal, so a
    worker that catches up after downtime, or two workers at once, make it once. Manual runs have none.
    """

    __tablename__ = "report_runs"
    __table_args__ = (UniqueConstraint("portal_id", "slot", name="uq_report_runs_slot"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portal_id: Mapped[int] = portal_fk()
    kind: Mapped[str] = mapped_column(String(16), nullable=False)                  # KINDS
    slot: Mapped[str | None] = mapped_column(String(32), nullable=True)
    first: Mapped[date] = mapped_column(Date, nullable=False)                      # both days inclusive,
    last: Mapped[date] = mapped_column(Date, nullable=False)                       # portal-local
    departments: Mapped[list] = mapped_column(JSON, nullable=False, default=list)  # scope; [] = company
    users: Mapped[list | None] = mapped_column(JSON, nullable=True)                # None = by departments
    to_disk: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    to_chat: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    requested_by: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # 0 = the schedule
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")
    progress: Mapped[int] = mapped_column(Integer, nullable=False, default=0)      # 0..100
    stage: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[datetime] = created_at()
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # The attempt's last sign of life (claim, progress, each step): a build longer than JOB_STALE_AFTER is
    # alive while it moves, and only a run silent that long is taken from its worker.
    beat_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    calls: Mapped[int | None] = mapped_column(Integer, nullable=True)
    file_name: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    disk_file_id: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    file_url: Mapped[str] = mapped_column(String(1024), nullable=False, default="")  # external link or DETAIL_URL
    message_id: Mapped[str] = mapped_column(String(32), nullable=False, default="")  # the chat summary's id


class ReportFile(db.Model):
    """The workbook's bytes, for the browser's download and for a retried upload (kept a while, then purged)."""

    __tablename__ = "report_files"

    run_id: Mapped[int] = mapped_column(Integer, ForeignKey("report_runs.id", ondelete="CASCADE"), primary_key=True)
    portal_id: Mapped[int] = portal_fk()
    content: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[datetime] = created_at()
