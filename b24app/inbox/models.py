"""The event inbox: every accepted event is a row before the portal gets its 200."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..models_base import UtcDateTime, created_at, portal_fk

NEW, PROCESSING, DONE, FAILED = "new", "processing", "done", "failed"


class InboxEvent(db.Model):
    __tablename__ = "event_inbox"
    __table_args__ = (UniqueConstraint("portal_id", "dedup_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portal_id: Mapped[int] = portal_fk()
    event: Mapped[str] = mapped_column(String(64), nullable=False)
    dedup_key: Mapped[str] = mapped_column(String(128), nullable=False)
    payload: Mapped[str] = mapped_column(Text, nullable=False)  # JSON of data + ts, never the tokens
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=NEW, index=True)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str] = mapped_column(Text, nullable=False, default="")
    received_at: Mapped[datetime] = created_at()
    processed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
