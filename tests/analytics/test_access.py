"""Whose figures a viewer sees, from the sandbox portal's real roles and department heads (synced on install):
directors, QA reviewers and admins everyone, the head of «Колл-центр» his department with its sub-departments,
a manager himself; a filter outside the scope is refused with a 403."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from b24app.analytics.access import Scope, department_users, effective_users, scope_for
from b24app.analytics.view import ViewError, ViewState
from b24app.extensions import db
from b24app.portals import roles
from b24app.portals.frame import Viewer
from b24app.portals.models import Portal, PortalDepartment, PortalUser

TODAY = date(2026, 12, 7)
CALL_CENTRE = frozenset({5, 6, 7, 9})   # head 5 (Ольга Соколова), operators 6, 7 and dismissed 9
SALES = frozenset({2, 3, 4})            # head 2 (Иван Петров)


def _pid(live_app, sandbox) -> int:
    with live_app.ctx():
        return db.session.scalar(select(Portal.id).where(Portal.member_id == sandbox.member_id))


def _viewer(pid: int, user_id: int, admin: bool = False) -> Viewer:
    return Viewer(pid, "member", user_id, f"#{user_id}", admin, roles.roles_for(pid, user_id, admin), "ru")


def _state(**kw) -> ViewState:
    return ViewState.default(TODAY).replace(**kw)


def test_heads_come_from_the_portal(installed, live_app):
    pid = _pid(live_app, installed)
    with live_app.ctx():
        heads = dict(db.session.execute(select(PortalDepartment.department_id, PortalDepartment.head_user_id)
                                        .where(PortalDepartment.portal_id == pid)).all())
        assert heads[2] == 2 and heads[3] == 5


def test_head_of_the_call_centre_sees_only_his_department(installed, live_app):
    pid = _pid(live_app, installed)
    with live_app.ctx():
        scope = scope_for(_viewer(pid, 5))
        assert scope == Scope(CALL_CENTRE, frozenset({3}), "departments")
        assert effective_users(scope, _state(), pid) == CALL_CENTRE
        assert effective_users(scope, _state(users=(6,)), pid) == {6}
        assert effective_users(scope, _state(departments=(3,)), pid) == CALL_CENTRE
        assert effective_users(scope, _state(users=(5, 7), departments=(3,)), pid) == {5, 7}
        for state in (_state(users=(3,)), _state(users=(6, 3)), _state(departments=(2,)), _state(departments=(1,)),
                      _state(departments=(3, 4))):
            with pytest.raises(ViewError) as e:
                effective_users(scope, state, pid)
            assert (e.value.message_key, e.value.status) == ("analytics.forbidden_filter", 403)
        with live_app.app.test_request_context("/"):
            assert "Нет доступа к показателям этого сотрудника или отдела" in e.value.text

        sales = scope_for(_viewer(pid, 2))
        assert (sales.users, sales.departments, sales.kind) == (SALES, frozenset({2}), "departments")


def test_a_head_sees_his_sub_departments(installed, live_app):
    pid = _pid(live_app, installed)
    with live_app.ctx():
        db.session.add_all([
            PortalDepartment(portal_id=pid, department_id=30, name="Смена А", parent_id=3),
            PortalDepartment(portal_id=pid, department_id=31, name="Ночная смена", parent_id=30, head_user_id=7),
            PortalUser(portal_id=pid, user_id=40, name="Олег Ночной", departments=[31]),
            PortalUser(portal_id=pid, user_id=41, name="Анна Двойная", departments=[4, 30]),
        ])
        db.session.commit()
        scope = scope_for(_viewer(pid, 5))
        assert scope.departments == {3, 30, 31}
        assert scope.users == CALL_CENTRE | {40, 41}
        assert effective_users(scope, _state(departments=(30,)), pid) == {40, 41}
        assert department_users(pid, [3]) == CALL_CENTRE | {40, 41}
        assert department_users(pid, [3], with_children=False) == CALL_CENTRE
        # The operator who heads the night shift sees it and himself, not the rest of the call centre.
        night = scope_for(_viewer(pid, 7))
        assert (night.users, night.departments) == ({7, 40}, {31})
        with pytest.raises(ViewError):
            effective_users(night, _state(users=(6,)), pid)


def test_a_manager_sees_only_himself(installed, live_app):
    pid = _pid(live_app, installed)
    with live_app.ctx():
        scope = scope_for(_viewer(pid, 3))
        assert scope == Scope(frozenset({3}), frozenset(), "own")
        assert effective_users(scope, _state(), pid) == {3}
        assert effective_users(scope, _state(users=(3,)), pid) == {3}
        for state in (_state(users=(4,)), _state(departments=(2,))):
            with pytest.raises(ViewError) as e:
                effective_users(scope, state, pid)
            assert e.value.status == 403


@pytest.mark.parametrize("role", ["director", "qa", "admin"])
def test_directors_qa_and_admins_see_everyone(installed, live_app, role):
    pid = _pid(live_app, installed)
    with live_app.ctx():
        roles.grant(pid, 6, role, granted_by=1)   # an operator of the call centre, not a head
        scope = scope_for(_viewer(pid, 6))
        assert (scope.users, scope.departments, scope.kind) == (None, None, "all")
        assert effective_users(scope, _state(), pid) is None
        assert effective_users(scope, _state(users=(3, 6)), pid) == {3, 6}
        assert effective_users(scope, _state(departments=(2,)), pid) == SALES
        assert effective_users(scope, _state(users=(3, 6), departments=(3,)), pid) == {6}
        assert effective_users(scope, _state(departments=(1,)), pid) == set(range(1, 10))  # the root: everyone


def test_the_portal_admin_sees_everyone(installed, live_app):
    pid = _pid(live_app, installed)
    with live_app.ctx():
        assert scope_for(_viewer(pid, 1, admin=True)).kind == "all"
        # A granted role, not a department, is what opens everything: without it the head of sales is a head.
        assert scope_for(_viewer(pid, 2)).kind == "departments"
        roles.grant(pid, 2, "director", granted_by=1)
        assert scope_for(_viewer(pid, 2)).kind == "all"


def test_another_portals_heads_do_not_count(installed, live_app, make_sandbox):
    other = make_sandbox(install=True, seed=2)
    pid, other_pid = _pid(live_app, installed), _pid(live_app, other)
    with live_app.ctx():
        # On the other portal user 3 heads a department; here he is still a manager.
        db.session.add(PortalDepartment(portal_id=other_pid, department_id=60, name="Чужой", head_user_id=3))
        db.session.add(PortalUser(portal_id=other_pid, user_id=61, name="Чужой сотрудник", departments=[3]))
        db.session.commit()
        assert scope_for(_viewer(pid, 3)).kind == "own"
        assert scope_for(_viewer(other_pid, 3)).departments == {60}
        assert scope_for(_viewer(pid, 5)).users == CALL_CENTRE   # their user 61 in «their» department 3 is not ours
        assert department_users(pid, [3]) == CALL_CENTRE
        assert 61 in department_users(other_pid, [3])
