"""Whose figures a viewer may see (REQUIREMENTS A11): admins, directors and QA reviewers everyone's, a head of
department his departments with their sub-departments, a manager his own. No CRM right is consulted."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from flask_babel import lazy_gettext as _
from sqlalchemy import select

from ..extensions import db
from ..messages import register
from ..portals.models import PortalDepartment, PortalUser
from .view import ViewError, ViewState

SEES_EVERYONE = ("admin", "director", "qa")

register({
    "analytics.forbidden_filter": _("Нет доступа к показателям этого сотрудника или отдела."),
})


@dataclass(frozen=True)
class Scope:
    """`users`/`departments` the viewer may see; None = everyone. kind: "all", "departments" or "own"."""

    users: frozenset[int] | None
    departments: frozenset[int] | None
    kind: str

    def allows_user(self, user_id: int) -> bool:
        return self.users is None or user_id in self.users


ALL = Scope(None, None, "all")


def scope_for(viewer) -> Scope:
    """The scope of a Viewer (portal_id, user_id, has(role)) from its roles and the portal's department heads."""
    if any(viewer.has(role) for role in SEES_EVERYONE):
        return ALL
    headed = set(db.session.scalars(select(PortalDepartment.department_id).where(
        PortalDepartment.portal_id == viewer.portal_id, PortalDepartment.head_user_id == viewer.user_id)))
    if not headed:
        return Scope(frozenset({viewer.user_id}), frozenset(), "own")
    departments = _with_children(viewer.portal_id, headed)
    users = _members(viewer.portal_id, departments) | {viewer.user_id}
    return Scope(frozenset(users), departments, "departments")


def effective_users(scope: Scope, state: ViewState, portal_id: int) -> frozenset[int] | None:
    """The users whose calls the page counts: the scope ∩ the users filter ∩ the department filter's users;
    None when nothing restricts. A filter naming someone outside the scope is refused (403)."""
    if scope.users is not None and not set(state.users) <= scope.users:
        raise ViewError("analytics.forbidden_filter", 403)
    if scope.departments is not None and not set(state.departments) <= scope.departments:
        raise ViewError("analytics.forbidden_filter", 403)
    out = scope.users
    if state.users:
        out = frozenset(state.users) if out is None else out & frozenset(state.users)
    if state.departments:
        members = department_users(portal_id, state.departments)
        out = members if out is None else out & members
    return out


def department_users(portal_id: int, department_ids: Iterable[int], with_children: bool = True) -> frozenset[int]:
    """Users (dismissed ones too: their past calls count) in these departments, and in their sub-departments."""
    ids = set(department_ids)
    if with_children:
        ids = _with_children(portal_id, ids)
    return frozenset(_members(portal_id, ids))


def _with_children(portal_id: int, roots: Iterable[int]) -> frozenset[int]:
    children: dict[int, list[int]] = {}
    for did, parent in db.session.execute(select(PortalDepartment.department_id, PortalDepartment.parent_id)
                                          .where(PortalDepartment.portal_id == portal_id)):
        if parent is not None:
            children.setdefault(parent, []).append(did)
    seen, todo = set(), list(roots)
    while todo:  # `seen` also stops a parent cycle in the portal's data
        did = todo.pop()
        if did not in seen:
            seen.add(did)
            todo.extend(children.get(did, ()))
    return frozenset(seen)


def _members(portal_id: int, departments: frozenset[int] | set[int]) -> set[int]:
    if not departments:
        return set()
    # PortalUser.departments is a JSON list: matched here rather than in SQL, which differs per database.
    rows = db.session.execute(select(PortalUser.user_id, PortalUser.departments)
                              .where(PortalUser.portal_id == portal_id))
    return {uid for uid, deps in rows if any(isinstance(d, int) and d in departments for d in (deps or ()))}
