"""The manager's side in Chromium, in the sandbox portal's chat: the result arrives, the manager opens it and
disputes; the arbiter opens the dispute from his chat and changes the score; the history shows all of it."""

from __future__ import annotations

from ..qa.review_helpers import MANAGER, grant, make_card
from ..qa.test_feedback import ARBITER, score_of, set_settings, submit
from .conftest import shot


def _open_from_chat(page, sandbox, user_id: int, message_text: str, link_text: str):
    page.goto(f"{sandbox.url}/chat/?user={user_id}")
    msg = page.locator(".msg", has_text=message_text).last
    msg.wait_for()
    with page.context.expect_page() as opened:
        msg.locator("a", has_text=link_text).click()
    result = opened.value
    result.wait_for_load_state()
    result.locator('[data-testid="qa-result"]').wait_for()
    return msg, result


def test_the_manager_disputes_from_the_chat_and_the_arbiter_changes_the_score(installed, live_app, page):
    card = make_card(installed, live_app)
    grant(live_app, card.portal_id, ARBITER, role="director")
    set_settings(live_app, card.portal_id, arbiter_id=ARBITER)
    score = submit(installed, live_app, card)

    msg, result = _open_from_chat(page, installed, MANAGER, "Ваш звонок оценён", "Открыть оценку")
    assert "94,1 %" in msg.inner_text() and "Уточнил, как обращаться к клиенту" in msg.inner_text()
    shot(page, "feedback-chat-result")
    assert result.locator('[data-testid="result-percent"]').inner_text() == "94,1 %"
    assert result.locator('[data-testid="result-item"][data-key="i2"]').get_attribute("class") == "item failed"
    assert "не спросил имя" in result.locator('[data-testid="result-items"]').inner_text()
    assert result.locator('[data-testid="result-help"]').is_visible()
    shot(result, "feedback-result-manager")

    result.locator('[data-testid="dispute-comment"]').fill("Имя клиента я спросил в начале разговора")
    result.locator('[data-testid="dispute"]').click()
    result.locator('[data-testid="notice"]', has_text="Оценка оспорена").wait_for()
    assert result.locator('[data-testid="result-dispute"]').get_attribute("data-status") == "open"
    assert result.locator('[data-testid="acknowledge"]').count() == 0
    shot(result, "feedback-result-disputed")
    result.close()

    msg, decision = _open_from_chat(page, installed, ARBITER, "Оценку оспаривают", "Рассмотреть спор")
    assert "Имя клиента я спросил" in msg.inner_text()
    shot(page, "feedback-chat-arbiter")
    decision.locator('select[name="a.i2"]').select_option("yes")
    decision.locator('[data-testid="decide-reason"]').fill("На 0:40 менеджер спросил имя")
    decision.locator('[data-testid="decide-change"]').click()
    decision.locator('[data-testid="notice"]', has_text="оценка изменена").wait_for()
    assert decision.locator('[data-testid="result-percent"]').inner_text() == "100 %"
    assert decision.locator('[data-testid="decide-form"]').count() == 0
    kinds = [e.get_attribute("data-kind") for e in decision.locator('[data-testid="qa-event"]').all()]
    assert kinds == ["submit", "dispute", "changed"]
    history = decision.locator('[data-testid="result-history"]').inner_text()
    for words in ("Оценка отправлена", "Менеджер оспорил оценку", "Арбитр изменил оценку", "На 0:40 менеджер спросил имя"):
        assert words in history, words
    shot(decision, "feedback-result-changed")
    decision.close()

    page.goto(f"{installed.url}/chat/?user={MANAGER}")
    page.locator(".msg", has_text="Решение по вашему спору").wait_for()
    assert "94,1 % → 100 %" in page.locator(".msg", has_text="Решение по вашему спору").inner_text()
    shot(page, "feedback-chat-decision")
    after = score_of(live_app, card)
    assert after.percent == 100.0 and after.revision == score.revision + 1
