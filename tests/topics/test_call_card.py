"""The CALL_CARD popup over real HTTP against the sandbox portal: topics in the manager's order, a choice
made while the call still rings reaching the call and its QA card, refusals in Russian as 4xx JSON, the
client summary and the client's local time."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import requests
from sqlalchemy import select

from b24app.calls.models import Call
from b24app.extensions import db
from b24app.models_base import utcnow
from b24app.portals.models import Portal
from b24app.qa.models import Checklist, QaSetup
from b24app.topics import client_info
from b24app.topics.models import CallTopic, Topic

from ..calls.test_intake import add_stat_row, callend, fire
from ..platform.helpers import frame_token_from, open_placement, set_sandbox


def _pid(live_app, sandbox) -> int:
    with live_app.ctx():
        return db.session.scalar(select(Portal.id).where(Portal.member_id == sandbox.member_id))


def _topics(live_app, pid) -> dict[str, Topic]:
    with live_app.ctx():
        rows = list(db.session.scalars(select(Topic).where(Topic.portal_id == pid)))
        db.session.expunge_all()
        return {t.name: t for t in rows}


def _open(installed, live_app, call_id: str | None = "externalCall.test.1", user_id: int = 2, lang: str = "ru",
          **options) -> requests.Response:
    opts = {"PHONE_NUMBER": "+73432000000", "CALL_DIRECTION": "incoming", "CALL_STATE": "connecting",
            "CRM_ACTIVITY_ID": "undefined", "CALL_LIST_MODE": "false", **options}
    if call_id is not None:
        opts["CALL_ID"] = call_id
    return open_placement(installed, live_app, "/b24/call-card", placement="CALL_CARD", options=opts,
                          user_id=user_id, lang=lang)


def _config(page: requests.Response) -> dict:
    m = re.search(r'<script type="application/json" id="cc-config">(.*?)</script>', page.text, re.S)
    assert m, page.text[:500]
    return json.loads(m.group(1))


def _order(page: requests.Response) -> list[int]:
    return [int(x) for x in re.findall(r'data-topic-id="(\d+)"', page.text)]


def _choose(live_app, token: str, call_id, topic_id) -> requests.Response:
    return requests.post(f"{live_app.url}/b24/call-card/topic", json={"call_id": call_id, "topic_id": topic_id},
                         headers={"X-Frame-Token": token, "Accept": "application/json"}, timeout=30)


def _client(live_app, token: str, ref: str) -> requests.Response:
    return requests.get(f"{live_app.url}/b24/call-card/client", params={"ref": ref},
                        headers={"X-Frame-Token": token, "Accept": "application/json"}, timeout=60)


def _rest(sandbox, method, params=None):
    r = requests.post(f"{sandbox.webhook_url}{method}", json=params or {}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["result"]


def _card_item(installed, live_app, call_id: str) -> tuple[dict, QaSetup]:
    with live_app.ctx():
        setup = db.session.query(QaSetup).one()
        db.session.expunge(setup)
    items = _rest(installed, "crm.item.list", {"entityTypeId": setup.entity_type_id, "useOriginalUfNames": "Y",
                                               "select": ["*", "UF_*"]})["items"]
    mine = [i for i in items if i.get(setup.fields["call_id"]) == call_id]
    assert len(mine) == 1, mine
    return mine[0], setup


def _checklist_name(live_app, checklist_id: int) -> str:
    with live_app.ctx():
        return db.session.get(Checklist, checklist_id).name


def test_the_popup_lists_topics_in_the_managers_usage_order_with_keys_and_local_time(installed, live_app):
    pid = _pid(live_app, installed)
    t = _topics(live_app, pid)
    with live_app.ctx():  # manager 2 mostly picks «Претензия», then «Консультация»; manager 3 «Другое»
        rows = [("Претензия", 2)] * 3 + [("Консультация", 2)] + [("Другое", 3)] * 5
        db.session.add_all(CallTopic(portal_id=pid, call_id=f"past.{i}", topic_id=t[name].id, chosen_by=user,
                                     source="card") for i, (name, user) in enumerate(rows))
        db.session.commit()
    page = _open(installed, live_app)
    assert page.status_code == 200, page.text[:400]
    names = {v.id: k for k, v in t.items()}
    order = [names[i] for i in _order(page)]
    assert order[:3] == ["Претензия", "Консультация", "Другое"]  # mine first, then everyone's usage
    assert sorted(order) == sorted(n for n, x in t.items() if not x.archived)
    assert '<kbd class="cc-key">1</kbd><span class="cc-topic-name">Претензия</span>' in page.text
    # PLACEMENT_OPTIONS are on the page at once: the number, the state, its local time (Yekaterinburg code 343)
    assert "+73432000000" in page.text and "Соединение…" in page.text
    assert 'data-testid="cc-city">Екатеринбург<' in page.text
    assert 'data-zone="Asia/Yekaterinburg"' in page.text
    cfg = _config(page)
    assert cfg["callId"] == "externalCall.test.1" and cfg["currentId"] is None and cfg["zone"] == "Asia/Yekaterinburg"
    # Another manager gets their own order
    other = [names[i] for i in _order(_open(installed, live_app, user_id=3))]
    assert other[0] == "Другое"


def test_a_topic_chosen_while_ringing_reaches_the_call_and_its_qa_card_and_can_be_changed(installed, live_app):
    pid = _pid(live_app, installed)
    t = _topics(live_app, pid)
    row = add_stat_row(installed, CALL_TYPE="1", CALL_DURATION="95", CALL_FAILED_CODE="200", PORTAL_USER_ID="2",
                       CRM_ACTIVITY_ID="0")
    call_id = row["CALL_ID"]
    page = _open(installed, live_app, call_id=call_id, CALL_STATE="connecting")
    token = frame_token_from(page.text)
    r = _choose(live_app, token, call_id, t["Претензия"].id)
    assert r.status_code == 200, r.text
    assert r.json()["topic"] == "Претензия" and r.json()["changed"] is True
    with live_app.ctx():
        assert db.session.scalar(select(Call).where(Call.call_id == call_id)) is None  # the call is not there yet
        ct = db.session.scalar(select(CallTopic).where(CallTopic.call_id == call_id))
        assert (ct.topic_id, ct.chosen_by, ct.source) == (t["Претензия"].id, 2, "card")
    # Reopened, the popup shows the choice
    again = _open(installed, live_app, call_id=call_id, CALL_STATE="connected")
    assert _config(again)["currentId"] == t["Претензия"].id
    assert f'class="cc-topic is-current" data-topic-id="{t["Претензия"].id}"' in again.text

    fire(installed, "ONVOXIMPLANTCALLEND", callend(row))
    item, setup = _card_item(installed, live_app, call_id)
    assert item[setup.fields["topic"]] == "Претензия"
    assert item[setup.fields["checklist"]] == _checklist_name(live_app, t["Претензия"].checklist_id)

    # Changed after the call ended: the QA card follows
    r = _choose(live_app, token, call_id, t["Консультация"].id)
    assert r.status_code == 200 and r.json()["changed"] is True
    item, setup = _card_item(installed, live_app, call_id)
    assert item[setup.fields["topic"]] == "Консультация"
    assert item[setup.fields["checklist"]] == _checklist_name(live_app, t["Консультация"].checklist_id)
    r = _choose(live_app, token, call_id, t["Консультация"].id)
    assert r.status_code == 200 and r.json()["changed"] is False


def test_refusals_are_4xx_json_with_a_russian_message_and_change_nothing(installed, live_app):
    pid = _pid(live_app, installed)
    t = _topics(live_app, pid)
    with live_app.ctx():
        db.session.get(Topic, t["Другое"].id).archived = True
        db.session.commit()
    row = add_stat_row(installed, CALL_TYPE="1", CALL_DURATION="60", CALL_FAILED_CODE="200", PORTAL_USER_ID="2")
    fire(installed, "ONVOXIMPLANTCALLEND", callend(row))
    call_id = row["CALL_ID"]
    mine = frame_token_from(_open(installed, live_app, call_id=call_id).text)

    r = _choose(live_app, mine, call_id, t["Другое"].id)
    assert r.status_code == 409 and "в архиве" in r.json()["error"]
    r = _choose(live_app, mine, call_id, 987654)
    assert r.status_code == 404 and "Такой темы нет" in r.json()["error"]
    r = _choose(live_app, mine, call_id, "abc")
    assert r.status_code == 400 and "Такой темы нет" in r.json()["error"]
    r = _choose(live_app, mine, "", t["Претензия"].id)
    assert r.status_code == 400 and "Звонок не указан" in r.json()["error"]
    r = requests.post(f"{live_app.url}/b24/call-card/topic", json={"call_id": call_id, "topic_id": t["Претензия"].id},
                      headers={"Accept": "application/json"}, timeout=10)
    assert r.status_code == 401 and "Сессия" in r.json()["error"]

    # Another manager may not; an admin may
    other_page = _open(installed, live_app, call_id=call_id, user_id=3)
    assert "другого сотрудника" in other_page.text
    assert re.search(r'<button[^>]*class="cc-topic[^>]* disabled', other_page.text)
    r = _choose(live_app, frame_token_from(other_page.text), call_id, t["Претензия"].id)
    assert r.status_code == 403 and "другого сотрудника" in r.json()["error"]
    with live_app.ctx():
        assert db.session.scalar(select(CallTopic).where(CallTopic.call_id == call_id)) is None
    admin = frame_token_from(_open(installed, live_app, call_id=call_id, user_id=1).text)
    assert _choose(live_app, admin, call_id, t["Консультация"].id).status_code == 200

    # A scored call keeps its topic
    with live_app.ctx():
        db.session.scalar(select(Call).where(Call.call_id == call_id)).scored_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    r = _choose(live_app, mine, call_id, t["Претензия"].id)
    assert r.status_code == 409 and "уже оценён" in r.json()["error"]
    locked = _open(installed, live_app, call_id=call_id)
    assert "уже оценён" in locked.text and _config(locked)["blocked"] is True
    with live_app.ctx():
        assert db.session.scalar(select(CallTopic.topic_id).where(CallTopic.call_id == call_id)) == \
            t["Консультация"].id

    # The placement itself without a CALL_ID
    page = _open(installed, live_app, call_id=None)
    assert page.status_code == 400 and "Звонок не указан" in page.text


def test_client_summary_by_binding_by_phone_and_when_the_portal_fails(installed, live_app):
    client_info.summary_cache.clear()
    company = _rest(installed, "crm.company.add", {"fields": {"TITLE": "ООО «Сибирь»", "ASSIGNED_BY_ID": 2}})
    contact = _rest(installed, "crm.contact.add", {"fields": {
        "NAME": "Пётр", "LAST_NAME": "Сидоров", "COMPANY_ID": company, "ASSIGNED_BY_ID": 2,
        "ADDRESS_CITY": "Новосибирск", "PHONE": [{"VALUE": "+79137770011", "VALUE_TYPE": "MOBILE"}]}})
    manager = _rest(installed, "user.get", {"ID": 2})[0]
    manager_name = f"{manager['NAME']} {manager['LAST_NAME']}"

    page = _open(installed, live_app, PHONE_NUMBER="+79137770011", CRM_ENTITY_TYPE="CONTACT",
                 CRM_ENTITY_ID=str(contact), CRM_BINDINGS=[{"ENTITY_TYPE": "CONTACT", "ENTITY_ID": str(contact)}])
    token, ref = frame_token_from(page.text), _config(page)["clientRef"]
    # A Russian mobile number says only "Russia": the page shows an approximate Moscow time at once
    assert 'data-zone="Europe/Moscow" data-offset="180" data-approx=1' in page.text
    r = _client(live_app, token, ref)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["found"] is True and got["kind"] == "CONTACT" and got["name"] == "Пётр Сидоров"
    assert got["company"] == "ООО «Сибирь»" and got["responsible"] == manager_name
    assert got["local_time"]["zone"] == "Asia/Novosibirsk" and got["local_time"]["source"] == "address"

    # No CRM binding: the number is looked up; an unknown number is "not found", in Russian
    page = _open(installed, live_app, PHONE_NUMBER="+79137770011")
    got = _client(live_app, frame_token_from(page.text), _config(page)["clientRef"]).json()
    assert got["found"] is True and got["name"] == "Пётр Сидоров"
    page = _open(installed, live_app, PHONE_NUMBER="+79130000999")
    got = _client(live_app, frame_token_from(page.text), _config(page)["clientRef"]).json()
    assert got["found"] is False and got["message"] == "Клиент не найден в CRM."

    # A forged reference is refused
    r = _client(live_app, token, ref[:-3] + "abc")
    assert r.status_code == 400 and "Откройте карточку звонка заново" in r.json()["error"]

    # The portal does not answer: a clear message, and the page itself still opens
    page = _open(installed, live_app, PHONE_NUMBER="+79137770011", CRM_ENTITY_TYPE="COMPANY",
                 CRM_ENTITY_ID=str(company))
    set_sandbox(installed, fail_503_share=1.0)
    try:
        r = _client(live_app, frame_token_from(page.text), _config(page)["clientRef"])
        assert r.status_code == 503 and "Портал не отвечает" in r.json()["error"]
    finally:
        set_sandbox(installed, fail_503_share=0.0)
    assert page.status_code == 200


def test_an_english_portal_gets_the_page_in_english(installed, live_app):
    page = _open(installed, live_app, lang="en", PHONE_NUMBER="+4930123456")
    assert page.status_code == 200
    assert 'data-testid="cc-city">Berlin<' in page.text  # zone city names follow the portal language
    assert _config(page)["lang"] == "en"


def test_local_time_from_numbers():
    assert client_info.zone_for_phone("+74951234567") == ("Europe/Moscow", False)
    assert client_info.zone_for_phone("84951234567") == ("Europe/Moscow", False)  # domestic dialling
    assert client_info.zone_for_phone("73432123456") == ("Asia/Yekaterinburg", False)  # no plus
    assert client_info.zone_for_phone("+79991234567") == ("Europe/Moscow", True)  # a mobile: only the country
    assert client_info.zone_for_phone("+14155550100") == ("America/Los_Angeles", False)
    assert client_info.zone_for_phone("hidden") is None and client_info.zone_for_phone("") is None
    assert client_info.zone_for_city("г. Екатеринбург") == "Asia/Yekaterinburg"
    assert client_info.zone_for_city("Berlin") == "Europe/Berlin" and client_info.zone_for_city("Нигде") is None
