"""Who may receive contacts: the portal's inactive users and each user's head, read from the users' copy.

One definition for the bulk run and the ongoing alignment, so a contact of an excluded manager goes to the
same person whichever of them moves it.
"""

from __future__ import annotations

from sqlalchemy import select

from ..extensions import db
from ..portals.models import PortalDepartment, PortalUser


def inactive_users(portal_id: int) -> set[int]:
    return set(db.session.scalars(select(PortalUser.user_id).where(PortalUser.portal_id == portal_id,
                                                                   PortalUser.active.is_(False))))


def heads_of(portal_id: int) -> dict[int, int | None]:
    """Each user's head: the head of his first department, or of the one above when he heads it himself."""
    deps = {d.department_id: d for d in db.session.scalars(
        select(PortalDepartment).where(PortalDepartment.portal_id == portal_id))}
    out: dict[int, int | None] = {}
    for uid, departments in db.session.execute(select(PortalUser.user_id, PortalUser.departments)
                                               .where(PortalUser.portal_id == portal_id)):
        dep = deps.get(int((departments or [0])[0] or 0))
        seen: set[int] = set()
        while dep is not None and dep.department_id not in seen:
            seen.add(dep.department_id)
            if dep.head_user_id and int(dep.head_user_id) != int(uid):
                out[int(uid)] = int(dep.head_user_id)
                break
            dep = deps.get(int(dep.parent_id or 0)) if dep.parent_id else None
    return out
