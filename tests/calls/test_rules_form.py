"""The selection-rules section of the settings page: validation in Russian, save, re-apply without duplicates."""

from __future__ import annotations

import requests

from b24app.calls.models import Call, CallSettings
from b24app.extensions import db

from ..platform.helpers import frame_token_from, open_placement
from .test_intake import add_stat_row, callend, calls, fire


def _token(installed, live_app, user_id=1):
    return frame_token_from(open_placement(installed, live_app, "/b24/app", user_id=user_id).text)


def _form(**over):
    data = {"directions": ["outgoing"], "min_seconds": "10", "short_max_seconds": "30", "only_answered": "1",
            "exclude_robot": "1", "greeting_line": [""], "greeting_seconds": [""]}
    data.update(over)
    return data


def test_the_settings_page_shows_the_rules_form(installed, live_app):
    page = open_placement(installed, live_app, "/b24/app")
    assert 'data-testid="rules-form"' in page.text and "Отбор звонков на оценку" in page.text
    dep = requests.post(f"{installed.webhook_url}department.get", json={}, timeout=10).json()["result"][0]
    assert f'<option value="{dep["ID"]}" >{dep["NAME"]}</option>' in page.text


def test_bad_rules_are_refused_with_a_russian_message_and_nothing_saved(installed, live_app):
    token = _token(installed, live_app)
    cases = [({"directions": []}, "хотя бы одно направление"), ({"min_seconds": "-5"}, "Минимальная длительность"),
             ({"min_seconds": "40", "short_max_seconds": "30"}, "не меньше минимальной"),
             ({"greeting_line": ["reg1"], "greeting_seconds": ["abc"]}, "Приветствие линии"),
             ({"user_ids": ["x"]}, "выбираются из списка")]
    for over, text in cases:
        r = requests.post(f"{live_app.url}/b24/calls/rules", data={"frame_token": token, **_form(**over)}, timeout=10)
        assert r.status_code == 400 and text in r.text, over
    with live_app.ctx():
        assert all(not s.rules for s in db.session.query(CallSettings).all())


def test_saved_rules_apply_to_new_calls_and_reapply_creates_no_duplicates(installed, live_app):
    token = _token(installed, live_app)
    old = add_stat_row(installed, CALL_TYPE="2", CALL_DURATION="100", CALL_FAILED_CODE="200", PORTAL_USER_ID="2")
    fire(installed, "ONVOXIMPLANTCALLEND", callend(old))
    assert calls(live_app, call_id=old["CALL_ID"])[0].selection == "not_selected"  # incoming not selected by default
    r = requests.post(f"{live_app.url}/b24/calls/rules", data={"frame_token": token, **_form(
        directions=["incoming", "outgoing"], greeting_line=[old["PORTAL_NUMBER"]], greeting_seconds=["15"])}, timeout=10)
    assert r.status_code == 200 and "Правила отбора сохранены" in r.text
    new = add_stat_row(installed, CALL_TYPE="2", CALL_DURATION="40", CALL_FAILED_CODE="200", PORTAL_USER_ID="2",
                       PORTAL_NUMBER=old["PORTAL_NUMBER"])
    fire(installed, "ONVOXIMPLANTCALLEND", callend(new))
    c = calls(live_app, call_id=new["CALL_ID"])[0]
    assert c.conversation == 25 and c.selection == "short" and c.qa_item_id
    assert calls(live_app, call_id=old["CALL_ID"])[0].selection == "not_selected"  # rules are not retroactive
    for _ in range(2):
        r = requests.post(f"{live_app.url}/b24/calls/rules/reapply", data={"frame_token": token, "days": "365"},
                          timeout=60)
        assert r.status_code == 200
    o = calls(live_app, call_id=old["CALL_ID"])[0]
    assert o.selection == "review" and o.qa_item_id
    with live_app.ctx():
        ids = [x for (x,) in db.session.query(Call.qa_item_id).filter(Call.qa_item_id.isnot(None)).all()]
    assert len(ids) == len(set(ids))


def test_a_manager_cannot_change_rules(installed, live_app):
    token = _token(installed, live_app, user_id=2)
    r = requests.post(f"{live_app.url}/b24/calls/rules", data={"frame_token": token, **_form()}, timeout=10)
    assert r.status_code == 403
