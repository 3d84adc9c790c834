"""The chat prompt in the sandbox portal's chat page, in Chromium: a call ends without a topic, the bot
asks, the manager clicks a topic, the message updates and the QA card shows the topic."""

from __future__ import annotations

from datetime import timedelta

from b24app.calls.models import Call
from b24app.extensions import db
from b24app.qa.models import QaSetup

from ..topics.test_prompts import MANAGER, aware, end_call, poll, prompt_of, send_due
from .conftest import shot


def test_the_manager_picks_the_topic_from_the_bot_message(installed, live_app, page):
    call_id = end_call(installed, PHONE_NUMBER="+79007654321")
    send_due(live_app, aware(prompt_of(live_app, call_id).due_at) + timedelta(seconds=1))

    page.goto(f"{installed.url}/chat/?user={MANAGER}")
    prompt = page.locator(".msg", has_text="Выберите тему звонка")
    prompt.wait_for()
    assert "+79007654321" in prompt.inner_text()
    labels = prompt.locator('[data-testid="kb-button"]').all_inner_texts()
    assert "Претензия" in labels and len(labels) == 5
    shot(page, "chat-prompt")

    prompt.locator('[data-testid="kb-button"]', has_text="Претензия").click()
    page.wait_for_selector('#status:has-text("Кнопка нажата")')
    page.wait_for_load_state("load")
    assert poll(live_app, installed) == 1  # the bot's fetch loop reads the click
    page.reload()
    answered = page.locator(".msg", has_text="Тема звонка: «Претензия»")
    answered.wait_for()
    assert answered.locator('[data-testid="kb-button"]').count() == 0
    page.locator(".msg", has_text="Спасибо").wait_for()
    shot(page, "chat-prompt-answered")

    with live_app.ctx():
        setup = db.session.query(QaSetup).one()
        item_id = db.session.query(Call).filter_by(call_id=call_id).one().qa_item_id
    page.goto(f"{installed.url}/crm/type/{setup.entity_type_id}/details/{item_id}/?user={MANAGER}")
    fields = page.locator('[data-testid="item-fields"]')
    fields.wait_for()
    assert "Претензия" in fields.inner_text()
    shot(page, "chat-prompt-qa-card")
