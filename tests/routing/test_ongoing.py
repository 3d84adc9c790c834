"""The ongoing alignment (D2) over HTTP against the sandbox: a deal's event moves its contacts once with one
message, repeats and forgeries change nothing, and the periodic re-check finds what a lost event missed."""

from __future__ import annotations

import logging
import time

import requests
from sqlalchemy import select

from b24app.extensions import db
from b24app.inbox.models import InboxEvent
from b24app.routing import ongoing
from b24app.routing.models import AlignmentChange, ContactOwner, RoutingSettings
from tests.platform.helpers import fire, set_sandbox

from .conftest import crm_updates, reset_crm_updates, rest_calls


def rest(sandbox, method: str, params: dict | None = None):
    r = requests.post(f"{sandbox.webhook_url}{method}", json=params or {}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["result"]


def wait_until(check, what: str, timeout: float = 15.0):
    """Poll until `check()` is truthy (the portal sends its events from a thread, a moment later)."""
    end = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def owner_of(sandbox, kind: str, entity_id: int) -> int:
    return int(sandbox.state.crm.entity(kind, entity_id)["ASSIGNED_BY_ID"])


def notices(sandbox, user_id: int) -> list[dict]:
    r = requests.get(f"{sandbox.url}/_sandbox/im/messages", params={"user_id": user_id}, timeout=10)
    return [m for m in r.json() if m.get("notification")]


def changes(live_app, pid: int) -> list[tuple]:
    with live_app.ctx():
        return [(c.entity, c.entity_id, c.old_user_id, c.new_user_id, c.status, c.notified, c.run_id) for c in
                db.session.scalars(select(AlignmentChange).where(AlignmentChange.portal_id == pid)
                                   .order_by(AlignmentChange.id))]


def processed(live_app, pid: int, event: str) -> int:
    with live_app.ctx():
        return db.session.query(InboxEvent).filter_by(portal_id=pid, event=event, status="done").count()


def contact(sandbox, user: int, name: str, phone: str = "") -> int:
    fields = {"NAME": name, "ASSIGNED_BY_ID": user}
    if phone:
        fields["PHONE"] = [{"VALUE": phone, "VALUE_TYPE": "WORK"}]
    return int(rest(sandbox, "crm.contact.add", {"fields": fields}))


def deal(sandbox, user: int, contacts: list[int], **fields) -> int:
    deal_id = int(rest(sandbox, "crm.deal.add", {"fields": {"TITLE": "Сделка", "ASSIGNED_BY_ID": user,
                                                           "CONTACT_IDS": contacts, **fields}}))
    # The links as the portal keeps them (the deal's add event may come before or after: both must work).
    rest(sandbox, "crm.deal.contact.items.set", {"id": deal_id, "items": [
        {"CONTACT_ID": c, "SORT": (i + 1) * 10, "IS_PRIMARY": "Y" if i == 0 else "N"} for i, c in enumerate(contacts)]})
    return deal_id


def test_a_deal_event_moves_its_contacts_once_with_one_message(installed, live_app, routing_settings):
    pid = routing_settings(enabled=True)
    a, b = contact(installed, 3, "Анна"), contact(installed, 3, "Борис")
    d = deal(installed, 3, [a, b])
    wait_until(lambda: processed(live_app, pid, "ONCRMDEALADD"), "the add event")
    assert changes(live_app, pid) == []  # already right: nothing written
    reset_crm_updates(installed)
    before = len(notices(installed, 4))
    reads, echoes = rest_calls(installed, "crm.contact.list"), processed(live_app, pid, "ONCRMCONTACTUPDATE")

    rest(installed, "crm.deal.update", {"id": d, "fields": {"ASSIGNED_BY_ID": 4}})
    wait_until(lambda: owner_of(installed, "CONTACT", a) == 4 and owner_of(installed, "CONTACT", b) == 4,
               "the contacts to follow the deal")
    wait_until(lambda: all(c[5] for c in changes(live_app, pid)) and changes(live_app, pid), "the message")
    # The app's own two updates come back as contact events: they start no alignment and read nothing back.
    wait_until(lambda: processed(live_app, pid, "ONCRMCONTACTUPDATE") == echoes + 2, "the contacts' own events")
    assert rest_calls(installed, "crm.contact.list") == reads + 1  # the alignment's one read of both
    assert sorted(changes(live_app, pid)) == [("contact", a, 3, 4, "done", True, None),
                                              ("contact", b, 3, 4, "done", True, None)]
    assert crm_updates(installed)["contact"] == {a: 1, b: 1}
    got = notices(installed, 4)[before:]
    assert len(got) == 1
    text = got[0]["text"]
    assert "Вам переданы контакты (2)" in text and f"/crm/deal/details/{d}/" in text
    assert f"/crm/contact/details/{a}/]Анна" in text and f"/crm/contact/details/{b}/]Борис" in text
    with live_app.ctx():
        assert dict(db.session.execute(select(ContactOwner.contact_id, ContactOwner.user_id).where(
            ContactOwner.portal_id == pid, ContactOwner.contact_id.in_([a, b]))).all()) == {a: 4, b: 4}

    # The same event delivered three times more, a second later (so the edge does not take the first for a
    # duplicate and the handler runs again): the contacts are right, so no write and no message.
    done_before = processed(live_app, pid, "ONCRMDEALUPDATE")
    time.sleep(1.1)
    out = fire(installed, "ONCRMDEALUPDATE", {"FIELDS": {"ID": str(d)}}, times=3)
    assert [x["status"] for x in out["deliveries"]] == [200, 200, 200]
    assert processed(live_app, pid, "ONCRMDEALUPDATE") == done_before + 1  # the two others: duplicates
    assert crm_updates(installed)["contact"] == {a: 1, b: 1}
    assert len(notices(installed, 4)) == before + 1 and len(changes(live_app, pid)) == 2


def test_forged_malformed_and_missing_deals_change_nothing(installed, live_app, routing_settings, caplog):
    pid = routing_settings(enabled=True)
    c = contact(installed, 3, "Вера")
    d = deal(installed, 3, [c])
    wait_until(lambda: processed(live_app, pid, "ONCRMDEALADD"), "the add event")
    # The deal moves without an event reaching the app (state changed directly): only an event may move c.
    installed.state.crm.update_entity("DEAL", d, {"ASSIGNED_BY_ID": "5"})
    reset_crm_updates(installed)
    form = {"event": "ONCRMDEALUPDATE", "data[FIELDS][ID]": str(d), "ts": str(int(time.time())),
            "auth[member_id]": installed.member_id, "auth[domain]": installed.domain}
    forged = requests.post(f"{live_app.url}/b24/events", data={**form, "auth[application_token]": "forged"},
                           timeout=10)
    assert forged.status_code == 401
    token = installed.state.app.application_token
    bad = requests.post(f"{live_app.url}/b24/events",
                        data={**form, "data[FIELDS][ID]": "12; DROP", "auth[application_token]": token}, timeout=10)
    assert bad.status_code == 400
    with caplog.at_level(logging.INFO, logger="b24app.routing.ongoing"):
        fire(installed, "ONCRMDEALUPDATE", {"FIELDS": {"ID": "987654"}})
    assert any("987654" in r.getMessage() and "does not exist" in r.getMessage() for r in caplog.records)
    assert owner_of(installed, "CONTACT", c) == 3 and crm_updates(installed)["contact"] == {}
    assert changes(live_app, pid) == []
    # A genuine event for the same deal does move the contact (so the checks above could have failed).
    fire(installed, "ONCRMDEALUPDATE", {"FIELDS": {"ID": str(d)}})
    assert owner_of(installed, "CONTACT", c) == 5 and crm_updates(installed)["contact"] == {c: 1}


def test_with_distribution_disabled_nothing_moves(installed, live_app, routing_settings):
    pid = routing_settings(enabled=False)
    c = contact(installed, 3, "Глеб")
    d = deal(installed, 3, [c])
    reset_crm_updates(installed)
    rest(installed, "crm.deal.update", {"id": d, "fields": {"ASSIGNED_BY_ID": 4}})
    wait_until(lambda: processed(live_app, pid, "ONCRMDEALUPDATE"), "the update event")
    assert owner_of(installed, "CONTACT", c) == 3 and crm_updates(installed)["contact"] == {}
    assert changes(live_app, pid) == []


def test_the_recheck_finds_a_change_whose_event_was_lost(installed, live_app, routing_settings):
    pid = routing_settings(enabled=True)
    c1, c2 = contact(installed, 3, "Дина"), contact(installed, 3, "Егор")
    d1, d2 = deal(installed, 3, [c1]), deal(installed, 3, [c2])
    wait_until(lambda: processed(live_app, pid, "ONCRMDEALADD") >= 2, "the add events")
    set_sandbox(installed, drop_events_share=1.0)
    rest(installed, "crm.deal.update", {"id": d1, "fields": {"ASSIGNED_BY_ID": 6}})
    installed.state.crm.update_entity("DEAL", d2, {"ASSIGNED_BY_ID": "7"})  # changed behind the app's back
    time.sleep(0.3)  # an event would have arrived by now; none may
    assert owner_of(installed, "CONTACT", c1) == 3 and owner_of(installed, "CONTACT", c2) == 3
    reset_crm_updates(installed)
    with live_app.ctx():
        assert "moved 2" in ongoing.reconcile_portal.call_local(pid)
        cursor = db.session.scalar(select(RoutingSettings.reconciled_to).where(RoutingSettings.portal_id == pid))
    assert owner_of(installed, "CONTACT", c1) == 6 and owner_of(installed, "CONTACT", c2) == 7
    assert cursor == installed.state.crm.entity("DEAL", d2)["DATE_MODIFY"]
    # A second pass re-reads the deals at the cursor and writes nothing.
    with live_app.ctx():
        assert "moved 0" in ongoing.reconcile_portal.call_local(pid)
    assert crm_updates(installed)["contact"] == {c1: 1, c2: 1}
    assert len(notices(installed, 6)) == 1 and len(notices(installed, 7)) == 1


def test_the_largest_deal_wins_and_the_company_follows(installed, live_app, routing_settings):
    pid = routing_settings(enabled=True, winner="largest", companies=True)
    c = contact(installed, 3, "Жанна")
    company = int(rest(installed, "crm.company.add", {"fields": {"TITLE": "ООО Ромашка", "ASSIGNED_BY_ID": 3}}))
    big = deal(installed, 3, [c], OPPORTUNITY="100000", COMPANY_ID=company)
    small = deal(installed, 3, [c], OPPORTUNITY="100")
    wait_until(lambda: processed(live_app, pid, "ONCRMDEALADD") >= 2, "the add events")
    reset_crm_updates(installed)
    # The small deal changes hands: the big one still decides, so the contact stays.
    rest(installed, "crm.deal.update", {"id": small, "fields": {"ASSIGNED_BY_ID": 4}})
    wait_until(lambda: processed(live_app, pid, "ONCRMDEALUPDATE") >= 1, "the update event")
    assert owner_of(installed, "CONTACT", c) == 3 and crm_updates(installed)["contact"] == {}
    # The big deal goes to an inactive user (9): nobody moves; then to user 6: contact and company follow.
    installed.state.crm.update_entity("DEAL", big, {"ASSIGNED_BY_ID": "9"})
    fire(installed, "ONCRMDEALUPDATE", {"FIELDS": {"ID": str(big)}})
    assert owner_of(installed, "CONTACT", c) == 3 and owner_of(installed, "COMPANY", company) == 3
    installed.state.crm.update_entity("DEAL", big, {"ASSIGNED_BY_ID": "6"})
    time.sleep(1.1)  # the same deal's event in the same second (same ts) is a duplicate at the edge
    fire(installed, "ONCRMDEALUPDATE", {"FIELDS": {"ID": str(big)}})
    assert owner_of(installed, "CONTACT", c) == 6 and owner_of(installed, "COMPANY", company) == 6
    assert crm_updates(installed) == {"contact": {c: 1}, "company": {company: 1}}
    assert sorted(x[:4] for x in changes(live_app, pid)) == [("company", company, 3, 6), ("contact", c, 3, 6)]


def test_a_deal_given_to_an_absent_user_sends_its_contacts_to_his_head(installed, live_app, routing_settings):
    pid = routing_settings(enabled=True, on_excluded="head", excluded_users=[6])
    c1, c2 = contact(installed, 3, "Зоя"), contact(installed, 3, "Илья")
    d1, d2 = deal(installed, 3, [c1]), deal(installed, 3, [c2])
    wait_until(lambda: processed(live_app, pid, "ONCRMDEALADD") >= 2, "the add events")
    reset_crm_updates(installed)
    for d, user in ((d1, "9"), (d2, "6")):  # 9 is inactive, 6 excluded: both in the call centre, headed by 5
        installed.state.crm.update_entity("DEAL", d, {"ASSIGNED_BY_ID": user})
        fire(installed, "ONCRMDEALUPDATE", {"FIELDS": {"ID": str(d)}})
    assert owner_of(installed, "CONTACT", c1) == 5 and owner_of(installed, "CONTACT", c2) == 5
    assert crm_updates(installed)["contact"] == {c1: 1, c2: 1}
    # The head himself heads the call centre: his own head is the company's (user 1).
    installed.state.crm.update_entity("DEAL", d1, {"ASSIGNED_BY_ID": "5"})
    routing_settings(excluded_users=[5, 6])
    time.sleep(1.1)  # not the same second as the event above for this deal (that would be a duplicate)
    fire(installed, "ONCRMDEALUPDATE", {"FIELDS": {"ID": str(d1)}})
    assert owner_of(installed, "CONTACT", c1) == 1


def test_a_closed_deal_hands_its_contact_to_the_next_open_one(installed, live_app, routing_settings):
    pid = routing_settings(enabled=True)
    c = contact(installed, 3, "Кира")
    older = deal(installed, 4, [c])
    wait_until(lambda: processed(live_app, pid, "ONCRMDEALADD") >= 1, "the first add event")
    newer = deal(installed, 3, [c])
    wait_until(lambda: processed(live_app, pid, "ONCRMDEALADD") >= 2, "the second add event")
    assert owner_of(installed, "CONTACT", c) == 3  # the newer deal was changed last, and it is 3's
    reset_crm_updates(installed)
    # The older deal's event again, as a late delivery would bring it: the newer deal still decides.
    time.sleep(1.1)  # not the same second as the add events (the edge would take it for a duplicate)
    fire(installed, "ONCRMDEALUPDATE", {"FIELDS": {"ID": str(older)}})
    assert owner_of(installed, "CONTACT", c) == 3 and crm_updates(installed)["contact"] == {}
    installed.state.crm.update_entity("DEAL", newer, {"STAGE_ID": "WON"})
    fire(installed, "ONCRMDEALUPDATE", {"FIELDS": {"ID": str(newer)}})
    assert owner_of(installed, "CONTACT", c) == 4 and crm_updates(installed)["contact"] == {c: 1}
    assert [x[:4] for x in changes(live_app, pid)][-1] == ("contact", c, 3, 4)
