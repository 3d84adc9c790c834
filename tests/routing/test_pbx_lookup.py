"""The routing index and the PBX's routing answer (D3) over HTTP against the sandbox: the index follows the
portal's contacts, and GET /api/routing/owner answers from it alone, per portal, behind its key."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import select

from b24app.extensions import db
from b24app.models_base import row_for_portal
from b24app.portals.models import Portal
from b24app.routing import index, ongoing, pbx
from b24app.routing.models import ContactOwner, ContactPhone, RoutingSettings
from tests.platform.helpers import stats

from .test_ongoing import rest, wait_until


def indexed(live_app, pid: int) -> dict[int, tuple[int, str, list[str]]]:
    """{contact: (user, name, [numbers])} as the index holds it."""
    with live_app.ctx():
        phones: dict[int, list[str]] = {}
        for c, p in db.session.execute(select(ContactPhone.contact_id, ContactPhone.phone)
                                       .where(ContactPhone.portal_id == pid).order_by(ContactPhone.phone)):
            phones.setdefault(c, []).append(p)
        return {o.contact_id: (o.user_id, o.name, phones.get(o.contact_id, [])) for o in db.session.scalars(
            select(ContactOwner).where(ContactOwner.portal_id == pid))}


def pid_of(live_app, sandbox) -> int:
    with live_app.ctx():
        return db.session.query(Portal.id).filter_by(member_id=sandbox.member_id).scalar()


def set_routing(live_app, pid: int, **fields) -> None:
    with live_app.ctx():
        row = row_for_portal(RoutingSettings, pid)
        for k, v in fields.items():
            setattr(row, k, v)
        db.session.commit()


def key_for(live_app, pid: int) -> str:
    with live_app.ctx():
        return pbx.new_key(pid)


def ask(live_app, phone, key: str | None, method: str = "GET") -> requests.Response:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    params = {"phone": phone} if phone is not None else {}
    return requests.request(method, f"{live_app.url}/api/routing/owner", params=params, headers=headers, timeout=10)


def add_contact(sandbox, user: int, name: str, phone: str) -> int:
    return int(rest(sandbox, "crm.contact.add", {"fields": {
        "NAME": name, "LAST_NAME": "Клиентова", "ASSIGNED_BY_ID": user, "PHONE": [{"VALUE": phone, "VALUE_TYPE": "WORK"}]}}))


def rest_total(sandbox) -> int:
    return sum(stats(sandbox)["rest_calls"].values())


def test_the_index_follows_contact_add_update_and_delete(installed, live_app):
    pid = pid_of(live_app, installed)
    c = add_contact(installed, 3, "Ирина", "+7 (916) 111-22-33")
    wait_until(lambda: indexed(live_app, pid).get(c) == (3, "Ирина Клиентова", ["79161112233"]), "the added contact")
    rest(installed, "crm.contact.update", {"id": c, "fields": {
        "ASSIGNED_BY_ID": 4, "PHONE": [{"VALUE": "8 916 444-55-66", "VALUE_TYPE": "MOBILE"}]}})
    wait_until(lambda: indexed(live_app, pid).get(c) == (4, "Ирина Клиентова", ["79161112233", "79164445566"]),
               "the updated contact")
    rest(installed, "crm.contact.delete", {"id": c})
    wait_until(lambda: c not in indexed(live_app, pid), "the deleted contact to leave")
    with live_app.ctx():
        assert db.session.query(ContactPhone).filter_by(portal_id=pid, contact_id=c).count() == 0


def test_the_full_build_and_the_recheck_catch_what_no_event_told(installed, live_app):
    pid = pid_of(live_app, installed)
    crm = installed.state.crm
    made = [crm.add_entity("CONTACT", {"NAME": f"Клиент {i}", "ASSIGNED_BY_ID": str(2 + i % 3),
                                       "PHONE": [{"VALUE": f"+7 903 000-00-{i:02d}"}]}) for i in range(60)]
    set_routing(live_app, pid, index_built_at=None)
    with live_app.ctx():
        assert index.build_index.call_local(pid) == "indexed 60"
    got = indexed(live_app, pid)
    assert {c: got[c] for c in made} == {c: (2 + i % 3, f"Клиент {i}", [f"790300000{i:02d}"])
                                         for i, c in enumerate(made)}
    # Behind the app's back: one contact changes hands, one is deleted; the re-check finds the change, and
    # a full build (the index's first) drops the deleted one.
    crm.update_entity("CONTACT", made[0], {"ASSIGNED_BY_ID": "7"})
    with live_app.ctx():
        assert ongoing.reconcile_portal.call_local(pid).startswith("indexed ")
    assert indexed(live_app, pid)[made[0]][0] == 7
    crm.delete_entity("CONTACT", made[1])
    set_routing(live_app, pid, index_built_at=None)
    with live_app.ctx():
        index.build_index.call_local(pid)
    assert made[1] not in indexed(live_app, pid) and len(indexed(live_app, pid)) == 59


def test_the_answer_owner_fallbacks_and_refusals(installed, live_app):
    pid = pid_of(live_app, installed)
    mine = add_contact(installed, 3, "Ксения", "+7 916 000-00-01")
    gone = add_contact(installed, 9, "Лев", "+7 916 000-00-02")        # user 9 is inactive on the portal
    barred = add_contact(installed, 5, "Марк", "+7 916 000-00-03")     # user 5 never receives contacts
    wait_until(lambda: {mine, gone, barred} <= set(indexed(live_app, pid)), "the contacts in the index")
    set_routing(live_app, pid, excluded_users=[5], fallback_user_id=2, fallback_queue="")
    old_key = key_for(live_app, pid)
    key = key_for(live_app, pid)
    calls_before = rest_total(installed)

    for spelled in ("+7 (916) 000-00-01", "89160000001", "9160000001"):
        r = ask(live_app, spelled, key)
        assert r.status_code == 200, r.text
        assert r.json() == {"phone": pbx.normalise(spelled), "found": True, "source": "owner", "user_id": 3,
                            "name": "Мария Смирнова", "extension": "102", "queue": None, "contact_id": mine}
    for number, contact_id in (("79160000002", gone), ("79160000003", barred)):
        assert ask(live_app, number, key).json() == {
            "phone": number, "found": True, "source": "fallback_user", "user_id": 2, "name": "Иван Петров",
            "extension": "101", "queue": None, "contact_id": contact_id}
    assert ask(live_app, "74950000000", key).json()["source"] == "fallback_user"
    set_routing(live_app, pid, fallback_user_id=None, fallback_queue="sales")
    assert ask(live_app, "74950000000", key).json() == {
        "phone": "74950000000", "found": False, "source": "fallback_queue", "user_id": None, "name": "",
        "extension": "", "queue": "sales", "contact_id": None}
    set_routing(live_app, pid, fallback_queue="")
    assert ask(live_app, "79160000002", key).json()["source"] == "none"

    assert ask(live_app, "79160000001", None).status_code == 401
    assert ask(live_app, "79160000001", "wrong-key").status_code == 401
    assert ask(live_app, "79160000001", old_key).status_code == 401  # a new key replaces the old one
    r = requests.get(f"{live_app.url}/api/routing/owner", params={"phone": "79160000001"},
                     headers={"Authorization": key}, timeout=10)  # no «Bearer»
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    for junk in ("", "abc", "12", "1" * 16, "7916'; DROP TABLE x", None):
        r = ask(live_app, junk, key)
        assert r.status_code == 400 and r.json()["error"] == "bad_phone", junk
        assert any("а" <= ch <= "я" for ch in r.json()["message"].lower())
    for method in ("POST", "PUT", "DELETE"):
        r = ask(live_app, "79160000001", key, method=method)
        assert r.status_code == 405 and "GET" in r.headers["Allow"], method
    assert rest_total(installed) == calls_before  # the answer never asks the portal


def test_a_key_sees_only_its_own_portal(installed, make_sandbox, live_app):
    second = make_sandbox(install=True, seed=2)
    first_pid, second_pid = pid_of(live_app, installed), pid_of(live_app, second)
    a = add_contact(installed, 3, "Нина", "+7 916 777-00-01")
    b = add_contact(second, 4, "Олег", "+7 916 777-00-01")
    only_second = add_contact(second, 6, "Пётр", "+7 916 777-00-02")
    wait_until(lambda: a in indexed(live_app, first_pid) and {b, only_second} <= set(indexed(live_app, second_pid)),
               "both portals' contacts in the index")
    k1, k2 = key_for(live_app, first_pid), key_for(live_app, second_pid)
    assert ask(live_app, "79167770001", k1).json()["user_id"] == 3
    assert ask(live_app, "79167770001", k1).json()["contact_id"] == a
    assert ask(live_app, "79167770001", k2).json()["user_id"] == 4
    assert ask(live_app, "79167770002", k1).json() == {
        "phone": "79167770002", "found": False, "source": "none", "user_id": None, "name": "", "extension": "",
        "queue": None, "contact_id": None}
    assert ask(live_app, "79167770002", k2).json()["contact_id"] == only_second


@pytest.mark.parametrize("live_app", [{"RATE_LIMITS_ENABLED": True, "REDIS_URL": "",
                                       "RATE_LIMITS": {"pbx": (8, 86400), "pbx_refused": (2, 86400)}}],
                         indirect=True)
def test_the_answer_is_rate_limited_per_address(installed, live_app):
    from b24app import ratelimit

    ratelimit._local.clear()
    pid = pid_of(live_app, installed)
    key = key_for(live_app, pid)
    assert [ask(live_app, "79160000001", "wrong").status_code for _ in range(3)] == [401, 401, 429]
    assert [ask(live_app, "79160000001", key).status_code for _ in range(5)] == [200] * 5
    r = ask(live_app, "79160000001", key)  # the ninth request of this address
    assert r.status_code == 429 and r.headers["Retry-After"] == "60" and r.json()["error"] == "too_many_requests"
