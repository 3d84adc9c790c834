"""Calibration rounds: blind scoring by several reviewers, the spread once all are in, and never a real score."""

from __future__ import annotations

import re

import pytest
import requests
from sqlalchemy import select

from b24app.calls.models import Call
from b24app.extensions import db
from b24app.qa.calibration import spread
from b24app.qa.models import QaCalibration, QaScore

from ..platform.helpers import frame_token_from, open_placement
from .review_helpers import MANAGER, REVIEWER, REVIEWER2, card_item, form_config, make_card

SECTIONS = [{"title": "s", "items": [
    {"id": "a", "text": "A", "weight": 2, "scale": "yes_partly_no"},
    {"id": "b", "text": "B", "weight": 1, "scale": "yes_no", "na_allowed": True},
    {"id": "c", "text": "C", "weight": 1, "scale": "points", "max_points": 4},
]}]


@pytest.mark.parametrize("answers,totals,item_spread,item_agreement,total_spread,agreement", [
    # everyone alike: no spread, full agreement
    ({1: {"a": "yes", "b": "yes", "c": 4}, 2: {"a": "yes", "b": "yes", "c": 4}}, {1: 100.0, 2: 100.0},
     {"a": 0.0, "b": 0.0, "c": 0.0}, {"a": 1.0, "b": 1.0, "c": 1.0}, 0.0, 1.0),
    # two apart on A (yes / partly = 50 points) and C (4 / 2 of 4 = 50 points); B alike
    ({1: {"a": "yes", "b": "no", "c": 4}, 2: {"a": "partly", "b": "no", "c": 2}}, {1: 75.0, 2: 50.0},
     {"a": 50.0, "b": 0.0, "c": 50.0}, {"a": 0.0, "b": 1.0, "c": 0.0}, 25.0, 0.333),
    # three reviewers, one pair of three agrees on A; N/A is an answer of its own and leaves no score
    ({1: {"a": "no", "b": "na", "c": 0}, 2: {"a": "no", "b": "na", "c": 0}, 3: {"a": "yes", "b": "na", "c": 0}},
     {1: 0.0, 2: 0.0, 3: 66.7}, {"a": 100.0, "b": None, "c": 0.0}, {"a": 0.333, "b": 1.0, "c": 1.0}, 66.7, 0.778),
])
def test_spread_on_a_table(answers, totals, item_spread, item_agreement, total_spread, agreement):
    out = spread(SECTIONS, answers, totals)
    assert {i.key: i.spread for i in out.items} == item_spread
    assert {i.key: i.agreement for i in out.items} == item_agreement
    assert out.spread == total_spread and out.agreement == agreement


def test_no_totals_means_no_spread():
    out = spread(SECTIONS, {1: {"b": "na"}, 2: {"b": "na"}}, {1: None, 2: None})
    assert out.mean is None and out.spread is None and out.stdev is None


def _token(installed, live_app, user_id):
    page = open_placement(installed, live_app, "/b24/app", user_id=user_id)
    assert page.status_code == 200
    return frame_token_from(page.text), page.text


def _start(installed, live_app, card, reviewers=(REVIEWER, REVIEWER2)):
    token, _ = _token(installed, live_app, 1)
    return requests.post(f"{live_app.url}/b24/qa/calibrations", timeout=30, allow_redirects=False,
                         data={"frame_token": token, "qa_item_id": str(card.item_id),
                               "reviewers": [str(r) for r in reviewers]})


def _cal_id(live_app) -> int:
    with live_app.ctx():
        return db.session.scalar(select(QaCalibration.id).order_by(QaCalibration.id.desc()))


def _score_as(live_app, installed, cal_id, user_id, answers):
    token, _ = _token(installed, live_app, user_id)
    page = requests.get(f"{live_app.url}/b24/qa/calibration/{cal_id}", params={"ft": token}, timeout=30)
    assert page.status_code == 200, page.text[:300]
    cfg = form_config(page)
    r = requests.post(f"{live_app.url}/b24/qa/calibration/{cal_id}/submit", headers={"X-Frame-Token": token},
                      json={"revision": cfg["revision"], "version_id": cfg["versionId"], "answers": answers},
                      timeout=30)
    return page, r


