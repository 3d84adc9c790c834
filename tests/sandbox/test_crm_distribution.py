"""The sandbox CRM the call-distribution work runs against, over HTTP: the seeded portal (20 000 deals,
15 000 contacts) and its shape, ID-window reads with start=-1, list filters, updates that bump
DATE_MODIFY, fire events and count in /_sandbox/crm/stats, deal↔contact links, tasks and users."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode

import pytest
import requests

from b24app.sandbox.server import SandboxServer
from b24app.sandbox.settings import SandboxSettings

from .conftest import QUIET
from .helpers import admin, call, hook

DEALS, CONTACTS, COMPANIES = 20000, 15000, 2000
DEAL_FIELDS = ["ID", "ASSIGNED_BY_ID", "CATEGORY_ID", "STAGE_ID", "CLOSED", "DATE_MODIFY", "DATE_CREATE",
               "OPPORTUNITY", "COMPANY_ID", "CONTACT_ID", "TITLE"]


def ok(r: requests.Response):
    body = r.json()
    assert r.status_code == 200, body
    return body


def batch(sandbox, cmd: dict[str, tuple[str, list]]) -> dict:
    """One /rest/batch of up to 50 commands given as (method, [(key, value), ...])."""
    body = ok(requests.post(f"{sandbox.webhook_url}batch", timeout=60, json={
        "halt": 0, "cmd": {k: f"{m}?{urlencode(q)}" for k, (m, q) in cmd.items()}}))["result"]
    assert not body["result_error"], body["result_error"]
    return body["result"]


def read_windows(sandbox, method: str, first: int, last: int, select: list[str], extra=()) -> list[dict]:
    """Every row in ID windows of 50, 50 windows a batch, start=-1 — the way BitrixClient.export reads."""
    rows: list[dict] = []
    lo = first
    while lo <= last:
        cmd = {}
        for i in range(50):
            a = lo + i * 50
            if a > last:
                break
            cmd[f"w{i}"] = (method, [("filter[>=ID]", a), ("filter[<ID]", a + 50), *extra, ("order[ID]", "ASC"),
                                     ("start", -1), *[("select[]", s) for s in select]])
        got = batch(sandbox, cmd)
        for i in range(len(cmd)):
            rows += got.get(f"w{i}") or []
        lo += 50 * 50
    return rows


@pytest.fixture(scope="module")
def portal():
    server = SandboxServer(SandboxSettings(**QUIET)).start()
    server.seeded = admin(server, "crm/seed", {"deals": DEALS, "contacts": CONTACTS, "companies": COMPANIES,
                                               "seed": 7})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def deals(portal) -> list[dict]:
    first, last = portal.seeded["deals"]
    return read_windows(portal, "crm.deal.list", first, last, DEAL_FIELDS)


@pytest.fixture(scope="module")
def contacts(portal) -> list[dict]:
    first, last = portal.seeded["contacts"]
    return read_windows(portal, "crm.contact.list", first, last,
                        ["ID", "ASSIGNED_BY_ID", "NAME", "LAST_NAME", "PHONE", "DATE_MODIFY"])


@pytest.fixture(scope="module")
def links(portal, deals) -> dict[int, list[int]]:
    """Deal → contact IDs, read with crm.deal.contact.items.get 50 to a batch."""
    out: dict[int, list[int]] = {}
    ids = [int(d["ID"]) for d in deals]
    for at in range(0, len(ids), 50):
        chunk = ids[at:at + 50]
        got = batch(portal, {f"d{i}": ("crm.deal.contact.items.get", [("id", i)]) for i in chunk})
        for i in chunk:
            out[i] = [int(x["CONTACT_ID"]) for x in got[f"d{i}"]]
    return out


# --- seeding ---------------------------------------------------------------------------------------------

def test_seed_answer_categories_and_stages(portal):
    assert portal.seeded == {"deals": [1, DEALS], "contacts": [1, CONTACTS], "companies": [1, COMPANIES],
                             "categories": {"0": "Общее", "1": "Продажи", "2": "Сервис"}}
    cats = ok(hook(portal, "crm.deal.category.list"))["result"]
    assert [(c["ID"], c["NAME"]) for c in cats] == [("1", "Продажи"), ("2", "Сервис")]
    stages = ok(hook(portal, "crm.status.list", {"filter": {"ENTITY_ID": "DEAL_STAGE_1"}}))["result"]
    codes = [s["STATUS_ID"] for s in stages]
    assert codes[0] == "C1:NEW" and {"C1:WON", "C1:LOSE"} <= set(codes)
    general = [s["STATUS_ID"] for s in ok(hook(portal, "crm.status.list",
                                                {"filter": {"ENTITY_ID": "DEAL_STAGE"}}))["result"]]
    assert general[:2] == ["NEW", "PREPARATION"] and general[-2:] == ["WON", "LOSE"]


def test_seed_is_deterministic_adds_and_fires_nothing(make_sandbox, stub_app):
    def seeded(seed: int):
        sandbox = make_sandbox(app_url=stub_app.url)
        token = admin(sandbox, "install", {"finish": True})["access_token"]
        ok(call(sandbox, "event.bind", token, {"event": "ONCRMDEALADD", "handler": stub_app.url + "/b24/events"}))
        ok(hook(sandbox, "crm.contact.add", {"fields": {"NAME": "Уже", "LAST_NAME": "Был"}}))
        answer = admin(sandbox, "crm/seed", {"deals": 120, "contacts": 80, "companies": 10, "seed": seed})
        # From ID 2 on: contact 1 was written just now, so its dates tell the sandboxes apart.
        rows = [ok(hook(sandbox, f"crm.{kind}.list", {"filter": {">=ID": 2}, "start": s}))["result"]
                for kind in ("deal", "contact", "company") for s in (0, 50, 100)]
        return answer, rows, sandbox

    a, rows_a, sandbox = seeded(7)
    b, rows_b, _ = seeded(7)
    _c, rows_c, _ = seeded(8)
    assert a == b and rows_a == rows_b and rows_a != rows_c
    assert a["contacts"] == [2, 81] and a["deals"] == [1, 120]  # added after what was there
    assert ok(hook(sandbox, "crm.contact.get", {"id": 1}))["result"]["NAME"] == "Уже"
    again = admin(sandbox, "crm/seed", {"deals": 5, "contacts": 0, "companies": 0, "seed": 7})
    assert again["deals"] == [121, 125] and again["contacts"] == [] and again["categories"]["2"] == "Сервис"
    assert len(ok(hook(sandbox, "crm.deal.category.list"))["result"]) == 2  # the funnels are not doubled
    time.sleep(0.3)  # events leave from a thread: give a wrongly fired one the time to arrive
    assert stub_app.received("/b24/events") == []


def test_seed_rejects_bad_input(sandbox):
    for body in ({"deals": "много"}, {"deals": -1}, {"contacts": 10 ** 7}):
        r = requests.post(f"{sandbox.url}/_sandbox/crm/seed", json=body, timeout=10)
        assert r.status_code == 400 and r.json()["error"]
    assert ok(hook(sandbox, "crm.deal.list"))["total"] == 0


def test_deals_have_the_distribution_shape(portal, deals):
    users = {int(u["ID"]): u for u in ok(hook(portal, "user.get", {"start": 0}))["result"]}
    assert len(deals) == DEALS
    closed = [d for d in deals if d["CLOSED"] == "Y"]
    assert 0.15 < len(closed) / DEALS < 0.25
    for d in deals:
        code = d["STAGE_ID"].split(":")[-1]
        assert (d["CLOSED"] == "Y") == (code in ("WON", "LOSE"))
        assert d["STAGE_ID"].startswith(f"C{d['CATEGORY_ID']}:") if d["CATEGORY_ID"] != "0" \
            else ":" not in d["STAGE_ID"]
        assert d["DATE_MODIFY"] >= d["DATE_CREATE"] and d["DATE_CREATE"].endswith("+03:00")
        assert int(d["ASSIGNED_BY_ID"]) in users and d["CONTACT_ID"]
    assert set(Counter(d["CATEGORY_ID"] for d in deals)) == {"0", "1", "2"}
    owners = Counter(int(d["ASSIGNED_BY_ID"]) for d in deals)
    fired = [uid for uid in owners if not users[uid]["ACTIVE"]]
    assert fired and all(owners[uid] > 100 for uid in fired) and len(owners) >= 5
    now = datetime.now().astimezone()
    created = sorted(datetime.fromisoformat(d["DATE_CREATE"]) for d in deals)
    assert now - timedelta(days=366) < created[0] and created[-1] <= now
    assert created[-1] - created[0] > timedelta(days=300)
    assert len({d["OPPORTUNITY"] for d in deals}) > 500
    assert 0.4 < sum(1 for d in deals if d["COMPANY_ID"]) / DEALS < 0.6


def test_links_phones_and_responsibles(portal, deals, contacts, links):
    by_id = {int(d["ID"]): d for d in deals}
    assert all(1 <= len(ids) <= 3 and len(set(ids)) == len(ids) for ids in links.values())
    assert all(str(ids[0]) == by_id[d]["CONTACT_ID"] for d, ids in links.items())
    deals_of = Counter(c for ids in links.values() for c in ids)
    assert len(contacts) == CONTACTS
    assert sum(1 for c in contacts if deals_of[int(c["ID"])] >= 2) > CONTACTS // 4
    assert sum(1 for c in contacts if deals_of[int(c["ID"])] == 0) > CONTACTS // 20
    phones = [c["PHONE"] for c in contacts]
    assert all(len(p) == 1 and p[0]["VALUE_TYPE"] == "WORK" and p[0]["VALUE"].startswith("+7")
               and len(p[0]["VALUE"]) == 12 for p in phones)
    assert len({p[0]["VALUE"] for p in phones}) == CONTACTS
    responsible = {int(c["ID"]): c["ASSIGNED_BY_ID"] for c in contacts}
    primary_owner = {}
    for d, ids in links.items():
        primary_owner.setdefault(ids[0], by_id[d]["ASSIGNED_BY_ID"])
    same = sum(1 for c, owner in primary_owner.items() if responsible[c] == owner)
    assert same / len(primary_owner) < 0.4  # most contacts are not with their deal's manager yet
    companies = ok(hook(portal, "crm.company.list", {"select": ["ID", "ASSIGNED_BY_ID"]}))
    assert companies["total"] == COMPANIES and all(c["ASSIGNED_BY_ID"] for c in companies["result"])
    found = ok(hook(portal, "crm.duplicate.findbycomm", {"type": "PHONE", "values": [phones[9][0]["VALUE"]]}))
    assert found["result"] == {"CONTACT": [10]}


# --- reading ---------------------------------------------------------------------------------------------

def test_windows_read_every_deal_once_in_id_order(portal, deals):
    assert [int(d["ID"]) for d in deals] == list(range(1, DEALS + 1))
    assert set(deals[0]) == set(DEAL_FIELDS)
    fast = ok(hook(portal, "crm.deal.list", {"filter": {">ID": 100}, "order": {"ID": "ASC"}, "start": -1}))
    assert [d["ID"] for d in fast["result"]] == [str(i) for i in range(101, 151)]
    assert "next" not in fast and not fast.get("total")
    last = ok(hook(portal, "crm.deal.list", {"order": {"ID": "DESC"}, "start": -1, "select": ["ID"]}))
    assert last["result"][0] == {"ID": str(DEALS)} and last["result"][-1] == {"ID": str(DEALS - 49)}
    paged = ok(hook(portal, "crm.deal.list", {"start": 19950, "select": ["ID"]}))
    assert paged["total"] == DEALS and "next" not in paged and paged["result"][-1]["ID"] == str(DEALS)
    assert ok(hook(portal, "crm.deal.list", {"start": 50}))["next"] == 100
    narrow = ok(hook(portal, "crm.deal.list", {"filter": {">=ID": 10, "<=ID": 12, "@ID": [11, 12, 40]}}))
    assert [d["ID"] for d in narrow["result"]] == ["11", "12"]


def test_list_filters_match_the_data(portal, deals):
    def total(flt):
        return ok(hook(portal, "crm.deal.list", {"filter": flt, "select": ["ID"]}))["total"]

    count = Counter(d["CATEGORY_ID"] for d in deals)
    assert total({"CATEGORY_ID": 1}) == count["1"] and total({"CATEGORY_ID": [0, 2]}) == count["0"] + count["2"]
    stages = Counter(d["STAGE_ID"] for d in deals)
    assert total({"STAGE_ID": ["C1:WON", "LOSE"]}) == stages["C1:WON"] + stages["LOSE"]
    assert total({"STAGE_ID": "C2:NEW"}) == stages["C2:NEW"]
    open_in_1 = sum(1 for d in deals if d["CATEGORY_ID"] == "1" and d["CLOSED"] == "N")
    assert total({"CATEGORY_ID": "1", "CLOSED": "N"}) == open_in_1
    owner = deals[0]["ASSIGNED_BY_ID"]
    assert total({"ASSIGNED_BY_ID": owner}) == sum(1 for d in deals if d["ASSIGNED_BY_ID"] == owner)
    moments = sorted(d["DATE_MODIFY"] for d in deals)
    since = moments[DEALS - 300]
    later = [d for d in deals if d["DATE_MODIFY"] >= since]
    assert total({">=DATE_MODIFY": since}) == len(later)
    assert total({">DATE_MODIFY": since}) == sum(1 for d in later if d["DATE_MODIFY"] > since)
    # The same moment written in UTC selects the same deals.
    utc = datetime.fromisoformat(since).astimezone(UTC).isoformat()
    assert total({">=DATE_MODIFY": utc}) == len(later)
    page = ok(hook(portal, "crm.deal.list", {"filter": {"CATEGORY_ID": 2, "CLOSED": "Y", ">=ID": 5000},
                                            "order": {"ID": "DESC"}, "start": -1,
                                            "select": ["ID", "STAGE_ID", "OPPORTUNITY"]}))["result"]
    want = [d for d in reversed(deals) if d["CATEGORY_ID"] == "2" and d["CLOSED"] == "Y" and int(d["ID"]) >= 5000]
    assert [d["ID"] for d in page] == [d["ID"] for d in want[:50]]
    assert set(page[0]) == {"ID", "STAGE_ID", "OPPORTUNITY"}


def test_contact_and_company_lists(portal, contacts):
    ids = [int(c["ID"]) for c in contacts[::300]][:50]
    got = ok(hook(portal, "crm.contact.list", {"filter": {"ID": ids}, "select": ["ID", "ASSIGNED_BY_ID", "PHONE"],
                                               "start": -1}))["result"]
    assert [int(c["ID"]) for c in got] == ids and all(c["PHONE"] for c in got)
    by_phone = ok(hook(portal, "crm.contact.list", {"filter": {"PHONE": contacts[77]["PHONE"][0]["VALUE"]},
                                                    "select": ["ID"]}))["result"]
    assert by_phone == [{"ID": contacts[77]["ID"]}]
    window = ok(hook(portal, "crm.contact.list", {"filter": {">=ID": 500, "<ID": 520}, "start": -1,
                                                  "select": ["ID", "NAME", "LAST_NAME"]}))["result"]
    assert [c["ID"] for c in window] == [str(i) for i in range(500, 520)] and all(c["NAME"] for c in window)
    since = sorted(c["DATE_MODIFY"] for c in contacts)[-40]
    assert ok(hook(portal, "crm.contact.list", {"filter": {">=DATE_MODIFY": since}}))["total"] == \
        sum(1 for c in contacts if c["DATE_MODIFY"] >= since)
    companies = ok(hook(portal, "crm.company.list", {"filter": {"ID": [3, 1, 2000]}, "select": ["ID", "TITLE"]}))
    assert [c["ID"] for c in companies["result"]] == ["1", "3", "2000"] and companies["result"][0]["TITLE"]


# --- writing ---------------------------------------------------------------------------------------------

@pytest.fixture
def bound(make_sandbox, stub_app):
    """A small seeded portal with the app installed and the CRM update events bound to the stub app."""
    sandbox = make_sandbox(app_url=stub_app.url)
    sandbox.token = admin(sandbox, "install", {"finish": True})["access_token"]
    for event in ("ONCRMDEALUPDATE", "ONCRMCONTACTUPDATE", "ONCRMCOMPANYUPDATE"):
        ok(call(sandbox, "event.bind", sandbox.token, {"event": event, "handler": stub_app.url + "/b24/events"}))
    sandbox.seeded = admin(sandbox, "crm/seed", {"deals": 200, "contacts": 150, "companies": 20, "seed": 3})
    return sandbox


def events_of(stub_app, count: int) -> list[tuple[str, str]]:
    """(event, FIELDS.ID) of what reached the stub app, once `count` have arrived (events leave a thread)."""
    for _ in range(200):
        posts = stub_app.received("/b24/events")
        if len(posts) >= count:
            break
        time.sleep(0.02)
    out = []
    for post in stub_app.received("/b24/events"):
        form = dict(parse_qsl(post["raw"]))
        out.append((form["event"], form["data[FIELDS][ID]"]))
    return out


def test_batched_contact_updates_bump_date_fire_once_and_count(bound, stub_app):
    ids = list(range(1, 51))
    before = {c["ID"]: c["DATE_MODIFY"] for c in ok(hook(bound, "crm.contact.list", {
        "filter": {"ID": ids}, "select": ["ID", "DATE_MODIFY"]}))["result"]}
    got = batch(bound, {f"c{i}": ("crm.contact.update", [("id", i), ("fields[ASSIGNED_BY_ID]", 3)]) for i in ids})
    assert all(got[f"c{i}"] is True for i in ids)
    after = ok(hook(bound, "crm.contact.list", {"filter": {"ID": ids}, "select": ["ID", "ASSIGNED_BY_ID",
                                                                               "DATE_MODIFY"]}))["result"]
    assert all(c["ASSIGNED_BY_ID"] == "3" and c["DATE_MODIFY"] > before[c["ID"]] for c in after)
    assert sorted(events_of(stub_app, 50)) == sorted(("ONCRMCONTACTUPDATE", str(i)) for i in ids)
    stats = requests.get(f"{bound.url}/_sandbox/crm/stats", timeout=10).json()
    assert stats["contact_updates"] == {str(i): 1 for i in ids} and stats["company_updates"] == {}
    # Found again by the reconcile's «changed since» filter.
    newest = max(c["DATE_MODIFY"] for c in after)
    assert {c["ID"] for c in ok(hook(bound, "crm.contact.list", {"filter": {">=DATE_MODIFY": newest}}))["result"]} \
        >= {after[-1]["ID"]}

    ok(call(bound, "crm.company.update", bound.token, {"id": 4, "fields": {"ASSIGNED_BY_ID": 5}}))
    ok(call(bound, "crm.contact.update", bound.token, {"id": 1, "fields": {"ASSIGNED_BY_ID": 4}}))
    assert ok(hook(bound, "crm.company.get", {"id": 4}))["result"]["MODIFY_BY_ID"] == "1"
    stats = requests.get(f"{bound.url}/_sandbox/crm/stats", timeout=10).json()
    assert stats["contact_updates"]["1"] == 2 and stats["company_updates"] == {"4": 1}
    assert requests.post(f"{bound.url}/_sandbox/crm/stats/reset", timeout=10).json() == \
        {"contact_updates": {}, "company_updates": {}, "deal_updates": {}}
    missing = hook(bound, "crm.contact.update", {"id": 99999, "fields": {"ASSIGNED_BY_ID": 3}})
    assert missing.status_code == 400 and missing.json()["error"] == "NOT_FOUND"
    assert requests.get(f"{bound.url}/_sandbox/crm/stats", timeout=10).json()["contact_updates"] == {}


def test_update_keeps_the_modifying_user(bound):
    user3 = admin(bound, "tokens", {"user_id": 3})["access_token"]
    ok(call(bound, "crm.contact.update", user3, {"id": 7, "fields": {"ASSIGNED_BY_ID": 2}}))
    row = ok(hook(bound, "crm.contact.get", {"id": 7}))["result"]
    assert (row["MODIFY_BY_ID"], row["ASSIGNED_BY_ID"]) == ("3", "2")
    assert datetime.fromisoformat(row["DATE_MODIFY"]) > datetime.now().astimezone() - timedelta(minutes=1)


def test_deal_contacts_relink(bound, stub_app):
    deal = ok(hook(bound, "crm.deal.get", {"id": 5}))["result"]
    ok(hook(bound, "crm.deal.update", {"id": 5, "fields": {"CONTACT_IDS": [9, 8, 9], "ASSIGNED_BY_ID": 6}}))
    items = ok(hook(bound, "crm.deal.contact.items.get", {"id": 5}))["result"]
    assert [(i["CONTACT_ID"], i["IS_PRIMARY"]) for i in items] == [(9, "Y"), (8, "N")]
    now = ok(hook(bound, "crm.deal.get", {"id": 5}))["result"]
    assert now["CONTACT_ID"] == "9" and now["ASSIGNED_BY_ID"] == "6" and now["DATE_MODIFY"] > deal["DATE_MODIFY"]
    assert events_of(stub_app, 1) == [("ONCRMDEALUPDATE", "5")]
    # Form-encoded CONTACT_IDS (what a batch command carries) relinks the same way.
    batch(bound, {"u": ("crm.deal.update", [("id", 6), ("fields[CONTACT_IDS][]", 3), ("fields[CONTACT_IDS][]", 4)])})
    assert [i["CONTACT_ID"] for i in ok(hook(bound, "crm.deal.contact.items.get", {"id": 6}))["result"]] == [3, 4]

    ok(hook(bound, "crm.deal.contact.items.set", {"id": 5, "items": [
        {"CONTACT_ID": 11, "SORT": 20}, {"CONTACT_ID": 12, "SORT": 10}, {"CONTACT_ID": 13, "SORT": 30,
                                                                         "IS_PRIMARY": "Y"}]}))
    assert [i["CONTACT_ID"] for i in ok(hook(bound, "crm.deal.contact.items.get", {"id": 5}))["result"]] == \
        [13, 12, 11]
    ok(hook(bound, "crm.deal.contact.add", {"id": 5, "fields": {"CONTACT_ID": 14}}))
    ok(hook(bound, "crm.deal.contact.delete", {"id": 5, "fields": {"CONTACT_ID": 13}}))
    assert [i["CONTACT_ID"] for i in ok(hook(bound, "crm.deal.contact.items.get", {"id": 5}))["result"]] == \
        [12, 11, 14]
    assert ok(hook(bound, "crm.deal.get", {"id": 5}))["result"]["CONTACT_ID"] == "12"
    bad = hook(bound, "crm.deal.contact.add", {"id": 5, "fields": {"CONTACT_ID": 99999}})
    assert bad.status_code == 400
    assert hook(bound, "crm.deal.contact.items.set", {"id": 99999, "items": []}).json()["error"] == "NOT_FOUND"
    ok(hook(bound, "crm.deal.contact.items.delete", {"id": 5}))
    assert ok(hook(bound, "crm.deal.contact.items.get", {"id": 5}))["result"] == []


# --- tasks and people ------------------------------------------------------------------------------------

def test_tasks_add_get_list(bound):
    fields = {"TITLE": "Перезвонить клиенту", "DESCRIPTION": "Пропущенный звонок", "RESPONSIBLE_ID": 3,
              "DEADLINE": "2026-12-10T12:00:00", "CREATED_BY": 1, "UF_CRM_TASK": ["C_12"]}
    task = ok(call(bound, "tasks.task.add", bound.token, {"fields": fields}))["result"]["task"]
    assert (task["id"], task["title"], task["responsibleId"], task["deadline"], task["ufCrmTask"]) == \
        ("1", "Перезвонить клиенту", "3", "2026-12-10T12:00:00+03:00", ["C_12"])
    ok(hook(bound, "tasks.task.add", {"fields": {**fields, "RESPONSIBLE_ID": 4, "UF_CRM_TASK": ["C_13"]}}))
    got = ok(hook(bound, "tasks.task.get", {"taskId": 1}))["result"]["task"]
    assert got == task
    mine = ok(hook(bound, "tasks.task.list", {"filter": {"RESPONSIBLE_ID": 4}}))
    assert [t["id"] for t in mine["result"]["tasks"]] == ["2"] and mine["total"] == 1
    listed = requests.get(f"{bound.url}/_sandbox/tasks", timeout=10).json()
    assert listed[0]["url"] == f"{bound.url}/company/personal/user/3/tasks/task/view/1/"
    shown = requests.get(listed[0]["url"], timeout=10)
    assert shown.status_code == 200 and "Перезвонить клиенту" in shown.text and "Мария Смирнова" in shown.text
    assert requests.get(f"{bound.url}/company/personal/user/3/tasks/task/view/9/", timeout=10).status_code == 404
    for bad in ({"TITLE": "x"}, {"RESPONSIBLE_ID": 3}, {"TITLE": "x", "RESPONSIBLE_ID": 999},
                {"TITLE": "x", "RESPONSIBLE_ID": 3, "DEADLINE": "завтра"}):
        r = hook(bound, "tasks.task.add", {"fields": bad})
        assert r.status_code == 400 and r.json()["error"] == "ERROR_CORE"
    assert hook(bound, "tasks.task.get", {"taskId": 77}).status_code == 400
    assert len(requests.get(f"{bound.url}/_sandbox/tasks", timeout=10).json()) == 2


def test_tasks_need_the_task_scope(make_sandbox):
    sandbox = make_sandbox(app_scope="crm,user")
    token = admin(sandbox, "tokens", {"user_id": 1})["access_token"]
    r = call(sandbox, "tasks.task.add", token, {"fields": {"TITLE": "x", "RESPONSIBLE_ID": 1}})
    assert (r.status_code, r.json()["error"]) == (403, "insufficient_scope")


def test_users_have_inner_numbers_a_fired_one_and_heads(sandbox):
    users = ok(hook(sandbox, "user.get", {}))["result"]
    assert all(u["UF_PHONE_INNER"].isdigit() for u in users)
    assert len({u["UF_PHONE_INNER"] for u in users}) == len(users)
    fired = [u for u in users if not u["ACTIVE"]]
    assert fired and ok(hook(sandbox, "user.get", {"FILTER": {"ACTIVE": "N"}}))["result"] == fired
    heads = {d["ID"]: d.get("UF_HEAD") for d in ok(hook(sandbox, "department.get", {}))["result"]}
    assert heads["2"] == "2" and all(heads.values())
