"""The manager's side of a score over real HTTP against the sandbox portal: the bot's message on submit (once),
the personal link, «Согласен», a dispute in time and after it, the arbiter keeping or changing the score,
the history, the settings section and another portal's score."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import requests
from sqlalchemy import select, update

from b24app.extensions import db
from b24app.qa import feedback, history
from b24app.qa.models import QaDispute, QaEvent, QaNotice, QaScore, QaSettings

from ..platform.helpers import frame_token_from, open_placement
from ..topics.test_prompts import bot_msgs, msgs
from .review_helpers import MANAGER, REVIEWER, Form, all_yes, card_item, grant, make_card

ARBITER, OTHER_MANAGER, ADMIN = 2, 4, 1
FAILED_ITEM = "Уточнил, как обращаться к клиенту"   # i2 of «Продажа», weight 1 of 17


@pytest.fixture
def card(installed, live_app):
    return make_card(installed, live_app)


def submit(installed, live_app, card, answers_change: dict | None = None) -> QaScore:
    f = Form(installed, live_app, card)
    answers = all_yes(f) | {"i2": "no"} | (answers_change or {})
    r = f.post("submit", {"answers": answers, "comments": {"i2": "не спросил имя"}, "comment": "В целом хорошо"})
    assert r.status_code == 200, r.text
    return score_of(live_app, card)


def score_of(live_app, card) -> QaScore:
    with live_app.ctx():
        s = db.session.scalar(select(QaScore).where(QaScore.portal_id == card.portal_id,
                                                    QaScore.qa_item_id == card.item_id, QaScore.calibration_id == 0))
        db.session.expunge(s)
        return s


def dispute_row(live_app, score_id) -> QaDispute | None:
    with live_app.ctx():
        row = db.session.scalar(select(QaDispute).where(QaDispute.score_id == score_id))
        if row is not None:
            db.session.expunge(row)
        return row


def kinds(live_app, card) -> list[str]:
    with live_app.ctx():
        return [e.kind for e in history.history_for(card.portal_id, card.item_id)]


def set_settings(live_app, portal_id, **values) -> None:
    with live_app.ctx():
        row = history.settings_for(portal_id)
        for k, v in values.items():
            setattr(row, k, v)
        db.session.commit()


def link_in(text: str, label: str) -> str:
    m = re.search(r"\[URL=(http[^\]]+)\]" + re.escape(label) + r"\[/URL\]", text)
    assert m, text
    return m.group(1)


def auth_of(link: str) -> str:
    return link.split("auth=", 1)[1]


def mint(live_app, portal_id, score_id, user_id) -> str:
    with live_app.app.test_request_context():
        return feedback.link_token(portal_id, score_id, user_id)


def post(live_app, action: str, data: dict) -> requests.Response:
    return requests.post(f"{live_app.url}/b24/qa/feedback/{action}", data=data, timeout=30, allow_redirects=False)


def snapshot(live_app) -> tuple:
    with live_app.ctx():
        scores = [(s.id, s.revision, dict(s.answers), s.percent, s.acknowledged_at)
                  for s in db.session.scalars(select(QaScore).order_by(QaScore.id))]
        disputes = [(d.id, d.status, d.comment, d.reason) for d in db.session.scalars(select(QaDispute))]
        events = db.session.scalar(select(db.func.count()).select_from(QaEvent))
        settings = [(s.portal_id, s.dispute_days, s.arbiter_id, s.notify_manager, s.weekly_quota)
                    for s in db.session.scalars(select(QaSettings))]
        return scores, disputes, events, settings


def result_messages(sandbox, user_id=MANAGER) -> list[dict]:
    return [m for m in bot_msgs(sandbox, user_id) if "Ваш звонок оценён" in m["text"]]


# --- the message ------------------------------------------------------------------------------------------

def test_on_submit_the_manager_gets_one_message_with_the_result_and_a_link(installed, live_app, card):
    score = submit(installed, live_app, card)
    assert score.percent == round(16 / 17 * 100, 1)
    sent = result_messages(installed)
    assert len(sent) == 1
    text = sent[0]["text"]
    assert "94,1 %" in text and "«Продажа»" in text and FAILED_ITEM in text and "В целом хорошо" in text
    assert "Договорился о следующем шаге" not in text  # answered «да»: not among the failed items
    link = link_in(text, "Открыть оценку")
    assert link.startswith(f"{live_app.url}/b24/qa/result?auth=")
    # A re-delivered job (or the hook run again) finds its notice taken and sends nothing.
    with live_app.ctx():
        assert feedback.deliver(card.portal_id, score.id, "result", score.revision, MANAGER) == "already"
        feedback.submitted(card.portal_id, score.id)
        notices = db.session.scalars(select(QaNotice).where(QaNotice.score_id == score.id)).all()
        assert [(n.kind, n.status, n.channel, n.message_id) for n in notices] == [
            ("result", "sent", "bot", sent[0]["id"])]
    assert len(result_messages(installed)) == 1
    page = requests.get(link, timeout=30)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    html = page.text
    assert "Результат оценки звонка" in html and "94,1 %" in html and "Мария Смирнова" in html
    assert "не спросил имя" in html and "В целом хорошо" in html and "Продажа · версия 1" in html
    assert 'data-testid="acknowledge"' in html and 'data-testid="dispute"' in html
    assert "Оценка отправлена" in html and 'data-testid="result-help"' in html


def test_a_critical_failure_is_marked_and_no_message_goes_when_notifying_is_off(installed, live_app, make_sandbox):
    card = make_card(installed, live_app)
    submit(installed, live_app, card, {"i7": "no"})
    text = result_messages(installed)[-1]["text"]
    assert "0 %" in text and "Не выполнен критичный пункт" in text
    assert "Договорился о следующем шаге [B](критичный пункт)[/B]" in text
    set_settings(live_app, card.portal_id, notify_manager=False)
    before = len(msgs(installed, MANAGER))
    submit(installed, live_app, make_card(installed, live_app))
    assert len(msgs(installed, MANAGER)) == before


def test_without_the_bot_api_the_result_comes_as_a_notification(make_sandbox, live_app):
    sandbox = make_sandbox(install=True, app_scope="crm,telephony,call,placement,im,disk,user,department,"
                                                   "userfieldconfig")
    card = make_card(sandbox, live_app)
    score = submit(sandbox, live_app, card)
    notes = [m for m in msgs(sandbox, MANAGER) if m["notification"] and "Ваш звонок оценён" in m["text"]]
    assert len(notes) == 1
    assert requests.get(link_in(notes[0]["text"], "Открыть оценку"), timeout=30).status_code == 200
    with live_app.ctx():
        assert feedback.deliver(card.portal_id, score.id, "result", score.revision, MANAGER) == "already"


# --- who sees it ----------------------------------------------------------------------------------------

def test_the_link_and_the_page_open_for_the_manager_and_the_staff_only(installed, live_app, card, make_sandbox):
    score = submit(installed, live_app, card)
    link = link_in(result_messages(installed)[0]["text"], "Открыть оценку")
    r = requests.get(link + "x", timeout=30)
    assert r.status_code == 404 and "Ссылка на оценку недействительна" in r.text
    r = requests.get(f"{live_app.url}/b24/qa/result", params={"auth": mint(live_app, card.portal_id, score.id,
                                                                           OTHER_MANAGER)}, timeout=30)
    assert r.status_code == 403 and "другого менеджера" in r.text
    other = make_sandbox(install=True, seed=2, calls_days=3)
    other_pid = _pid(live_app, other)
    r = requests.get(f"{live_app.url}/b24/qa/result", params={"auth": mint(live_app, other_pid, score.id, MANAGER)},
                     timeout=30)
    assert r.status_code == 404 and "Оценка не найдена" in r.text
    # Inside the app, with a frame token: the manager, an admin and a reviewer see it; another manager does not.
    for user, status in ((MANAGER, 200), (ADMIN, 200), (REVIEWER, 200), (OTHER_MANAGER, 403)):
        token = frame_token_from(open_placement(installed, live_app, "/b24/app", user_id=user).text)
        r = requests.get(f"{live_app.url}/b24/qa/scores/{score.id}", params={"ft": token}, timeout=30)
        assert r.status_code == status, (user, r.text[:300])
        assert ("94,1 %" in r.text) == (status == 200)
    token = frame_token_from(open_placement(other, live_app, "/b24/app", user_id=ADMIN).text)
    r = requests.get(f"{live_app.url}/b24/qa/scores/{score.id}", params={"ft": token}, timeout=30)
    assert r.status_code == 404 and "94,1" not in r.text
    before = snapshot(live_app)
    for action, extra in (("acknowledge", {}), ("dispute", {"comment": "не согласен"}),
                          ("decide", {"outcome": "keep", "reason": "так"})):
        r = post(live_app, action, {"frame_token": token, "score_id": str(score.id), "revision": str(score.revision),
                                    **extra})
        assert r.status_code == 404 and "Оценка не найдена" in r.text, action
    assert snapshot(live_app) == before


def _pid(live_app, sandbox) -> int:
    from b24app.portals.models import Portal

    with live_app.ctx():
        return db.session.scalar(select(Portal.id).where(Portal.member_id == sandbox.member_id))


# --- «Согласен» and «Оспорить» -----------------------------------------------------------------------------

def test_the_manager_acknowledges_once_and_then_cannot_dispute(installed, live_app, card):
    score = submit(installed, live_app, card)
    auth = auth_of(link_in(result_messages(installed)[0]["text"], "Открыть оценку"))
    other = mint(live_app, card.portal_id, score.id, ADMIN)
    before = snapshot(live_app)
    for data, status, words in (
            ({"auth": other, "revision": score.revision}, 403, "только менеджер"),
            ({"auth": auth, "revision": score.revision + 5}, 409, "Оценка изменилась"),
            ({"auth": auth, "revision": "x"}, 400, "неожиданном виде"),
            ({"auth": auth}, 400, "неожиданном виде")):
        r = post(live_app, "acknowledge", data)
        assert r.status_code == status and words in r.text, (data, r.status_code)
    assert snapshot(live_app) == before
    r = post(live_app, "acknowledge", {"auth": auth, "revision": score.revision})
    assert r.status_code == 303 and "msg=feedback.acknowledged" in r.headers["Location"]
    page = requests.get(live_app.url + r.headers["Location"], timeout=30).text
    assert "Спасибо! Вы согласились с оценкой." in page and 'data-testid="result-acknowledged"' in page
    assert 'data-testid="dispute"' not in page
    assert score_of(live_app, card).acknowledged_at is not None
    assert kinds(live_app, card) == ["submit", "acknowledge"]
    before = snapshot(live_app)
    assert post(live_app, "acknowledge", {"auth": auth, "revision": score.revision}).status_code == 409
    r = post(live_app, "dispute", {"auth": auth, "revision": score.revision, "comment": "передумал"})
    assert r.status_code == 409 and "уже согласились" in r.text
    assert snapshot(live_app) == before


def test_a_dispute_in_time_goes_to_the_arbiter_once(installed, live_app, card):
    grant(live_app, card.portal_id, ARBITER, role="director")
    set_settings(live_app, card.portal_id, arbiter_id=ARBITER)
    score = submit(installed, live_app, card)
    auth = auth_of(link_in(result_messages(installed)[0]["text"], "Открыть оценку"))
    before = snapshot(live_app)
    for comment, status, words in (("", 400, "Напишите, с чем"), ("   ", 400, "Напишите, с чем"),
                                   ("я" * 2001, 400, "не больше 2000")):
        r = post(live_app, "dispute", {"auth": auth, "revision": score.revision, "comment": comment})
        assert r.status_code == status and words in r.text
    assert snapshot(live_app) == before
    r = post(live_app, "dispute", {"auth": auth, "revision": score.revision, "comment": "Имя клиента я спросил"})
    assert r.status_code == 303, r.text
    row = dispute_row(live_app, score.id)
    assert (row.status, row.comment, row.manager_id, row.old_percent) == ("open", "Имя клиента я спросил", MANAGER,
                                                                          score.percent)
    assert kinds(live_app, card) == ["submit", "dispute"]
    to_arbiter = [m for m in bot_msgs(installed, ARBITER) if "Оценку оспаривают" in m["text"]]
    assert len(to_arbiter) == 1 and "Имя клиента я спросил" in to_arbiter[0]["text"]
    assert "Мария Смирнова" in to_arbiter[0]["text"]
    assert not [m for m in bot_msgs(installed, ADMIN) if "Оценку оспаривают" in m["text"]]  # the arbiter only
    page = requests.get(link_in(to_arbiter[0]["text"], "Рассмотреть спор"), timeout=30).text
    assert 'data-testid="decide-form"' in page and "Имя клиента я спросил" in page
    before = snapshot(live_app)
    r = post(live_app, "dispute", {"auth": auth, "revision": score.revision, "comment": "ещё раз"})
    assert r.status_code == 409 and "дождитесь решения" in r.text
    r = post(live_app, "acknowledge", {"auth": auth, "revision": score.revision})
    assert r.status_code == 409
    assert snapshot(live_app) == before


def test_without_an_arbiter_the_apps_admins_hear_of_a_dispute(installed, live_app, card):
    grant(live_app, card.portal_id, OTHER_MANAGER, role="admin")
    score = submit(installed, live_app, card)
    auth = auth_of(link_in(result_messages(installed)[0]["text"], "Открыть оценку"))
    assert post(live_app, "dispute", {"auth": auth, "revision": score.revision, "comment": "нет"}).status_code == 303
    for admin in (ADMIN, OTHER_MANAGER):  # the installer and the granted admin
        assert len([m for m in bot_msgs(installed, admin) if "Оценку оспаривают" in m["text"]]) == 1, admin


def test_a_dispute_after_the_deadline_or_when_disputes_are_off_is_refused(installed, live_app, card):
    score = submit(installed, live_app, card)
    auth = auth_of(link_in(result_messages(installed)[0]["text"], "Открыть оценку"))
    with live_app.ctx():
        db.session.execute(update(QaScore).where(QaScore.id == score.id)
                           .values(submitted_at=score.submitted_at - timedelta(days=5, minutes=1)))
        db.session.commit()
    before = snapshot(live_app)
    r = post(live_app, "dispute", {"auth": auth, "revision": score.revision, "comment": "поздно"})
    assert r.status_code == 409 and "прошёл" in r.text
    assert 'data-testid="dispute-closed"' in requests.get(f"{live_app.url}/b24/qa/result?auth={auth}",
                                                          timeout=30).text
    set_settings(live_app, card.portal_id, dispute_days=0)
    before = snapshot(live_app)
    r = post(live_app, "dispute", {"auth": auth, "revision": score.revision, "comment": "поздно"})
    assert r.status_code == 409 and "выключено" in r.text
    assert snapshot(live_app) == before
    assert dispute_row(live_app, score.id) is None


# --- the arbiter --------------------------------------------------------------------------------------------

def _disputed(installed, live_app, card) -> tuple[QaScore, str]:
    grant(live_app, card.portal_id, ARBITER, role="director")
    set_settings(live_app, card.portal_id, arbiter_id=ARBITER)
    score = submit(installed, live_app, card)
    auth = auth_of(link_in(result_messages(installed)[0]["text"], "Открыть оценку"))
    assert post(live_app, "dispute", {"auth": auth, "revision": score.revision,
                                      "comment": "Имя клиента я спросил"}).status_code == 303
    msg = next(m for m in bot_msgs(installed, ARBITER) if "Оценку оспаривают" in m["text"])
    return score, auth_of(link_in(msg["text"], "Рассмотреть спор"))


def test_the_arbiter_keeps_the_score_with_a_reason(installed, live_app, card):
    score, arbiter = _disputed(installed, live_app, card)
    manager = auth_of(link_in(result_messages(installed)[0]["text"], "Открыть оценку"))
    outsider = mint(live_app, card.portal_id, score.id, REVIEWER)  # a reviewer sees the score, but does not decide
    before = snapshot(live_app)
    for data, status, words in (
            ({"auth": manager, "outcome": "keep", "reason": "сам"}, 403, "своего звонка"),
            ({"auth": outsider, "outcome": "keep", "reason": "я"}, 403, "арбитр или администратор"),
            ({"auth": arbiter, "outcome": "keep", "reason": ""}, 400, "Укажите причину"),
            ({"auth": arbiter, "outcome": "keep", "reason": "я" * 2001}, 400, "не больше 2000"),
            ({"auth": arbiter, "outcome": "drop", "reason": "так"}, 400, "неожиданном виде"),
            ({"auth": arbiter, "outcome": "keep", "reason": "так", "revision": str(score.revision + 1)}, 409,
             "Оценка изменилась")):
        r = post(live_app, "decide", {"revision": str(score.revision), **data})
        assert r.status_code == status and words in r.text, (data, r.status_code, r.text[:300])
    assert snapshot(live_app) == before
    r = post(live_app, "decide", {"auth": arbiter, "revision": score.revision, "outcome": "keep",
                                  "reason": "В записи имя не прозвучало"})
    assert r.status_code == 303, r.text
    row = dispute_row(live_app, score.id)
    assert (row.status, row.arbiter_id, row.reason, row.old_percent, row.new_percent) == (
        "kept", ARBITER, "В записи имя не прозвучало", score.percent, score.percent)
    assert score_of(live_app, card).revision == score.revision
    assert kinds(live_app, card) == ["submit", "dispute", "kept"]
    decision = [m for m in bot_msgs(installed, MANAGER) if "Решение по вашему спору" in m["text"]]
    assert len(decision) == 1 and "оценка оставлена (94,1 %)" in decision[0]["text"]
    assert "В записи имя не прозвучало" in decision[0]["text"]
    before = snapshot(live_app)
    r = post(live_app, "decide", {"auth": arbiter, "revision": score.revision, "outcome": "keep", "reason": "ещё"})
    assert r.status_code == 409 and "Открытого спора" in r.text
    assert snapshot(live_app) == before


def test_the_arbiter_changes_the_score_and_the_card_follows(installed, live_app, card):
    score, arbiter = _disputed(installed, live_app, card)
    answers = {f"a.{k}": str(v) for k, v in score.answers.items()}
    before = snapshot(live_app)
    for extra, status, words in (
            ({}, 400, "Ответы не изменились"),
            ({"a.i2": "maybe"}, 400, "по шкале"),
            ({"a.i1": "na"}, 400, "по шкале"),             # N/A is not allowed for this item
            ({"a.i99": "yes"}, 400, "по шкале"),           # an item of no version
            ({"a.i2": ""}, 400, "по шкале")):              # unanswered
        r = post(live_app, "decide", {"auth": arbiter, "revision": score.revision, "outcome": "change",
                                      "reason": "Имя было", **answers, **extra})
        assert r.status_code == status and words in r.text, (extra, r.status_code)
    assert snapshot(live_app) == before
    r = post(live_app, "decide", {"auth": arbiter, "revision": score.revision, "outcome": "change",
                                  "reason": "Имя было на 0:40", **answers, "a.i2": "yes"})
    assert r.status_code == 303 and "msg=feedback.changed" in r.headers["Location"]
    after = score_of(live_app, card)
    assert after.answers["i2"] == "yes" and after.percent == 100.0 and after.revision == score.revision + 1
    row = dispute_row(live_app, score.id)
    assert (row.status, row.old_percent, row.new_percent, row.reason) == ("changed", score.percent, 100.0,
                                                                          "Имя было на 0:40")
    assert kinds(live_app, card) == ["submit", "dispute", "changed"]
    item = card_item(installed, card)
    assert float(item[card.setup.fields["score"]]) == 100.0
    decision = [m for m in bot_msgs(installed, MANAGER) if "Решение по вашему спору" in m["text"]]
    assert len(decision) == 1 and "оценка изменена, 94,1 % → 100 %" in decision[0]["text"]
    # A decision from a page opened before the change never overwrites it.
    before = snapshot(live_app)
    r = post(live_app, "decide", {"auth": arbiter, "revision": score.revision, "outcome": "change",
                                  "reason": "ещё", **answers, "a.i3": "no"})
    assert r.status_code == 409
    assert snapshot(live_app) == before
    html = requests.get(f"{live_app.url}/b24/qa/result?auth={arbiter}", timeout=30).text
    for words in ("Оценка отправлена", "Менеджер оспорил оценку", "Арбитр изменил оценку", "Имя было на 0:40",
                  "Иван Петров", "Ольга Соколова", "Мария Смирнова", "94,1 % → 100 %"):
        assert words in html, words


def test_an_admin_decides_from_inside_the_app(installed, live_app, card):
    score, _arbiter = _disputed(installed, live_app, card)
    token = frame_token_from(open_placement(installed, live_app, "/b24/app", user_id=ADMIN).text)
    page = requests.get(f"{live_app.url}/b24/qa/scores/{score.id}", params={"ft": token}, timeout=30)
    assert 'data-testid="decide-form"' in page.text
    r = post(live_app, "decide", {"frame_token": token, "score_id": str(score.id), "revision": score.revision,
                                  "outcome": "keep", "reason": "Оставляем"})
    assert r.status_code == 303 and f"/b24/qa/scores/{score.id}?ft=" in r.headers["Location"]
    assert dispute_row(live_app, score.id).arbiter_id == ADMIN


# --- the settings section ---------------------------------------------------------------------------------------

def test_the_settings_section_edits_and_validates_the_qa_rules(installed, live_app):
    admin = frame_token_from(open_placement(installed, live_app, "/b24/app", user_id=ADMIN).text)
    page = open_placement(installed, live_app, "/b24/app", user_id=ADMIN).text
    assert 'data-testid="qa-settings-form"' in page and 'data-testid="qa-settings-help"' in page
    before = snapshot(live_app)
    for values, words in (({"dispute_days": "61"}, "от 0 до 60"), ({"dispute_days": "-1"}, "от 0 до 60"),
                          ({"weekly_quota": "51"}, "от 0 до 50"), ({"arbiter_id": "999"}, "Арбитр выбирается"),
                          ({"arbiter_id": "x"}, "Арбитр выбирается"), ({"notify_manager": "yes"}, "да или нет")):
        data = {"frame_token": admin, "dispute_days": "7", "weekly_quota": "5", "arbiter_id": "", **values}
        r = requests.post(f"{live_app.url}/b24/qa/settings", data=data, timeout=30, allow_redirects=False)
        assert r.status_code == 400 and words in r.text, values
    assert snapshot(live_app) == before
    r = requests.post(f"{live_app.url}/b24/qa/settings", data={
        "frame_token": admin, "dispute_days": "7", "weekly_quota": "5", "arbiter_id": str(ARBITER),
        "notify_manager": "0"}, timeout=30, allow_redirects=False)
    assert r.status_code == 303 and "msg=qa_settings.saved" in r.headers["Location"]
    pid = _pid(live_app, installed)
    with live_app.ctx():
        s = feedback.settings_of(pid)
        assert (s.dispute_days, s.weekly_quota, s.arbiter_id, s.notify_manager) == (7, 5, ARBITER, False)
    manager = frame_token_from(open_placement(installed, live_app, "/b24/app", user_id=MANAGER).text)
    before = snapshot(live_app)
    r = requests.post(f"{live_app.url}/b24/qa/settings", data={"frame_token": manager, "dispute_days": "1",
                                                               "weekly_quota": "0"}, timeout=30)
    assert r.status_code == 403
    assert snapshot(live_app) == before
    view = open_placement(installed, live_app, "/b24/app", user_id=MANAGER).text
    assert 'data-testid="qa-settings-view"' in view and "Иван Петров" in view


def test_a_failed_send_is_retried_and_still_arrives_once(installed, live_app, card):
    from b24app.bitrix import errors as E

    from ..platform.helpers import set_sandbox

    set_settings(live_app, card.portal_id, notify_manager=False)
    score = submit(installed, live_app, card)
    assert result_messages(installed) == []
    set_sandbox(installed, fail_503_share=1.0)
    with live_app.ctx(), pytest.raises(E.BitrixError):
        feedback.deliver(card.portal_id, score.id, "result", score.revision, MANAGER)
    set_sandbox(installed, fail_503_share=0.0)
    with live_app.ctx():
        row = db.session.scalar(select(QaNotice).where(QaNotice.score_id == score.id))
        assert (row.status, row.attempts) == ("pending", 1)
        assert feedback.deliver(card.portal_id, score.id, "result", score.revision, MANAGER) == "sent"
        assert feedback.deliver(card.portal_id, score.id, "result", score.revision, MANAGER) == "already"
    assert len(result_messages(installed)) == 1