def test_a_round_scores_blind_and_shows_the_spread_when_all_are_in(installed, live_app):
    card = make_card(installed, live_app)
    stage_before = card_item(installed, card)["stageId"]
    r = _start(installed, live_app, card)
    assert r.status_code == 303, r.text[:300]
    cal_id = _cal_id(live_app)
    _, settings_page = _token(installed, live_app, REVIEWER)
    assert 'data-testid="calibration-score"' in settings_page

    yes = {f"i{n}": "yes" for n in range(1, 9)}
    page, r = _score_as(live_app, installed, cal_id, REVIEWER, yes)
    assert 'data-testid="qa-calibration"' in page.text and r.status_code == 200
    token5, _ = _token(installed, live_app, REVIEWER)
    waiting = requests.get(f"{live_app.url}/b24/qa/calibration/{cal_id}/results", params={"ft": token5}, timeout=30)
    assert 'data-testid="calibration-waiting"' in waiting.text and "Оценили 1 из 2" in waiting.text

    _, r = _score_as(live_app, installed, cal_id, REVIEWER2, yes | {"i1": "partly", "i4": "na"})
    assert r.status_code == 200
    results = requests.get(f"{live_app.url}/b24/qa/calibration/{cal_id}/results", params={"ft": token5}, timeout=30)
    totals = re.findall(r'data-testid="calibration-total">([^<]+)<', results.text)
    assert totals == ["100 %", "93,3 %"]                 # 14 of 15 applicable (weight 2 of «i1» half)
    assert re.search(r'data-testid="calibration-spread">6,7 %<', results.text)

    with live_app.ctx():
        assert db.session.scalar(select(QaScore).where(QaScore.qa_item_id == card.item_id,
                                                       QaScore.calibration_id == 0)) is None
        assert db.session.scalar(select(Call.scored_at).where(Call.call_id == card.call_id)) is None
    assert card_item(installed, card)["stageId"] == stage_before


def test_a_second_reviewer_never_sees_the_first_ones_answers(installed, live_app):
    card = make_card(installed, live_app)
    _start(installed, live_app, card)
    cal_id = _cal_id(live_app)
    _score_as(live_app, installed, cal_id, REVIEWER, {f"i{n}": "no" for n in range(1, 9)})
    token6, _ = _token(installed, live_app, REVIEWER2)
    page = requests.get(f"{live_app.url}/b24/qa/calibration/{cal_id}", params={"ft": token6}, timeout=30)
    assert 'checked' not in page.text.split('data-testid="qa-checklist"')[1].split('data-testid="qa-bar"')[0]
    r = requests.get(f"{live_app.url}/b24/qa/calibration/{cal_id}/results", params={"ft": token6}, timeout=30)
    assert "calibration-totals" not in r.text


@pytest.mark.parametrize("reviewers,status", [((REVIEWER,), 400), ((REVIEWER, MANAGER), 400), ((REVIEWER, 2), 400)])
def test_a_round_needs_two_reviewers_and_never_the_calls_manager(installed, live_app, reviewers, status):
    card = make_card(installed, live_app)
    with live_app.ctx():
        from b24app.portals import roles
        roles.grant(card.portal_id, MANAGER, "qa", 1)
    r = _start(installed, live_app, card, reviewers)
    assert r.status_code == status and "notice error" in r.text
    with live_app.ctx():
        assert db.session.scalar(select(QaCalibration.id)) is None


def test_outsiders_and_second_submits_are_refused(installed, live_app):
    card = make_card(installed, live_app)
    _start(installed, live_app, card)
    cal_id = _cal_id(live_app)
    _, first = _score_as(live_app, installed, cal_id, REVIEWER, {f"i{n}": "yes" for n in range(1, 9)})
    assert first.status_code == 200
    token5, _ = _token(installed, live_app, REVIEWER)
    again = requests.post(f"{live_app.url}/b24/qa/calibration/{cal_id}/submit", headers={"X-Frame-Token": token5},
                          json={"revision": 1, "version_id": 1, "answers": {}}, timeout=30)
    assert again.status_code == 409
    token4, _ = _token(installed, live_app, 4)
    r = requests.get(f"{live_app.url}/b24/qa/calibration/{cal_id}", params={"ft": token4}, timeout=30)
    assert r.status_code == 403 and "Вас нет среди участников" in r.text
    r = requests.post(f"{live_app.url}/b24/qa/calibration/{cal_id}/draft", headers={"X-Frame-Token": token4},
                      json={"revision": 0, "version_id": 1, "answers": {}}, timeout=30)
    assert r.status_code == 403 and r.json()["key"] == "calibration.not_invited"
    r = requests.get(f"{live_app.url}/b24/qa/calibration/{cal_id + 99}/results", params={"ft": token5}, timeout=30)
    assert r.status_code == 404
