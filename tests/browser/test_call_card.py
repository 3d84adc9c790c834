"""The CALL_CARD popup in the sandbox shell's telephony simulator, in Chromium: a manager calls a client,
picks a topic with a click and changes it with a keyboard shortcut, talks past 30 s, hangs up, and the QA
card in the portal's smart-process page carries the topic."""

from __future__ import annotations

import time

import pytest
import requests
from sqlalchemy import select

from b24app.calls.models import Call
from b24app.extensions import db
from b24app.qa.models import QaSetup
from b24app.topics import client_info
from b24app.topics.models import CallTopic, Topic

from .conftest import shot

pytestmark = pytest.mark.timeout(180)


def _rest(sandbox, method, params=None):
    r = requests.post(f"{sandbox.webhook_url}{method}", json=params or {}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["result"]


def _card_frame(page):
    page.wait_for_selector('iframe[data-placement="CALL_CARD"]', state="attached")
    for _ in range(100):
        frame = page.query_selector('iframe[data-placement="CALL_CARD"]').content_frame()
        if frame is not None and frame.url.startswith("http") and "/b24/call-card" in frame.url:
            return frame
        page.wait_for_timeout(100)
    raise AssertionError("the CALL_CARD frame did not load")


def _wait_for(fn, what: str, seconds: float = 20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_manager_picks_a_topic_in_the_call_popup_and_the_qa_card_gets_it(installed, live_app, page):
    client_info.summary_cache.clear()  # sandboxes of earlier tests had the same portal and CRM IDs
    _rest(installed, "crm.contact.add", {"fields": {
        "NAME": "Анна", "LAST_NAME": "Кузнецова", "ASSIGNED_BY_ID": 3, "ADDRESS_CITY": "Екатеринбург",
        "PHONE": [{"VALUE": "+79120001234", "VALUE_TYPE": "MOBILE"}]}})
    with live_app.ctx():  # a long catalogue: the popup offers a search box
        pid = db.session.scalar(select(Topic.portal_id))
        db.session.add_all(Topic(portal_id=pid, name=name, group="Сервис", color="#55d0e0", position=100 + i)
                           for i, name in enumerate(("Доставка", "Возврат товара", "Гарантия", "Счёт и оплата",
                                                     "Жалоба на сроки", "Техподдержка", "Партнёрство")))
        db.session.commit()
        topics = {t.name: t.id for t in db.session.scalars(select(Topic))}

    page.goto(f"{installed.url}/telephony/?user=3")  # Мария Смирнова, a sales manager
    page.fill('[data-testid="ph-phone"]', "+79120001234")
    page.click('[data-testid="call-out"]')
    page.wait_for_selector('[data-testid="call-modal"]:not(.hidden)')
    frame = _card_frame(page)
    call_id = page.get_attribute('[data-testid="call-state"]', "data-call-id")

    # The client summary replaces the skeleton; the address city gives the local time
    frame.wait_for_selector('[data-testid="cc-client"][data-state="found"]')
    assert frame.inner_text('[data-testid="cc-name"]') == "Анна Кузнецова"
    frame.wait_for_selector('[data-testid="cc-local-time"][data-zone="Asia/Yekaterinburg"]')
    assert frame.inner_text('[data-testid="cc-city"]') == "Екатеринбург"
    assert frame.inner_text('[data-testid="cc-call-id"]') == call_id
    # The frame asked the portal to fit it to its content
    page.wait_for_function("document.querySelector('iframe[data-placement=\"CALL_CARD\"]').style.height !== '320px'"
                           " && document.querySelector('iframe[data-placement=\"CALL_CARD\"]').style.height !== ''")

    # While the call is still connecting: a click saves the topic at once
    frame.click('[data-testid="cc-topic"]:has-text("Претензия")')
    frame.wait_for_selector('[data-testid="cc-status"]:has-text("Тема сохранена: Претензия")')
    assert frame.get_attribute(f'[data-topic-id="{topics["Претензия"]}"]', "aria-pressed") == "true"
    with live_app.ctx():
        assert db.session.scalar(select(CallTopic.topic_id).where(CallTopic.call_id == call_id)) == topics["Претензия"]
    shot(page, "call-card-chosen")

    page.click('[data-testid="call-answer"]')
    frame.wait_for_selector('[data-testid="cc-state"][data-state="connected"]')  # CallCard::CallStateChanged

    # "/" focuses the search; the filter renumbers the shortcuts; Escape brings the list back
    frame.focus('[data-testid="cc-topic"]')
    page.keyboard.press("/")
    assert frame.evaluate("document.activeElement.dataset.testid") == "cc-search"
    page.keyboard.type("гарант")
    shown = frame.locator('[data-testid="cc-topic"]:visible')
    assert shown.count() == 1
    assert shown.locator(".cc-topic-name").inner_text() == "Гарантия" and shown.locator(".cc-key").inner_text() == "1"
    shot(page, "call-card-search")
    page.keyboard.press("Escape")
    assert frame.locator('[data-testid="cc-topic"]:visible').count() == len(topics)

    # Keyboard: the shortcut number shown on a button picks that button
    target = frame.locator('[data-testid="cc-topic"]', has_text="Консультация")
    key = target.locator(".cc-key").inner_text()
    assert key.isdigit()
    frame.focus('[data-testid="cc-topic"]')
    page.keyboard.press(key)
    frame.wait_for_selector('[data-testid="cc-status"]:has-text("Тема сохранена: Консультация")')
    assert target.get_attribute("aria-pressed") == "true"
    assert frame.inner_text('[data-testid="cc-current"]') == "Консультация"

    page.fill('[data-testid="call-talk"]', "45")
    page.click('[data-testid="call-hangup"]')
    page.wait_for_selector('[data-testid="call-state"][data-finished="1"]')
    frame.wait_for_selector('[data-testid="cc-state"][data-state="idle"]')
    shot(page, "call-card-finished")

    def card():
        with live_app.ctx():
            c = db.session.scalar(select(Call).where(Call.call_id == call_id))
            return c.qa_item_id if c is not None and c.qa_item_id and c.qa_item_id > 0 else None

    item_id = _wait_for(card, "the QA card of the call")
    with live_app.ctx():
        setup = db.session.query(QaSetup).one()
        etid = setup.entity_type_id
    page.goto(f"{installed.url}/crm/type/{etid}/details/{item_id}/?user=1")
    fields = page.inner_text('[data-testid="item-fields"]')
    assert "Консультация" in fields and "Претензия" not in fields
    assert call_id in fields
    shot(page, "call-card-qa-item")
