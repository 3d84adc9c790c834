"""Roles: admin (portal admin or granted), director, QA reviewer; everyone is a manager of own calls."""

from __future__ import annotations

from sqlalchemy import delete, select

from ..extensions import db
from .models import ROLES, PortalDepartment, PortalUser, RoleGrant


class RoleError(ValueError):
    def __init__(self, message_key: str):
        self.message_key = message_key
        super().__init__(message_key)


def roles_for(portal_id: int, user_id: int, is_portal_admin: bool) -> frozenset[str]:
    granted = set(db.session.scalars(select(RoleGrant.role).where(
        RoleGrant.portal_id == portal_id, RoleGrant.user_id == user_id)))
    if is_portal_admin:
        granted.add("admin")
    granted.add("manager")
    return frozenset(granted)


def grants(portal_id: int) -> list[RoleGrant]:
    return list(db.session.scalars(select(RoleGrant).where(RoleGrant.portal_id == portal_id)
                                   .order_by(RoleGrant.role, RoleGrant.user_id)))


def grant(portal_id: int, user_id: int, role: str, granted_by: int) -> RoleGrant:
    if role not in ROLES:
        raise RoleError("roles.unknown_role")
    known = db.session.scalar(select(PortalUser.id).where(PortalUser.portal_id == portal_id,
                                                          PortalUser.user_id == user_id))
    if known is None:
        raise RoleError("roles.unknown_user")
    existing = db.session.scalar(select(RoleGrant).where(
        RoleGrant.portal_id == portal_id, RoleGrant.user_id == user_id, RoleGrant.role == role))
    if existing:
        return existing
    row = RoleGrant(portal_id=portal_id, user_id=user_id, role=role, granted_by=granted_by)
    db.session.add(row)
    db.session.commit()
    return row


def revoke(portal_id: int, grant_id: int) -> bool:
    res = db.session.execute(delete(RoleGrant).where(RoleGrant.portal_id == portal_id, RoleGrant.id == grant_id))
    db.session.commit()
    return res.rowcount > 0


def users(portal_id: int) -> list[PortalUser]:
    return list(db.session.scalars(select(PortalUser).where(PortalUser.portal_id == portal_id,
                                                            PortalUser.active.is_(True))
                                   .order_by(PortalUser.name)))


def names_for(portal_id: int, ids) -> dict[int, str]:
    """Display names of the portal's users by id; an id the directory does not know shows as «#id»."""
    ids = {i for i in ids if i}
    if not ids:
        return {}
    rows = dict(db.session.execute(select(PortalUser.user_id, PortalUser.name).where(
        PortalUser.portal_id == portal_id, PortalUser.user_id.in_(ids))).all())
    return {i: rows.get(i) or f"#{i}" for i in ids}


def departments(portal_id: int) -> list[PortalDepartment]:
    return list(db.session.scalars(select(PortalDepartment).where(PortalDepartment.portal_id == portal_id)
                                   .order_by(PortalDepartment.name)))
