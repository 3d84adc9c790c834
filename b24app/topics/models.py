"""Topic catalogue rows and the topic chosen for a call (kept by CALL_ID, so it may precede the call row)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..models_base import UtcDateTime, created_at, portal_fk, utcnow


class Topic(db.Model):
    """One entry of a portal's catalogue. Archived topics stay, so past calls keep their topic."""

    __tablename__ = "topics"
    __table_args__ = (Index("ix_topics_portal_position", "portal_id", "archived", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portal_id: Mapped[int] = portal_fk()
    name: Mapped[str] = mapped_column(String(80), nullable=False)
    group: Mapped[str] = mapped_column("group_name", String(80), nullable=False, default="")
    color: Mapped[str] = mapped_column(String(7), nullable=False, default="#2fc6f6")
    checklist_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("qa_checklists.id", ondelete="SET NULL"))
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    archived: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class CallTopic(db.Model):
    """The topic of one call. Keyed by the portal's CALL_ID: the popup may save it before CALLEND arrives."""

    __tablename__ = "call_topics"
    __table_args__ = (
        UniqueConstraint("portal_id", "call_id"),
        Index("ix_call_topics_portal_user_at", "portal_id", "chosen_by", "chosen_at"),
        Index("ix_call_topics_portal_topic", "portal_id", "topic_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portal_id: Mapped[int] = portal_fk()
    call_id: Mapped[str] = mapped_column(String(128), nullable=False)
    topic_id: Mapped[int] = mapped_column(Integer, ForeignKey("topics.id", ondelete="CASCADE"), nullable=False)
    chosen_by: Mapped[int | None] = mapped_column(Integer)       # portal user ID
    source: Mapped[str] = mapped_column(String(16), nullable=False, default="card")  # card chat settings
    chosen_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, nullable=False)


class TopicSettings(db.Model):
    """Per-portal catalogue and prompt settings."""

    __tablename__ = "topic_settings"
    __table_args__ = (UniqueConstraint("portal_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portal_id: Mapped[int] = portal_fk()
    order_by: Mapped[str] = mapped_column(String(16), nullable=False, default="usage")  # usage | manual
    prompt_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    reminder_minutes: Mapped[int] = mapped_column(Integer, nullable=False, default=30)  # 0 = no reminder
    digest_hour: Mapped[int | None] = mapped_column(Integer, default=18)                # portal-local hour; None = off
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class TopicBot(db.Model):
    """The app's chat bot on one portal (imbot.v2, fetch mode) and the prompt sweeper's per-portal state."""

    __tablename__ = "topic_bots"
    __table_args__ = (UniqueConstraint("portal_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portal_id: Mapped[int] = portal_fk()
    bot_id: Mapped[int | None] = mapped_column(Integer)
    command_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="none")  # none active unavailable
    error: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    event_offset: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # imbot.v2.Event.get cursor
    tz_offset_minutes: Mapped[int | None] = mapped_column(Integer)   # from the portal's `time.date_start`
    digest_on: Mapped[str] = mapped_column(String(10), nullable=False, default="")  # portal-local date of the last digest
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class TopicPrompt(db.Model):
    """One chat prompt for one call: claimed once (the unique row) before anything is sent."""

    __tablename__ = "topic_prompts"
    __table_args__ = (
        UniqueConstraint("portal_id", "call_id"),
        Index("ix_topic_prompts_status_due", "status", "due_at"),
        Index("ix_topic_prompts_portal_user_status", "portal_id", "user_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portal_id: Mapped[int] = portal_fk()
    call_id: Mapped[str] = mapped_column(String(128), nullable=False)
    user_id: Mapped[int] = mapped_column(Integer, nullable=False)        # the manager asked
    # pending → sending → sent (bot) | notified (fallback); → answering → answered (chat) | closed (elsewhere);
    # cancelled (no longer needs a topic before sending); failed (gave up sending); expired (never answered)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    channel: Mapped[str] = mapped_column(String(8), nullable=False, default="")  # bot | notify
    message_id: Mapped[int | None] = mapped_column(Integer)
    page: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    remind_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    reminded_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    topic_id: Mapped[int | None] = mapped_column(Integer)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)
