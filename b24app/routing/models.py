"""The distribution tables: a portal's rules, alignment runs with their undo log, the local index of whose
client each contact is (for the PBX's routing query), and the callback tasks made for lost calls."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..models_base import UtcDateTime, created_at, portal_fk, utcnow

WINNERS = ("modified", "newest", "largest")   # which deal decides when a contact is in several
ON_EXCLUDED = ("keep", "head")                # a winner who never receives contacts: keep as is, or his head
RUN_KINDS = ("dry", "apply", "undo")
RUN_STATUSES = ("queued", "running", "done", "failed")
CHANGE_STATUSES = ("planned", "done", "reverted", "skipped")
ENTITY_CONTACT, ENTITY_COMPANY = "contact", "company"


class RoutingSettings(db.Model):
    """One row per portal (`models_base.row_for_portal`); `version` refuses a stale settings form."""

    __tablename__ = "routing_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portal_id: Mapped[int] = mapped_column(Integer, ForeignKey("portals.id", ondelete="CASCADE"), unique=True,
                                           nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)   # ongoing alignment (D2)
    categories: Mapped[list] = mapped_column(JSON, nullable=False, default=list)    # deal CATEGORY_IDs; [] = all
    stages: Mapped[list] = mapped_column(JSON, nullable=False, default=list)        # STAGE_IDs; [] = every open one
    winner: Mapped[str] = mapped_column(String(16), nullable=False, default="modified")
    companies: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)  # the deal's company follows too
    excluded_users: Mapped[list] = mapped_column(JSON, nullable=False, default=list)  # never receive contacts
    on_excluded: Mapped[str] = mapped_column(String(16), nullable=False, default="keep")
    notify: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)      # digests to new responsibles
    fallback_user_id: Mapped[int | None] = mapped_column(Integer)                    # routing answer without owner
    fallback_queue: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    pbx_key_hash: Mapped[str] = mapped_column(String(128), nullable=False, default="")  # sha256 of the PBX key
    callback_tasks: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    callback_hours: Mapped[int] = mapped_column(Integer, nullable=False, default=2)  # task deadline, hours after it is made
    callback_since: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)  # switched on at
    pbx_key_created_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # The periodic re-check's cursors (DATE_MODIFY as the portal wrote it): deals, and contacts for the index.
    reconciled_to: Mapped[str] = mapped_column(String(40), nullable=False, default="")
    contacts_reconciled_to: Mapped[str] = mapped_column(String(40), nullable=False, default="")
    index_built_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)  # the first full read
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    updated_by: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow, nullable=False)


class AlignmentRun(db.Model):
    """A bulk alignment: a dry run (plans only), the run that applies it, or the undo of a run."""

    __tablename__ = "routing_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portal_id: Mapped[int] = portal_fk()
    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")
    undo_of: Mapped[int | None] = mapped_column(Integer)          # the run an undo reverts
    rules: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)  # the settings it ran with
    stage: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    progress: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # 0..100
    deals_read: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    deals_total: Mapped[int | None] = mapped_column(Integer)
    deal_cursor: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # last deal ID read (ID order)
    planned: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    applied: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    counts: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)  # {user ID: [before, after]}
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    requested_by: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    error: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[datetime] = created_at()
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    beat_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class AlignmentChange(db.Model):
    """One responsible change of one contact (or company): planned, done, reverted. The undo log."""

    __tablename__ = "routing_changes"
    __table_args__ = (UniqueConstraint("run_id", "entity", "entity_id"),
                      Index("ix_routing_changes_run_status", "run_id", "status"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portal_id: Mapped[int] = portal_fk()
    run_id: Mapped[int | None] = mapped_column(Integer)  # None: an ongoing change made on a deal's event
    entity: Mapped[str] = mapped_column(String(8), nullable=False, default=ENTITY_CONTACT)
    entity_id: Mapped[int] = mapped_column(Integer, nullable=False)
    deal_id: Mapped[int] = mapped_column(Integer, nullable=False)    # the deal that decided
    old_user_id: Mapped[int] = mapped_column(Integer, nullable=False)
    new_user_id: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default="planned")
    notified: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = created_at()
    applied_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class RoutingCandidate(db.Model):
    """A run's working state while it reads the deals: each contact's (company's) best deal so far, so a
    run resumed after a restart reads on from its cursor instead of from the first deal."""

    __tablename__ = "routing_candidates"
    __table_args__ = (UniqueConstraint("run_id", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portal_id: Mapped[int] = portal_fk()
    run_id: Mapped[int] = mapped_column(Integer, nullable=False)
    entity: Mapped[str] = mapped_column(String(8), nullable=False, default=ENTITY_CONTACT)
    entity_id: Mapped[int] = mapped_column(Integer, nullable=False)
    deal_id: Mapped[int] = mapped_column(Integer, nullable=False)
    user_id: Mapped[int] = mapped_column(Integer, nullable=False)     # the deal's responsible
    rank: Mapped[str] = mapped_column(String(64), nullable=False)     # sortable: the higher wins


class ContactOwner(db.Model):
    """Whose client a contact is, as the portal last said (the routing answer reads only this)."""

    __tablename__ = "routing_contacts"
    __table_args__ = (UniqueConstraint("portal_id", "contact_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portal_id: Mapped[int] = portal_fk()
    contact_id: Mapped[int] = mapped_column(Integer, nullable=False)
    user_id: Mapped[int] = mapped_column(Integer, nullable=False)   # ASSIGNED_BY_ID
    name: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow, nullable=False)


class ContactPhone(db.Model):
    """A contact's number as its digits (`bitrix.payloads` phone key), for the lookup by the caller's number."""

    __tablename__ = "routing_phones"
    __table_args__ = (UniqueConstraint("portal_id", "phone", "contact_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portal_id: Mapped[int] = portal_fk()
    phone: Mapped[str] = mapped_column(String(32), nullable=False)
    contact_id: Mapped[int] = mapped_column(Integer, nullable=False)


class CallbackTask(db.Model):
    """The callback task made for a lost call (one per call), and its link for the missed-calls board."""

    __tablename__ = "routing_callback_tasks"
    __table_args__ = (UniqueConstraint("portal_id", "call_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portal_id: Mapped[int] = portal_fk()
    call_id: Mapped[str] = mapped_column(String(64), nullable=False)
    task_id: Mapped[int | None] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default="queued")  # queued, done, failed
    error: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[datetime] = created_at()
