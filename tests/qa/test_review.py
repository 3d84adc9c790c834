"""The reviewer's scoring form over real HTTP against the sandbox portal: drafts, submit to the CRM card,
«Нельзя оценить», the holder lock, stale and tampered forms, the recording, and the topic lock."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import requests
from sqlalchemy import select, update

from b24app.calls.models import Call
from b24app.extensions import db
from b24app.models_base import utcnow
from b24app.portals.models import Portal
from b24app.qa import history
from b24app.qa.models import ChecklistVersion, QaEvent, QaScore
from b24app.topics import service as topics
from b24app.topics.models import Topic

from ..platform.helpers import frame_token_from, open_placement
from .review_helpers import (
    MANAGER,
    REVIEWER,
    REVIEWER2,
    Form,
    all_yes,
    card_item,
    grant,
    make_card,
    open_form,
)


def _score(live_app, card) -> QaScore | None:
    with live_app.ctx():
        s = db.session.scalar(select(QaScore).where(QaScore.portal_id == card.portal_id,
                                                    QaScore.qa_item_id == card.item_id))
        if s is not None:
            db.session.expunge(s)
        return s


def _snapshot(live_app, card):
    with live_app.ctx():
        rows = db.session.scalars(select(QaScore).where(QaScore.portal_id == card.portal_id)).all()
        events = db.session.scalar(select(db.func.count()).select_from(QaEvent))
        return [(r.id, r.status, r.revision, dict(r.answers), r.percent) for r in rows], events


@pytest.fixture
def card(installed, live_app):
    return make_card(installed, live_app)


def test_the_form_shows_the_call_and_its_checklist(installed, live_app, card):
    f = Form(installed, live_app, card)
    html = f.page.text
    assert 'data-testid="qa-form"' in html and "Мария Смирнова" in html and "Новый клиент" in html
    assert "Продажа · версия 1" in html and f.config["editable"] is True
    assert len(f.items()) == 8 and 'data-testid="qa-audio"' in html
    assert "frame-ancestors" in f.page.headers.get("Content-Security-Policy", "")


def test_draft_then_submit_writes_the_card_and_locks_the_topic(installed, live_app, card):
    f = Form(installed, live_app, card)
    keys = [k for k, _ in f.items()]
    r = f.post("draft", {"answers": {keys[0]: "yes"}, "comment": "начало"})
    assert r.status_code == 200 and r.json()["status"] == "draft" and r.json()["percent"] == 100.0
    answers = all_yes(f)
    answers[keys[3]] = "na"          # «Уточнил сроки и бюджет», N/A allowed
    answers[keys[1]] = "no"          # weight 1 of the 15 applicable (17 less the N/A item of weight 2)
    r = f.post("submit", {"answers": answers, "comments": {keys[1]: "не спросил имя"}, "comment": "Хорошо",
                          "for_meeting": True})
    assert r.status_code == 200, r.text
    assert r.json()["percent"] == round(14 / 15 * 100, 1)
    item = card_item(installed, card)
    fields = card.setup.fields
    assert item["stageId"] == card.setup.stages["done"]
    assert float(item[fields["score"]]) == round(14 / 15 * 100, 1)
    assert item[fields["comment"]] == "Хорошо" and item[fields["discuss"]] in ("Y", True, 1, "1")
    assert str(item[fields["reviewer"]]) == str(REVIEWER) and item[fields["checklist"]] == "Продажа · v1"
    with live_app.ctx():
        call = db.session.scalar(select(Call).where(Call.portal_id == card.portal_id, Call.call_id == card.call_id))
        assert call.scored_at is not None
        other = db.session.scalar(select(Topic).where(Topic.portal_id == card.portal_id, Topic.name == "Претензия"))
        with pytest.raises(topics.TopicRefused) as exc:
            topics.choose(card.portal_id, card.call_id, other.id, MANAGER, "card")
        assert exc.value.key == "topics.locked"
        kinds = [e.kind for e in history.history_for(card.portal_id, card.item_id)]
        assert kinds == ["draft", "submit"]
        assert db.session.scalar(select(ChecklistVersion.used).where(
            ChecklistVersion.id == f.config["versionId"])) is True
    page = Form(installed, live_app, card).page.text
    assert 'data-status="submitted"' in page and "Оценка отправлена" in page


def test_a_failed_critical_item_makes_zero_and_all_na_is_no_data(installed, live_app, card):
    f = Form(installed, live_app, card)
    crit = next(k for k, it in f.items() if it.get("critical"))
    answers = all_yes(f) | {crit: "no"}
    assert f.post("draft", {"answers": answers}).json()["percent"] == 0.0
    r = f.post("submit", {"answers": answers})
    assert r.status_code == 200 and r.json()["percent"] == 0.0 and r.json()["critical_failed"] == [crit]
    assert float(card_item(installed, card)[card.setup.fields["score"]]) == 0.0


@pytest.mark.parametrize("body,status,key", [
    ({"answers": {"i999": "yes"}}, 400, "review.unknown_item"),
    ({"answers": {"i1": "maybe"}}, 400, "review.bad_answer"),
    ({"answers": {"i1": "na"}}, 400, "review.bad_answer"),             # N/A not allowed on that item
    ({"answers": ["yes"]}, 400, "review.bad_form"),
    ({"answers": {"i1": {"x": 1}}}, 400, "review.bad_form"),
    ({"comment": "я" * 4001}, 400, "review.too_long"),
    ({"revision": 7}, 409, "review.stale"),
    ({"version_id": 999999}, 409, "review.version_changed"),
    ({"for_meeting": "maybe"}, 400, "review.bad_form"),
])
def test_bad_forms_are_refused_in_russian_and_change_nothing(installed, live_app, card, body, status, key):
    f = Form(installed, live_app, card)
    before = _snapshot(live_app, card)
    r = f.post("draft", body)
    assert r.status_code == status and r.json()["key"] == key
    assert any("а" <= ch <= "я" for ch in r.json()["error"])
    assert _snapshot(live_app, card) == before


def test_an_incomplete_submit_names_the_missing_items(installed, live_app, card):
    f = Form(installed, live_app, card)
    keys = [k for k, _ in f.items()]
    r = f.post("submit", {"answers": {keys[0]: "yes"}})
    assert r.status_code == 400 and r.json()["key"] == "review.incomplete"
    assert set(r.json()["items"]) == set(keys[1:])
    assert _score(live_app, card) is None


def test_a_replayed_or_stale_form_never_overwrites(installed, live_app, card):
    first = Form(installed, live_app, card)
    assert first.post("draft", {"answers": {"i1": "yes"}}).status_code == 200
    tab2 = Form(installed, live_app, card)            # the same reviewer in a second tab
    assert tab2.post("draft", {"answers": {"i1": "no"}}).status_code == 200
    r = first.post("submit", {"answers": all_yes(first)})
    assert r.status_code == 409 and r.json()["key"] == "review.stale"
    assert _score(live_app, card).answers == {"i1": "no"} and _score(live_app, card).status == "draft"
    done = tab2.post("submit", {"answers": all_yes(tab2)}, keep_revision=True)
    assert done.status_code == 200
    replay = tab2.post("submit", {"answers": all_yes(tab2) | {"i1": "no"}})
    assert replay.status_code == 409 and _score(live_app, card).percent == 100.0


def test_a_second_reviewer_sees_the_holder_and_may_take_over_only_when_idle(installed, live_app, card):
    mine = Form(installed, live_app, card, REVIEWER)
    assert mine.post("draft", {"answers": {"i1": "yes"}}).status_code == 200
    other = Form(installed, live_app, card, REVIEWER2)
    assert 'data-testid="qa-holder"' in other.page.text and "Ольга Соколова" in other.page.text
    assert other.config["editable"] is False
    r = other.post("draft", {"answers": {"i1": "no"}})
    assert r.status_code == 409 and r.json()["key"] == "review.held" and "Ольга Соколова" in r.json()["error"]
    with live_app.ctx():
        db.session.execute(update(QaScore).where(QaScore.qa_item_id == card.item_id)
                           .values(updated_at=utcnow() - timedelta(hours=1)))
        db.session.commit()
    other = Form(installed, live_app, card, REVIEWER2)
    assert other.config["editable"] is True
    assert other.post("submit", {"answers": all_yes(other)}).status_code == 200
    s = _score(live_app, card)
    assert s.reviewer_id == REVIEWER2 and s.status == "submitted"
    with live_app.ctx():
        kinds = [e.kind for e in history.history_for(card.portal_id, card.item_id)]
    assert kinds == ["draft", "takeover", "submit"]


def test_a_reviewer_cannot_score_his_own_call_and_a_manager_cannot_score(installed, live_app):
    card = make_card(installed, live_app, user_id=REVIEWER)
    f = Form(installed, live_app, card, REVIEWER)
    assert "Свой звонок оценивать нельзя" in f.page.text and f.config["editable"] is False
    r = f.post("submit", {"answers": all_yes(f)})
    assert r.status_code == 403 and r.json()["key"] == "review.own_call"
    page = open_form(installed, live_app, card, MANAGER)      # another manager's call
    assert page.status_code == 403 and "только оценки своих звонков" in page.text
    token = frame_token_from(open_placement(installed, live_app, "/b24/app", user_id=MANAGER).text)
    r = requests.post(f"{live_app.url}/b24/qa/card/{card.item_id}/draft", headers={"X-Frame-Token": token},
                      json={"revision": 0, "version_id": f.config["versionId"], "answers": {"i1": "yes"}}, timeout=30)
    assert r.status_code == 403 and r.json()["key"] == "review.not_yours"
    assert _score(live_app, card) is None


def test_the_manager_sees_his_result_but_not_a_draft(installed, live_app, card):
    f = Form(installed, live_app, card)
    assert f.post("draft", {"answers": {"i1": "no"}, "comment": "черновая мысль"}).status_code == 200
    own = Form(installed, live_app, card, MANAGER)
    assert own.config["editable"] is False and "черновая мысль" not in own.page.text
    assert own.config["revision"] == 0 and 'data-status="new"' in own.page.text
    r = own.post("draft", {"answers": {"i1": "yes"}})
    assert r.status_code == 403 and r.json()["key"] == "review.not_reviewer"
    assert f.post("submit", {"answers": all_yes(f), "comment": "Отлично"}).status_code == 200
    own = Form(installed, live_app, card, MANAGER)
    assert 'data-status="submitted"' in own.page.text and "Отлично" in own.page.text
    link = re.search(r'href="([^"]+)" data-testid="qa-result-link"', own.page.text).group(1).replace("&amp;", "&")
    result = requests.get(live_app.url + link, timeout=30)
    assert result.status_code == 200 and "Отлично" in result.text


def test_unscorable_needs_a_reason_and_moves_the_card(installed, live_app, card):
    f = Form(installed, live_app, card)
    r = f.post("unscorable", {"reason": "  "})
    assert r.status_code == 400 and r.json()["key"] == "review.reason_required"
    r = f.post("unscorable", {"reason": "Ошиблись номером"})
    assert r.status_code == 200 and r.json()["status"] == "unscorable"
    item = card_item(installed, card)
    assert item["stageId"] == card.setup.stages["skipped"]
    assert item[card.setup.fields["comment"]] == "Ошиблись номером"
    with live_app.ctx():
        assert db.session.scalar(select(Call.scored_at).where(Call.call_id == card.call_id)) is None


def test_an_admin_may_rescore_and_history_says_so(installed, live_app, card):
    f = Form(installed, live_app, card)
    assert f.post("submit", {"answers": all_yes(f)}).status_code == 200
    other = Form(installed, live_app, card, REVIEWER2)
    r = other.post("submit", {"answers": all_yes(other) | {"i1": "no"}})
    assert r.status_code == 403 and r.json()["key"] == "review.not_your_score"
    admin = Form(installed, live_app, card, 1)
    r = admin.post("submit", {"answers": all_yes(admin) | {"i1": "no"}})
    assert r.status_code == 200 and r.json()["percent"] < 100
    with live_app.ctx():
        assert [e.kind for e in history.history_for(card.portal_id, card.item_id)] == ["submit", "rescore"]


def test_a_card_without_topic_gets_one_in_the_form(installed, live_app):
    card = make_card(installed, live_app, topic=None)
    f = Form(installed, live_app, card)
    assert 'data-testid="qa-topic-choice"' in f.page.text and f.config["editable"] is False
    with live_app.ctx():
        t = db.session.scalar(select(Topic).where(Topic.portal_id == card.portal_id, Topic.name == "Претензия"))
    r = requests.post(f"{live_app.url}/b24/qa/card/{card.item_id}/topic", json={"topic_id": t.id},
                      headers={"X-Frame-Token": f.token}, timeout=30)
    assert r.status_code == 200, r.text
    f = Form(installed, live_app, card)
    assert "Претензия · версия 1" in f.page.text and f.config["editable"] is True
    assert card_item(installed, card)[card.setup.fields["topic"]] == "Претензия"


def test_the_recording_streams_through_the_app_and_only_for_this_portal(installed, live_app, card):
    f = Form(installed, live_app, card)
    r = requests.get(f"{live_app.url}/b24/qa/card/{card.item_id}/record", params={"ft": f.token}, timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("audio/")
    assert r.content[:4] == b"RIFF"
    r = requests.get(f"{live_app.url}/b24/qa/card/{card.item_id + 1000}/record", params={"ft": f.token}, timeout=30)
    assert r.status_code == 404 and r.json()["key"] == "review.no_card"


def test_another_portals_card_is_not_found(installed, live_app, make_sandbox, card):
    other = make_sandbox(install=True, seed=2, calls_days=3)
    grant(live_app, _portal_id(live_app, other), REVIEWER)
    assert open_form(other, live_app, card, REVIEWER).status_code == 404
    own = Form(installed, live_app, card)
    assert own.post("draft", {"answers": {"i1": "yes"}}).status_code == 200
    before = _snapshot(live_app, card)
    other_token = frame_token_from(open_placement(other, live_app, "/b24/app", user_id=1).text)
    for action in ("draft", "submit", "unscorable"):
        r = requests.post(f"{live_app.url}/b24/qa/card/{card.item_id}/{action}",
                          json={"revision": 1, "version_id": own.config["versionId"], "answers": all_yes(own),
                                "reason": "x"},
                          headers={"X-Frame-Token": other_token}, timeout=30)
        assert r.status_code == 404 and r.json()["key"] == "review.no_card"
    assert _snapshot(live_app, card) == before


def _portal_id(live_app, sandbox) -> int:
    with live_app.ctx():
        return db.session.scalar(select(Portal.id).where(Portal.member_id == sandbox.member_id))
