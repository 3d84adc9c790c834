"""Portal POSTs are parsed into their documented shapes at the edge: anything else is a 4xx that changes nothing."""

from __future__ import annotations

import pytest
import requests

from b24app.bitrix.payloads import PayloadError, parse_bracketed, parse_event
from b24app.extensions import db
from b24app.inbox.models import InboxEvent

from .helpers import open_placement, portal_row

GOOD = {"CALL_ID": "e-1", "CALL_TYPE": "1", "PHONE_NUMBER": "+79001234567", "CALL_DURATION": "42",
        "CALL_FAILED_CODE": "200", "CRM_ACTIVITY_ID": "undefined"}


def _form(member_id: str, token: str, data: dict | None = None, **extra) -> list[tuple[str, str]]:
    pairs = [("event", "ONVOXIMPLANTCALLEND"), ("ts", "1773239624"),
             ("auth[member_id]", member_id), ("auth[application_token]", token)]
    pairs += [(f"data[{k}]", v) for k, v in (data or GOOD).items()]
    return pairs + list(extra.items())


@pytest.mark.parametrize("pairs, field", [
    ([("a", "1"), ("a", "2")], "a"),
    ([("a", "1"), ("a[b]", "2")], "a"),
    ([("a[b]", "1"), ("a", "2")], "a"),
    ([("a[]", "1")], "a[]"),
    ([("a[b", "1")], "a[b"),
    ([("a" + "[x]" * 9, "1")], "a"),
])
def test_bracketed_forms_take_only_php_shapes(pairs, field):
    with pytest.raises(PayloadError) as exc:
        parse_bracketed(pairs)
    assert str(exc.value).startswith(field)


def test_event_data_is_typed_and_undeclared_fields_dropped():
    ev = parse_event(_form("m", "t", {**GOOD, "EXTRA": "x"}))
    assert ev.data == GOOD and ev.member_id == "m" and ev.application_token == "t"


@pytest.mark.parametrize("name, value", [("auth[member_id][x]", "1"), ("data[CALL_ID][0]", "1"),
                                         ("data[CALL_TYPE]", "one"), ("data[CALL_DURATION]", "-5")])
def test_an_event_field_of_the_wrong_kind_is_refused(name, value):
    field = name.split("]")[0] + "]"  # auth[member_id], data[CALL_ID] …
    pairs = [p for p in _form("m", "t") if p[0] != field]
    with pytest.raises(PayloadError) as exc:
        parse_event(pairs + [(name, value)])
    assert str(exc.value) == field


def _inbox(live_app) -> int:
    with live_app.ctx():
        return db.session.query(InboxEvent).count()


@pytest.mark.parametrize("mutate", [
    lambda f: [p for p in f if p[0] != "auth[member_id]"] + [("auth[member_id][x]", "1")],
    lambda f: f + [("auth[member_id]", "again")],
    lambda f: f + [("data[CALL_ID][]", "1")],
    lambda f: [p for p in f if p[0] != "data[CALL_ID]"] + [("data[CALL_ID][0]", "a"), ("data[CALL_ID][1]", "b")],
    lambda f: [("event", "ONSOMETHINGELSE")] + [p for p in f if p[0] != "event"],
    lambda f: [p for p in f if p[0] != "data[CALL_ID]"],
], ids=["nested-member-id", "repeated-key", "php-list", "list-for-string", "unhandled-event", "no-call-id"])
def test_hostile_event_forms_are_a_400_and_store_nothing(installed, live_app, mutate):
    token = portal_row(live_app, installed.member_id).application_token
    before = _inbox(live_app)
    r = requests.post(f"{live_app.url}/b24/events", data=mutate(_form(installed.member_id, token)), timeout=10)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "bad_event"
    assert _inbox(live_app) == before
    # the same form, well made, is taken
    assert requests.post(f"{live_app.url}/b24/events", data=_form(installed.member_id, token),
                         timeout=10).status_code == 200


CARD = {"CALL_ID": "externalCall.x.1", "PHONE_NUMBER": "+73432000000", "CALL_DIRECTION": "incoming",
        "CALL_STATE": "connecting", "CRM_ACTIVITY_ID": "undefined", "CALL_LIST_MODE": "false",
        "CRM_BINDINGS": [{"ENTITY_TYPE": "CONTACT", "ENTITY_ID": "5"}]}


@pytest.mark.parametrize("field, value", [
    ("PHONE_NUMBER", {"nested": "object"}), ("CALL_DIRECTION", 1), ("CALL_DIRECTION", "sideways"),
    ("CRM_BINDINGS", "CONTACT_5"), ("CRM_BINDINGS", [{"ENTITY_TYPE": ["CONTACT"], "ENTITY_ID": "5"}]),
    ("CRM_ENTITY_ID", "five"), ("CALL_ID", ["a"]), ("CALL_STATE", True), ("LINE_NAME", "x" * 5000),
])
def test_call_card_options_of_the_wrong_shape_are_a_400_in_russian(installed, live_app, field, value):
    r = open_placement(installed, live_app, "/b24/call-card", placement="CALL_CARD", options={**CARD, field: value})
    assert r.status_code == 400
    assert "параметры виджета" in r.text and field in r.text


def test_call_card_options_as_documented_open_the_card(installed, live_app):
    r = open_placement(installed, live_app, "/b24/call-card", placement="CALL_CARD",
                       options={**CARD, "CRM_ENTITY_ID": 17, "URI": "/crm/contact/details/5/"})
    assert r.status_code == 200 and 'id="cc-config"' in r.text


def test_a_page_opened_as_another_placement_is_a_400(installed, live_app):
    r = open_placement(installed, live_app, "/b24/call-card", placement="LEFT_MENU", options=CARD)
    assert r.status_code == 400 and "из другого места портала" in r.text


def test_options_in_english_when_the_portal_is(installed, live_app):
    r = open_placement(installed, live_app, "/b24/call-card", placement="CALL_CARD",
                       options={**CARD, "CALL_DIRECTION": 2}, lang="en")
    assert r.status_code == 400 and "unexpected form" in r.text
