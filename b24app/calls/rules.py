"""Which calls go to review, and at which stage: plain functions over call facts and a portal's rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

# CALL_TYPE values (REST-FACTS §3.3): 1 outgoing, 2 incoming, 3 incoming redirected, 4 callback, 5 info call.
OUTGOING_TYPES = frozenset({1})
INCOMING_TYPES = frozenset({2, 3, 4})
ANSWERED_CODE = "200"

NOT_SELECTED, SHORT, REVIEW, OUT_OF_SCOPE = "not_selected", "short", "review", "out_of_scope"


@dataclass(frozen=True)
class Rules:
    directions: frozenset[str] = frozenset({"outgoing"})
    min_seconds: int = 10            # shorter conversations are not selected
    short_max_seconds: int = 30      # min..short_max (inclusive) → «Короткий звонок»; longer → «Оценить»
    only_answered: bool = True
    user_ids: frozenset[int] = frozenset()        # pilot scope; empty with no departments = everyone
    department_ids: frozenset[int] = frozenset()
    greeting_seconds: dict = field(default_factory=dict)  # line (PORTAL_NUMBER) → seconds of auto-greeting
    exclude_robot: bool = True

    def validate(self) -> list[str]:
        """Return message keys for what is wrong (empty when the rules are usable)."""
        problems = []
        if not self.directions or not self.directions <= {"incoming", "outgoing"}:
            problems.append("rules.directions")
        if not (0 <= self.min_seconds <= 3600):
            problems.append("rules.min_seconds")
        if not (self.min_seconds <= self.short_max_seconds <= 36000):
            problems.append("rules.short_max_seconds")
        if any(not (0 <= int(v) <= 600) for v in self.greeting_seconds.values()):
            problems.append("rules.greeting_seconds")
        return problems


class CallFacts(NamedTuple):  # a tuple, not a dataclass: built once per imported row
    call_type: int
    duration: int
    failed_code: str
    line: str
    user_id: int | None
    answered_by_robot: bool = False


class Decision(NamedTuple):
    outcome: str
    conversation: int
    reason: str


def direction_of(call_type: int) -> str | None:
    if call_type in OUTGOING_TYPES:
        return "outgoing"
    if call_type in INCOMING_TYPES:
        return "incoming"
    return None  # info calls are not client calls


def conversation_seconds(duration: int, line: str, rules: Rules) -> int:
    """Talk time without the line's auto-greeting; never below zero (A1)."""
    return max(0, int(duration or 0) - int(rules.greeting_seconds.get(line or "", 0)))


def in_scope(user_id: int | None, user_departments: set[int], rules: Rules) -> bool:
    if not rules.user_ids and not rules.department_ids:
        return True
    if user_id is not None and user_id in rules.user_ids:
        return True
    return bool(user_departments & set(rules.department_ids))


def classify(call: CallFacts, rules: Rules, user_departments: set[int] | None = None) -> Decision:
    conv = conversation_seconds(call.duration, call.line, rules)
    direction = direction_of(call.call_type)
    if direction is None or direction not in rules.directions:
        return Decision(NOT_SELECTED, conv, "direction")
    if rules.only_answered and str(call.failed_code) != ANSWERED_CODE:
        return Decision(NOT_SELECTED, conv, "not_answered")
    if rules.exclude_robot and call.answered_by_robot:
        return Decision(NOT_SELECTED, conv, "robot")
    if not in_scope(call.user_id, user_departments or set(), rules):
        return Decision(OUT_OF_SCOPE, conv, "scope")
    if conv < rules.min_seconds:
        return Decision(NOT_SELECTED, conv, "too_short")
    if conv <= rules.short_max_seconds:
        return Decision(SHORT, conv, "short")
    return Decision(REVIEW, conv, "review")
