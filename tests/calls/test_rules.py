"""Classification rules (seed 000's scenarios and boundaries; pilot scope; greeting seconds)."""

from __future__ import annotations

import pytest

from b24app.calls.rules import (
    NOT_SELECTED,
    OUT_OF_SCOPE,
    REVIEW,
    SHORT,
    CallFacts,
    Rules,
    classify,
    conversation_seconds,
)


def out(duration: int, **kw) -> CallFacts:
    base = {"call_type": 1, "duration": duration, "failed_code": "200", "line": "reg1", "user_id": 5}
    base.update(kw)
    return CallFacts(**base)


@pytest.mark.parametrize("duration,expected", [
    (0, NOT_SELECTED), (9, NOT_SELECTED), (10, SHORT), (20, SHORT), (30, SHORT), (31, REVIEW), (600, REVIEW),
])
def test_seed_scenarios_and_boundaries(duration, expected):
    assert classify(out(duration), Rules()).outcome == expected


def test_incoming_is_not_selected_by_default_but_can_be():
    incoming = out(100, call_type=2)
    assert classify(incoming, Rules()).outcome == NOT_SELECTED
    assert classify(incoming, Rules(directions=frozenset({"incoming", "outgoing"}))).outcome == REVIEW


def test_info_calls_and_unanswered_calls_are_never_selected():
    both = Rules(directions=frozenset({"incoming", "outgoing"}))
    assert classify(out(100, call_type=5), both).outcome == NOT_SELECTED
    assert classify(out(100, failed_code="304"), both).outcome == NOT_SELECTED
    assert classify(out(100, failed_code="304"), Rules(only_answered=False)).outcome == REVIEW


def test_greeting_seconds_are_not_conversation():
    rules = Rules(greeting_seconds={"reg1": 15})
    assert conversation_seconds(40, "reg1", rules) == 25
    assert conversation_seconds(5, "reg1", rules) == 0
    assert classify(out(40), rules).outcome == SHORT
    assert classify(out(40, line="other"), rules).outcome == REVIEW


def test_pilot_scope_by_user_or_department():
    rules = Rules(user_ids=frozenset({7}), department_ids=frozenset({3}))
    assert classify(out(100, user_id=5), rules, {1}).outcome == OUT_OF_SCOPE
    assert classify(out(100, user_id=7), rules, {1}).outcome == REVIEW
    assert classify(out(100, user_id=5), rules, {3}).outcome == REVIEW


def test_robot_answered_calls_are_excluded():
    assert classify(out(100, answered_by_robot=True), Rules()).outcome == NOT_SELECTED


def test_validation_names_each_problem():
    assert Rules().validate() == []
    bad = Rules(directions=frozenset(), min_seconds=40, short_max_seconds=30, greeting_seconds={"x": -1})
    assert set(bad.validate()) == {"rules.directions", "rules.short_max_seconds", "rules.greeting_seconds"}
