"""Column helpers shared by the feature models."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


def portal_fk() -> Mapped[int]:
    """Every tenant row names its portal; purge and scoping rely on this column."""
    return mapped_column(Integer, ForeignKey("portals.id", ondelete="CASCADE"), index=True, nullable=False)


def created_at() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
