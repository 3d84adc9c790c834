"""The app's copy of call facts, the per-portal selection rules, and history-import progress."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..models_base import UtcDateTime, created_at, portal_fk, utcnow


class Call(db.Model):
    """One call, merged from CALLINIT/CALLSTART/CALLEND events and voximplant.statistic.get rows."""

    __tablename__ = "calls"
    __table_args__ = (
        UniqueConstraint("portal_id", "call_id"),
        Index("ix_calls_portal_start", "portal_id", "call_start_date"),
        Index("ix_calls_portal_stat", "portal_id", "stat_id"),
        Index("ix_calls_portal_user_start", "portal_id", "portal_user_id", "call_start_date"),
        Index("ix_calls_portal_qa_item", "portal_id", "qa_item_id"),  # the card's tab finds its call by card id
        Index("ix_calls_portal_phone_start", "portal_id", "phone_number", "call_start_date"),  # callbacks
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    portal_id: Mapped[int] = portal_fk(constraint=False)  # no per-row FK check: see portal_fk
    call_id: Mapped[str] = mapped_column(String(128), nullable=False)
    stat_id: Mapped[int | None] = mapped_column(BigInteger)            # voximplant.statistic.get ID
    call_type: Mapped[int | None] = mapped_column(Integer)
    phone_number: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    portal_number: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    portal_user_id: Mapped[int | None] = mapped_column(Integer)
    call_start_date: Mapped[datetime | None] = mapped_column(UtcDateTime())
    duration: Mapped[int | None] = mapped_column(Integer)
    failed_code: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    failed_reason: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    vote: Mapped[int | None] = mapped_column(Integer)
    cost: Mapped[float | None] = mapped_column(Float)
    record_file_id: Mapped[int | None] = mapped_column(BigInteger)
    crm_entity_type: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    crm_entity_id: Mapped[int | None] = mapped_column(BigInteger)
    crm_activity_id: Mapped[int | None] = mapped_column(BigInteger)
    rest_app_id: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    ring_at: Mapped[datetime | None] = mapped_column(UtcDateTime())      # CALLINIT
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())  # CALLSTART
    answered_by: Mapped[int | None] = mapped_column(Integer)
    ended: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)     # CALLEND or a statistics row
    enriched: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)  # statistics row read
    source: Mapped[str] = mapped_column(String(16), nullable=False, default="event")
    conversation: Mapped[int | None] = mapped_column(Integer)
    selection: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    qa_item_id: Mapped[int | None] = mapped_column(BigInteger)
    scored_at: Mapped[datetime | None] = mapped_column(UtcDateTime())  # set by scoring; locks the topic
    # A missed incoming call's callback: the first connected call with the same number within the
    # window, resolved by the analytics recount when either call arrives (analytics/recount.py).
    callback_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    callback_by: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)

    @property
    def wait_seconds(self) -> float | None:
        if self.ring_at and self.answered_at:
            return max(0.0, (self.answered_at - self.ring_at).total_seconds())
        return None


class CallSettings(db.Model):
    """Per-portal selection rules and intake settings, as the settings page edits them."""

    __tablename__ = "call_settings"
    __table_args__ = (UniqueConstraint("portal_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portal_id: Mapped[int] = portal_fk()
    rules: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    import_days: Mapped[int] = mapped_column(Integer, nullable=False, default=90)
    # The statistics ID reconcile reads on from: the newest row reconcile itself has read, not the newest
    # call held (a delivered call enriched first would hide an older one whose events were lost).
    reconcile_from: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class ImportRun(db.Model):
    """A history import: progress that survives reloads and a cursor that survives crashes."""

    __tablename__ = "call_import_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portal_id: Mapped[int] = portal_fk()
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")  # queued running done failed
    date_from: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False)
    resume_from: Mapped[int | None] = mapped_column(BigInteger)
    rows_done: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    rows_expected: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime())  # kept fresh while a worker runs it
    # Which run of the job owns the import: a sweep that resumes a run whose worker died takes the
    # next number, and a job holding an older one stops (so two never import at once).
    attempt: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    error: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[datetime] = created_at()
