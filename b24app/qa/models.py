"""Where a portal's QA smart process lives (its two IDs, stages, fields) and the reviewer rotation."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..models_base import UtcDateTime, created_at, portal_fk, utcnow


class QaSetup(db.Model):
    __tablename__ = "qa_setup"
    __table_args__ = (UniqueConstraint("portal_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portal_id: Mapped[int] = portal_fk()
    type_id: Mapped[int | None] = mapped_column(Integer)          # crm.type id (user fields: CRM_<id>)
    entity_type_id: Mapped[int | None] = mapped_column(Integer)   # crm.item.* and placement codes
    category_id: Mapped[int | None] = mapped_column(Integer)
    stages: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)   # review/done/short/skipped → STATUS_ID
    fields: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)   # key → UF_CRM_<id>_<POSTFIX>
    reviewer_cursor: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=utcnow)


class Checklist(db.Model):
    """A scoring form: sections of items, each with a weight, maybe critical, maybe N/A (DESIGN §5)."""

    __tablename__ = "qa_checklists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portal_id: Mapped[int] = portal_fk()
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    # [{"title": str, "items": [{"text": str, "weight": int, "critical": bool, "na_allowed": bool}]}]
    sections: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    archived: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)
