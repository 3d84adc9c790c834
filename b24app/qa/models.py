"""Where a portal's QA smart process lives (its two IDs, stages, fields) and the reviewer rotation."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, UniqueConstraint, text
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
    # The current version's content (a copy, so lookups need no join):
    # [{"title": str, "items": [{"id": str, "text": str, "hint": str, "weight": int, "scale": str,
    #   "max_points": int, "critical": bool, "na_allowed": bool}]}]
    sections: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)  # number of the current version
    next_item: Mapped[int] = mapped_column(Integer, nullable=False, default=1)  # item ids are never reused
    archived: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class ChecklistVersion(db.Model):
    """One saved state of a checklist. A score names the version it was made with; a used version is
    never edited again (saving makes the next one), and items keep their `id` across versions."""

    __tablename__ = "qa_checklist_versions"
    __table_args__ = (UniqueConstraint("checklist_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portal_id: Mapped[int] = portal_fk()
    checklist_id: Mapped[int] = mapped_column(ForeignKey("qa_checklists.id", ondelete="CASCADE"), nullable=False)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    sections: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    used: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)  # a score was made with it
    created_by: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = created_at()


class QaScore(db.Model):
    """A reviewer's answers for one QA card: a draft while being filled, then submitted or unscorable.

    `revision` grows on every write; a form carries the revision it was opened at, so a submit from a
    stale page is refused instead of overwriting someone else's work.
    """

    __tablename__ = "qa_scores"
    __table_args__ = (
        UniqueConstraint("portal_id", "qa_item_id", "reviewer_id", "calibration_id"),
        # One real score per card, whoever holds it; calibration rounds add one row per reviewer.
        Index("uq_qa_scores_real", "portal_id", "qa_item_id", unique=True,
              sqlite_where=text("calibration_id = 0"), postgresql_where=text("calibration_id = 0")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portal_id: Mapped[int] = portal_fk()
    qa_item_id: Mapped[int] = mapped_column(Integer, nullable=False)
    call_id: Mapped[str] = mapped_column(String(64), nullable=False)
    manager_id: Mapped[int | None] = mapped_column(Integer)
    reviewer_id: Mapped[int] = mapped_column(Integer, nullable=False)
    calibration_id: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # 0: a real score
    checklist_id: Mapped[int] = mapped_column(ForeignKey("qa_checklists.id"), nullable=False)
    version_id: Mapped[int] = mapped_column(ForeignKey("qa_checklist_versions.id"), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="draft")  # draft/submitted/unscorable
    answers: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)    # item id → answer
    comments: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)   # item id → comment
    comment: Mapped[str] = mapped_column(String(4000), nullable=False, default="")
    for_meeting: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    percent: Mapped[float | None] = mapped_column(Float)
    critical_failed: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    revision: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    unscorable_reason: Mapped[str] = mapped_column(String(1000), nullable=False, default="")
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime())  # the manager accepted it


class QaSettings(db.Model):
    """A portal's QA rules: the manager's dispute window, who decides disputes, the weekly quota."""

    __tablename__ = "qa_settings"
    __table_args__ = (UniqueConstraint("portal_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portal_id: Mapped[int] = portal_fk()
    dispute_days: Mapped[int] = mapped_column(Integer, nullable=False, default=5)
    arbiter_id: Mapped[int | None] = mapped_column(Integer)          # None: the app's admins decide
    notify_manager: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    weekly_quota: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # calls per manager; 0 = off
    quota_week: Mapped[str | None] = mapped_column(String(10))       # ISO week the quota last sampled
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class QaEvent(db.Model):
    """The history of one QA card: every draft, submit, dispute, decision and re-score, never edited."""

    __tablename__ = "qa_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portal_id: Mapped[int] = portal_fk()
    qa_item_id: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    score_id: Mapped[int | None] = mapped_column(ForeignKey("qa_scores.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # see qa.history.KINDS
    actor_id: Mapped[int | None] = mapped_column(Integer)
    percent: Mapped[float | None] = mapped_column(Float)
    text: Mapped[str] = mapped_column(String(4000), nullable=False, default="")
    created_at: Mapped[datetime] = created_at()


class QaDispute(db.Model):
    """A manager's objection to a submitted score and the arbiter's decision on it."""

    __tablename__ = "qa_disputes"
    __table_args__ = (UniqueConstraint("score_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portal_id: Mapped[int] = portal_fk()
    score_id: Mapped[int] = mapped_column(ForeignKey("qa_scores.id", ondelete="CASCADE"), nullable=False)
    manager_id: Mapped[int] = mapped_column(Integer, nullable=False)
    comment: Mapped[str] = mapped_column(String(4000), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="open")  # open/kept/changed
    arbiter_id: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(4000), nullable=False, default="")
    old_percent: Mapped[float | None] = mapped_column(Float)
    new_percent: Mapped[float | None] = mapped_column(Float)
    opened_at: Mapped[datetime] = created_at()
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class QaCalibration(db.Model):
    """A calibration round: several reviewers score the same call blind; their spread shows how alike they judge.

    Its scores are QaScore rows with `calibration_id` = this id: never a real score, never on the card.
    """

    __tablename__ = "qa_calibrations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portal_id: Mapped[int] = portal_fk()
    qa_item_id: Mapped[int] = mapped_column(Integer, nullable=False)
    call_id: Mapped[str] = mapped_column(String(64), nullable=False)
    checklist_id: Mapped[int] = mapped_column(ForeignKey("qa_checklists.id"), nullable=False)
    version_id: Mapped[int] = mapped_column(ForeignKey("qa_checklist_versions.id"), nullable=False)
    reviewers: Mapped[list] = mapped_column(JSON, nullable=False, default=list)   # user ids
    created_by: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = created_at()


class QaNotice(db.Model):
    """One chat message about a score (its result, a dispute, a decision) to one user: the "never twice" guard.

    The row is claimed before the message is sent, keyed by what it is about, so a re-delivered job
    finds it taken and sends nothing; a failed send leaves it `pending` for the job's retry.
    """

    __tablename__ = "qa_notices"
    __table_args__ = (UniqueConstraint("score_id", "kind", "revision", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portal_id: Mapped[int] = portal_fk()
    score_id: Mapped[int] = mapped_column(ForeignKey("qa_scores.id", ondelete="CASCADE"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)        # result / dispute / decision
    revision: Mapped[int] = mapped_column(Integer, nullable=False)       # the score's revision it is about
    user_id: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="sending")  # sending/pending/sent/failed
    channel: Mapped[str] = mapped_column(String(8), nullable=False, default="")          # bot / notify
    message_id: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)
