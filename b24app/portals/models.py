"""Tenants (installed portals), their users and role grants."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..models_base import UtcDateTime, created_at, portal_fk, utcnow

ROLES = ("admin", "director", "qa")  # "manager" is everyone's baseline and is not stored

STATUS_ACTIVE = "active"
STATUS_NEEDS_REINSTALL = "needs_reinstall"
STATUS_UNINSTALLED = "uninstalled"


class Portal(db.Model):
    __tablename__ = "portals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    domain: Mapped[str] = mapped_column(String(255), nullable=False)
    protocol: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    client_endpoint: Mapped[str] = mapped_column(String(255), nullable=False)
    server_endpoint: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    access_token: Mapped[str] = mapped_column(String(512), nullable=False, default="")
    refresh_token: Mapped[str] = mapped_column(String(512), nullable=False, default="")
    token_expires_at: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    application_token: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    scopes: Mapped[str] = mapped_column(Text, nullable=False, default="")
    language: Mapped[str] = mapped_column(String(8), nullable=False, default="ru")
    status: Mapped[str] = mapped_column(String(20), nullable=False, default=STATUS_ACTIVE)
    status_reason: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    installer_user_id: Mapped[int | None] = mapped_column(Integer)
    installed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    uninstalled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    purge_after: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)

    @property
    def origin(self) -> str:
        return f"{'https' if self.protocol else 'http'}://{self.domain}"

    @property
    def is_active(self) -> bool:
        return self.status == STATUS_ACTIVE

    def __repr__(self) -> str:  # no tokens in logs
        return f"<Portal {self.member_id} {self.domain} {self.status}>"


class PortalUser(db.Model):
    """A copy of the portal's employees (names, departments) for pickers and reports."""

    __tablename__ = "portal_users"
    __table_args__ = (UniqueConstraint("portal_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portal_id: Mapped[int] = portal_fk()
    user_id: Mapped[int] = mapped_column(Integer, nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    departments: Mapped[list] = mapped_column(JSON, nullable=False, default=list)
    phone_inner: Mapped[str] = mapped_column(String(32), nullable=False, default="")  # UF_PHONE_INNER (extension)
    synced_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class PortalDepartment(db.Model):
    """A copy of the portal's departments (names for pickers and reports)."""

    __tablename__ = "portal_departments"
    __table_args__ = (UniqueConstraint("portal_id", "department_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portal_id: Mapped[int] = portal_fk()
    department_id: Mapped[int] = mapped_column(Integer, nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    parent_id: Mapped[int | None] = mapped_column(Integer)
    head_user_id: Mapped[int | None] = mapped_column(Integer)  # UF_HEAD: whose figures a head may see


class RoleGrant(db.Model):
    __tablename__ = "role_grants"
    __table_args__ = (UniqueConstraint("portal_id", "user_id", "role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portal_id: Mapped[int] = portal_fk()
    user_id: Mapped[int] = mapped_column(Integer, nullable=False)
    role: Mapped[str] = mapped_column(String(20), nullable=False)
    granted_by: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = created_at()


class RestRateState(db.Model):
    """The shared leaky-bucket clock per portal (see bitrix/limits.py)."""

    __tablename__ = "rest_rate_state"

    member_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tat: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
