"""The «Распределение звонков» section over real HTTP on the installed sandbox portal: the portal's funnels and
stages offered and saved, every bad input (another portal's funnel, junk, out-of-range hours, unknown users)
refused in Russian with nothing saved, a stale form, read-only for a director, nothing for a manager, the run
status route, the alignment buttons (dry run, apply, undo, busy), and the PBX key shown once."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import select

from b24app.extensions import db
from b24app.portals.models import RoleGrant
from b24app.routing.models import AlignmentChange, AlignmentRun, RoutingSettings

from ..platform.helpers import frame_token_from, open_placement, portal_id, set_sandbox
from .conftest import EVENT_BURST_POOL

SAVE, RUNS, KEY = "/b24/routing/settings", "/b24/routing/runs", "/b24/routing/pbx-key"


def _seed(sandbox, deals=60, contacts=40) -> None:
    r = requests.post(f"{sandbox.url}/_sandbox/crm/seed", json={"deals": deals, "contacts": contacts,
                                                                "companies": 5, "seed": 7}, timeout=60)
    assert r.status_code == 200, r.text


def _cats(sandbox) -> dict[str, int]:
    return {c["NAME"]: int(c["ID"]) for c in sandbox.state.crm.deal_categories.values()}


def _token(installed, live_app, user_id=1) -> str:
    r = open_placement(installed, live_app, "/b24/app", user_id=user_id)
    assert r.status_code == 200, r.text[:300]
    return frame_token_from(r.text)


CURRENT = "current"  # _post sends the stored version (the install already made the portal's row)


def _form(**changes) -> dict:
    form = {"version": CURRENT, "enabled": "1", "categories": [], "stages": [], "winner": "modified", "notify": "1",
            "on_excluded": "keep", "fallback": "none", "callback_hours": "2"}
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


def _version(live_app) -> str:
    with live_app.ctx():
        return str(db.session.scalar(select(RoutingSettings.version)) or 0)


def _post(live_app, token, path, form) -> requests.Response:
    if form.get("version") == CURRENT:
        form = {**form, "version": _version(live_app)}
    return requests.post(live_app.url + path, data={"frame_token": token, **form}, allow_redirects=False, timeout=60)


def _snapshot(live_app) -> list:
    with live_app.ctx():
        return [(r.portal_id, r.enabled, r.categories, r.stages, r.winner, r.companies, r.excluded_users,
                 r.on_excluded, r.notify, r.fallback_user_id, r.fallback_queue, r.callback_tasks, r.callback_hours,
                 r.version) for r in db.session.scalars(select(RoutingSettings))]


def _settings(live_app, pid) -> RoutingSettings:
    with live_app.ctx():
        row = db.session.scalar(select(RoutingSettings).where(RoutingSettings.portal_id == pid))
        db.session.expunge(row)
        return row


def _get(live_app, location: str) -> str:
    return requests.get(live_app.url + location.split(live_app.url)[-1], timeout=30).text


def test_the_admin_sees_the_portal_funnels_and_stages_and_saves_the_rules(installed, live_app):
    _seed(installed)
    cats = _cats(installed)
    sales = cats["Продажи"]
    page = open_placement(installed, live_app, "/b24/app").text
    assert 'data-testid="routing-section"' in page and 'data-testid="routing-settings-form"' in page
    assert "Общая" in page and "Продажи" in page and f'value="C{sales}:NEW"' in page
    assert "Уволенным сотрудникам контакты не передаются никогда" in page
    # the fired employee (Сергей Волков, 9) is not offered
    assert 'name="excluded_users" value="9"' not in page and 'name="excluded_users" value="4"' in page
    token = frame_token_from(page)
    r = _post(live_app, token, SAVE, _form(categories=[str(sales)], stages=[f"C{sales}:NEW", f"C{sales}:PREPARATION"],
                                           winner="largest", companies="1", excluded_users=["4"],
                                           on_excluded="head", fallback="queue", fallback_queue=" Очередь  продаж ",
                                           callback_tasks="1", callback_hours="5"))
    assert r.status_code == 303 and "msg=routing_settings.saved" in r.headers["Location"], r.text[:500]
    s = _settings(live_app, portal_id(live_app, installed))
    assert (s.enabled, s.categories, s.stages, s.winner, s.companies, s.excluded_users, s.on_excluded, s.notify,
            s.fallback_user_id, s.fallback_queue, s.callback_tasks, s.callback_hours, s.version, s.updated_by) == (
        True, [sales], [f"C{sales}:NEW", f"C{sales}:PREPARATION"], "largest", True, [4], "head", True, None,
        "Очередь продаж", True, 5, s.version, 1)
    after = _get(live_app, r.headers["Location"])
    assert "Настройки распределения звонков сохранены." in after
    assert f'name="categories" value="{sales}" data-testid="rt-category-{sales}" checked' in after
    assert 'value="largest" data-testid="rt-winner-largest" checked' in after
    r = _post(live_app, token, SAVE, _form(fallback="user", fallback_user_id="5", notify=None))
    assert r.status_code == 303
    s2 = _settings(live_app, portal_id(live_app, installed))
    assert (s2.categories, s2.stages, s2.fallback_user_id, s2.fallback_queue, s2.notify, s2.version) == (
        [], [], 5, "", False, s.version + 1)


def _bad_cases():
    # (changes, text); "{sales}" and "{service}" are the sandbox's funnels
    return [
        ({"categories": ["999"]}, "Среди выбранных воронок есть воронка, которой нет на портале."),
        ({"categories": ["продажи"]}, "Среди выбранных воронок есть воронка, которой нет на портале."),
        ({"categories": ["{sales}"], "stages": ["C{service}:NEW"]}, "Среди выбранных стадий есть стадия"),
        ({"stages": ["C999:NEW"]}, "Среди выбранных стадий есть стадия"),
        ({"stages": ["<script>"]}, "Среди выбранных стадий есть стадия"),
        ({"winner": "oldest"}, "Выберите, какая сделка решает"),
        ({"on_excluded": "fire"}, "Выберите, что делать с контактом сотрудника"),
        ({"excluded_users": ["77"]}, "Среди сотрудников, которым не передавать контакты, есть сотрудник"),
        ({"excluded_users": ["9"]}, "Среди сотрудников, которым не передавать контакты, есть сотрудник"),
        ({"excluded_users": ["x"]}, "Среди сотрудников, которым не передавать контакты, есть сотрудник"),
        ({"fallback": "user", "fallback_user_id": "77"}, "Выберите сотрудника портала"),
        ({"fallback": "user", "fallback_user_id": ""}, "Выберите сотрудника портала"),
        ({"fallback": "queue", "fallback_queue": "  "}, "Название очереди АТС: от 1 до 64 символов."),
        ({"fallback": "queue", "fallback_queue": "q" * 65}, "Название очереди АТС: от 1 до 64 символов."),
        ({"fallback": "ivr"}, "Выберите, куда направлять звонок без ответственного"),
        ({"callback_hours": "0"}, "Срок задачи перезвонить — целое число часов от 1 до 72."),
        ({"callback_hours": "73"}, "Срок задачи перезвонить — целое число часов от 1 до 72."),
        ({"callback_hours": "два"}, "Срок задачи перезвонить — целое число часов от 1 до 72."),
        ({"enabled": "yes"}, "Флажок в настройках распределения"),
    ]


def test_bad_input_is_refused_in_russian_and_nothing_is_saved(installed, live_app):
    # One portal for every case (an install per case would cost more than all the checks together).
    _seed(installed, deals=10, contacts=10)
    cats = _cats(installed)
    subst = {"{sales}": str(cats["Продажи"]), "{service}": str(cats["Сервис"])}

    def fill(v):
        if isinstance(v, list):
            return [fill(x) for x in v]
        for k, n in subst.items():
            v = v.replace(k, n)
        return v

    token = _token(installed, live_app)
    assert _post(live_app, token, SAVE, _form(callback_hours="7")).status_code == 303
    before = _snapshot(live_app)
    for changes, text in _bad_cases():
        r = _post(live_app, token, SAVE, _form(**{k: fill(v) for k, v in changes.items()}))
        assert r.status_code == 400, (changes, r.text[:300])
        assert text in r.text and 'data-testid="routing-settings-errors"' in r.text, changes
        assert _snapshot(live_app) == before, changes
    r = _post(live_app, token, SAVE, _form(winner="oldest", callback_hours="0", categories=["999"]))
    assert r.status_code == 400 and r.text.count('data-testid="routing-settings-errors"') == 1
    assert all(t in r.text for t in ("какая сделка решает", "от 1 до 72", "воронка, которой нет"))


def test_another_portals_funnel_is_refused(installed, make_sandbox, live_app):
    other = make_sandbox(install=True, seed=2)
    other.state.crm.add_deal_category("Чужая воронка", 900)
    other.state.crm.add_deal_category("Ещё одна", 950)
    foreign = max(_cats(other).values())
    assert foreign not in _cats(installed).values()
    token = _token(installed, live_app)
    before = _snapshot(live_app)
    r = _post(live_app, token, SAVE, _form(categories=[str(foreign)]))
    assert r.status_code == 400 and "воронка, которой нет на портале" in r.text
    r = _post(live_app, token, SAVE, _form(stages=[f"C{foreign}:NEW"]))
    assert r.status_code == 400 and "стадия, которой нет" in r.text
    assert _snapshot(live_app) == before


def test_a_forged_or_stale_form_is_refused(installed, live_app):
    token = _token(installed, live_app)
    before = _snapshot(live_app)
    opened = int(_version(live_app))
    r = _post(live_app, token, SAVE, _form(version=None))
    assert r.status_code == 400 and "Форма настроек распределения повреждена" in r.text
    r = _post(live_app, token, SAVE, _form(version="x1"))
    assert r.status_code == 400 and _snapshot(live_app) == before
    assert _post(live_app, token, SAVE, _form()).status_code == 303
    saved = _snapshot(live_app)
    r = _post(live_app, token, SAVE, _form(version=str(opened), callback_hours="12"))  # opened before that save
    assert r.status_code == 409 and "изменил другой администратор" in r.text
    assert f'name="version" value="{opened + 1}"' in r.text and 'value="12" data-testid="rt-callback-hours"' in r.text
    assert _snapshot(live_app) == saved
    assert _post(live_app, token, SAVE, _form(version=str(opened + 1), callback_hours="12")).status_code == 303
    r = requests.post(live_app.url + SAVE, data=_form(version=str(opened + 2)), allow_redirects=False, timeout=30)
    assert r.status_code == 401 and _snapshot(live_app)[0][-1] == opened + 2


def test_a_director_reads_a_manager_sees_nothing_and_neither_may_change(installed, live_app):
    pid = portal_id(live_app, installed)
    with live_app.ctx():
        db.session.add(RoleGrant(portal_id=pid, user_id=2, role="director", granted_by=1))
        db.session.commit()
    admin = _token(installed, live_app)
    assert _post(live_app, admin, SAVE, _form(excluded_users=["4"], callback_tasks="1",
                                              callback_hours="3")).status_code == 303
    director = open_placement(installed, live_app, "/b24/app", user_id=2).text
    assert 'data-testid="routing-settings-view"' in director and 'data-testid="routing-settings-form"' not in director
    assert "Алексей Кузнецов" in director and "включены, срок 3 ч" in director
    assert 'data-testid="rt-run-dry"' not in director and 'data-testid="rt-pbx-create"' not in director
    manager = open_placement(installed, live_app, "/b24/app", user_id=3).text
    assert 'data-testid="routing-section"' not in manager
    before = _snapshot(live_app)
    for text in (director, manager):
        token = frame_token_from(text)
        assert _post(live_app, token, SAVE, _form(callback_hours="9")).status_code == 403
        assert _post(live_app, token, RUNS, {"kind": "dry"}).status_code == 403
        assert _post(live_app, token, KEY, {}).status_code == 403
    assert _snapshot(live_app) == before
    with live_app.ctx():
        assert db.session.scalars(select(AlignmentRun)).all() == []


def _runs(live_app, pid) -> list[AlignmentRun]:
    with live_app.ctx():
        rows = db.session.scalars(select(AlignmentRun).where(AlignmentRun.portal_id == pid)
                                  .order_by(AlignmentRun.id)).all()
        for r in rows:
            db.session.expunge(r)
        return rows


@pytest.mark.parametrize("live_app", [EVENT_BURST_POOL], indirect=True)  # the apply's contact events
def test_dry_run_apply_and_undo_through_the_buttons(installed, live_app):
    pytest.importorskip("b24app.routing.alignment", reason="the bulk alignment (helper «bulk») is not there yet")
    _seed(installed, deals=12, contacts=10)
    pid = portal_id(live_app, installed)
    token = _token(installed, live_app)
    assert _post(live_app, token, SAVE, _form()).status_code == 303
    page = _get(live_app, f"/b24/app?ft={token}")
    assert 'data-testid="rt-runs-empty"' in page and 'data-testid="rt-run-undo"' not in page
    r = _post(live_app, token, RUNS, {"kind": "undo"})
    assert r.status_code == 409 and "Отменять нечего" in r.text
    assert _post(live_app, token, RUNS, {"kind": "everything"}).status_code == 400
    assert _runs(live_app, pid) == []

    r = _post(live_app, token, RUNS, {"kind": "dry"})
    assert r.status_code == 303 and "msg=routing_settings.run_started" in r.headers["Location"]
    [dry] = _runs(live_app, pid)
    assert (dry.kind, dry.status, dry.requested_by) == ("dry", "done", 1) and dry.planned > 0
    page = _get(live_app, r.headers["Location"])
    assert 'data-testid="rt-counts"' in page and 'data-testid="rt-sample-item"' in page
    assert f"{installed.url.split('//')[1]}/crm/contact/details/" in page or "/crm/contact/details/" in page
    assert f"будет изменено контактов — {dry.planned}" in page
    status = requests.get(f"{live_app.url}/b24/routing/runs/{dry.id}", headers={"X-Frame-Token": token}, timeout=30)
    assert status.status_code == 200 and status.json()["status"] == "done" and status.json()["planned"] == dry.planned
    assert requests.get(f"{live_app.url}/b24/routing/runs/{dry.id + 999}", headers={"X-Frame-Token": token},
                        timeout=30).status_code == 404

    r = _post(live_app, token, RUNS, {"kind": "apply"})
    assert r.status_code == 303
    apply = _runs(live_app, pid)[-1]
    assert (apply.kind, apply.status, apply.applied) == ("apply", "done", dry.planned)
    page = _get(live_app, r.headers["Location"])
    assert 'data-testid="rt-run-undo"' in page and page.count('data-testid="rt-run"') == 2

    r = _post(live_app, token, RUNS, {"kind": "undo"})
    assert r.status_code == 303 and "msg=routing_settings.undo_started" in r.headers["Location"]
    undo = _runs(live_app, pid)[-1]
    assert (undo.kind, undo.status, undo.undo_of) == ("undo", "done", apply.id)
    with live_app.ctx():
        statuses = set(db.session.scalars(select(AlignmentChange.status).where(AlignmentChange.run_id == apply.id)))
    assert statuses == {"reverted"}
    assert 'data-testid="rt-run-undo"' not in _get(live_app, r.headers["Location"])


def test_a_run_while_another_is_going_is_refused(installed, live_app):
    pytest.importorskip("b24app.routing.alignment", reason="the bulk alignment (helper «bulk») is not there yet")
    pid = portal_id(live_app, installed)
    with live_app.ctx():
        db.session.add(AlignmentRun(portal_id=pid, kind="dry", status="running", rules={}, counts={}, progress=40))
        db.session.commit()
    token = _token(installed, live_app)
    page = _get(live_app, f"/b24/app?ft={token}")
    assert 'data-testid="rt-latest"' in page and 'data-status="running"' in page and "width: 40%" in page
    r = _post(live_app, token, RUNS, {"kind": "apply"})
    assert r.status_code == 409 and "Прогон уже идёт" in r.text
    assert len(_runs(live_app, pid)) == 1


def test_the_run_status_route_is_for_the_portals_admins_and_directors(installed, make_sandbox, live_app):
    pid = portal_id(live_app, installed)
    with live_app.ctx():
        run = AlignmentRun(portal_id=pid, kind="dry", status="running", rules={}, counts={}, progress=30,
                           deals_read=120)
        db.session.add_all([run, RoleGrant(portal_id=pid, user_id=2, role="director", granted_by=1)])
        db.session.commit()
        run_id = run.id
    url = f"{live_app.url}/b24/routing/runs/{run_id}"
    got = requests.get(url, headers={"X-Frame-Token": _token(installed, live_app, 2)}, timeout=30)
    assert got.status_code == 200 and (got.json()["progress"], got.json()["deals_read"]) == (30, 120)
    assert requests.get(url, headers={"X-Frame-Token": _token(installed, live_app, 3)}, timeout=30).status_code == 403
    assert requests.get(url, timeout=30).status_code == 401
    other = make_sandbox(install=True, seed=2)
    stranger = _token(other, live_app)  # the other portal's admin
    assert requests.get(url, headers={"X-Frame-Token": stranger}, timeout=30).status_code == 404


def test_a_pbx_key_is_shown_once_and_then_only_its_date(installed, live_app):
    pytest.importorskip("b24app.routing.pbx", reason="the PBX answer (helper «ongoing») is not there yet")
    pid = portal_id(live_app, installed)
    token = _token(installed, live_app)
    assert 'data-testid="rt-pbx-no-key"' in _get(live_app, f"/b24/app?ft={token}")
    r = _post(live_app, token, KEY, {})
    assert r.status_code == 200 and "Скопируйте его сейчас" in r.text
    start = r.text.index('data-testid="rt-pbx-new-key"')
    key = r.text[r.text.index("<code>", start) + 6:r.text.index("</code>", start)]
    assert len(key) >= 20 and f"Bearer {key}" in r.text and "curl" in r.text
    s = _settings(live_app, pid)
    assert s.pbx_key_hash and key not in s.pbx_key_hash
    page = _get(live_app, f"/b24/app?ft={token}")
    assert 'data-testid="rt-pbx-has-key"' in page and key not in page


def test_when_the_portal_does_not_answer_the_chosen_funnels_are_kept_and_nothing_is_saved(installed, live_app):
    _seed(installed, deals=10, contacts=10)
    sales = _cats(installed)["Продажи"]
    token = _token(installed, live_app)
    assert _post(live_app, token, SAVE, _form(categories=[str(sales)], stages=[f"C{sales}:NEW"])).status_code == 303
    before = _snapshot(live_app)
    set_sandbox(installed, fail_503_share=1.0)
    try:
        page = _get(live_app, f"/b24/app?ft={token}")
        assert 'data-testid="routing-settings-unavailable"' in page
        assert f'<input type="hidden" name="categories" value="{sales}">' in page
        assert f'<input type="hidden" name="stages" value="C{sales}:NEW">' in page
        r = _post(live_app, token, SAVE, _form(categories=[str(sales)], stages=[f"C{sales}:NEW"], callback_hours="9"))
        assert r.status_code == 502 and "Портал не ответил, настройки распределения не сохранены" in r.text
    finally:
        set_sandbox(installed, fail_503_share=0.0)
    assert _snapshot(live_app) == before
