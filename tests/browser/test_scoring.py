"""A QA reviewer scores a call in Chromium inside the sandbox portal: from the smart-process list to the
card's tab, the recording played at 1.5×, a checklist with an N/A and a failed critical item, the live
score, a self-saved draft, the submit, and the card's fields and stage changed in the portal."""

from __future__ import annotations

from sqlalchemy import select

from b24app.extensions import db
from b24app.qa.models import QaScore

from ..qa.review_helpers import REVIEWER, REVIEWER2, card_item, make_card
from .conftest import app_frame, shot


def _open_card(page, installed, card, user_id: int):
    page.goto(f"{installed.url}/crm/type/{card.entity_type_id}/list/?user={user_id}")
    page.click(f'[data-testid="spa-items"] a[href*="/details/{card.item_id}/"]')
    page.click('[data-testid="detail-tab"]')
    frame = app_frame(page)
    frame.wait_for_selector('[data-testid="qa-form"]')
    return frame


def test_a_reviewer_scores_a_call_in_the_card_tab(installed, live_app, page):
    card = make_card(installed, live_app)
    frame = _open_card(page, installed, card, REVIEWER)
    assert frame.inner_text('[data-testid="qa-manager"]') == "Мария Смирнова"
    assert "Продажа" in frame.inner_text('[data-testid="qa-checklist-name"]')

    # the recording plays inside the iframe, at 1.5×, and ±10 s moves it
    frame.wait_for_function("() => document.getElementById('qa-audio').readyState >= 1")
    frame.select_option('[data-testid="qa-speed"]', "1.5")
    frame.click('[data-testid="qa-play"]')
    frame.wait_for_function("() => document.getElementById('qa-audio').currentTime > 0.2")
    assert frame.evaluate("document.getElementById('qa-audio').playbackRate") == 1.5
    frame.click('[data-testid="qa-play"]')
    frame.evaluate("document.getElementById('qa-audio').currentTime = 0")
    frame.click('[data-testid="qa-fwd"]')
    assert frame.evaluate("document.getElementById('qa-audio').currentTime") > 1

    items = frame.query_selector_all('[data-testid="qa-item"]')
    keys = [i.get_attribute("data-key") for i in items]
    for k in keys:
        frame.check(f'input[name="a_{k}"][value="yes"]')
    assert frame.inner_text('[data-testid="qa-score"]') == "100 %"
    frame.check(f'input[name="a_{keys[3]}"][value="na"]')      # «Уточнил сроки и бюджет»: N/A allowed
    frame.check(f'input[name="a_{keys[1]}"][value="partly"]')
    assert frame.inner_text('[data-testid="qa-score"]') == "96,7 %"   # 14.5 of 15
    frame.click(f'[data-key="{keys[1]}"] [data-act="comment"]')
    frame.fill(f'textarea[name="c_{keys[1]}"]', "Не уточнил, как обращаться")
    frame.wait_for_selector('[data-testid="qa-saved"]:has-text("Черновик сохранён")')
    shot(page, "scoring-draft")

    crit = next(i.get_attribute("data-key") for i in items if i.query_selector(".qa-crit"))
    frame.check(f'input[name="a_{crit}"][value="no"]')
    assert frame.inner_text('[data-testid="qa-score"]') == "0 %"
    assert frame.is_visible('[data-testid="qa-critical"]')
    frame.fill('[data-testid="qa-comment"]', "Не договорился о следующем шаге")
    frame.check('[data-testid="qa-meeting"]')
    frame.click('[data-testid="qa-submit"]')
    frame = app_frame(page)
    frame.wait_for_selector('[data-testid="qa-form"][data-status="submitted"]')
    assert [e.get_attribute("data-kind") for e in frame.query_selector_all('[data-testid="qa-event"]')] == \
        ["draft", "submit"]
    shot(page, "scoring-submitted")

    item = card_item(installed, card)
    f = card.setup.fields
    assert item["stageId"] == card.setup.stages["done"]
    assert float(item[f["score"]]) == 0.0 and item[f["comment"]] == "Не договорился о следующем шаге"
    assert item[f["discuss"]] in ("Y", True, 1, "1")
    with live_app.ctx():
        s = db.session.scalar(select(QaScore).where(QaScore.qa_item_id == card.item_id))
        assert s.answers[keys[3]] == "na" and s.critical_failed == [crit]
        assert s.comments == {keys[1]: "Не уточнил, как обращаться"}
    page.reload()
    assert "Оценено" in page.inner_text(".stage")


def _score_calibration(page, installed, user_id: int, answers: dict):
    page.goto(f"{installed.url}/?user={user_id}&open=app")
    frame = app_frame(page)
    frame.click('[data-testid="calibration-round"] [data-testid="calibration-score"]')
    frame.wait_for_selector('[data-testid="qa-calibration"]')
    for key, value in answers.items():
        frame.check(f'input[name="a_{key}"][value="{value}"]')
    frame.click('[data-testid="qa-submit"]')
    frame.wait_for_selector('[data-testid="qa-form"][data-status="submitted"]')
    return frame


def test_a_calibration_round_with_two_reviewers_shows_their_spread(installed, live_app, page):
    card = make_card(installed, live_app)
    page.goto(f"{installed.url}/?user=1&open=app")
    frame = app_frame(page)
    frame.wait_for_selector('[data-testid="calibration-form"]')
    frame.select_option('[data-testid="calibration-card"]', str(card.item_id))
    frame.check(f'[data-testid="calibration-reviewer"][value="{REVIEWER}"]')
    frame.check(f'[data-testid="calibration-reviewer"][value="{REVIEWER2}"]')
    frame.click('[data-testid="calibration-form"] button[type="submit"]')
    frame.wait_for_selector('[data-testid="notice"]:has-text("Калибровка начата")')

    yes = {f"i{n}": "yes" for n in range(1, 9)}
    _score_calibration(page, installed, REVIEWER, yes)
    frame = _score_calibration(page, installed, REVIEWER2, yes | {"i1": "no", "i7": "partly"})
    frame.click('[data-testid="qa-calibration-results"]')
    frame.wait_for_selector('[data-testid="calibration-results-page"]')
    totals = [t.inner_text() for t in frame.query_selector_all('[data-testid="calibration-total"]')]
    assert totals == ["100 %", "79,4 %"]                       # 13.5 of 17: «нет» on weight 2, «частично» on 3
    assert frame.inner_text('[data-testid="calibration-spread"]') == "20,6 %"
    disagree = frame.query_selector_all('[data-testid="calibration-item"].qa-disagree')
    assert len(disagree) == 2
    shot(page, "calibration-results")
