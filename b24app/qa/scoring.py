"""Checklist scoring (DESIGN §5): one plain function turns a reviewer's answers into the score %.

Each item has a weight, may be critical (a failed critical item makes the score 0) and may be
answered N/A where the checklist allows it (then it leaves the denominator).
Score % = Σ(weight × item score) / Σ(weight of applicable items) × 100.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

YES, PARTLY, NO = 1.0, 0.5, 0.0
ANSWERS = {"yes": YES, "partly": PARTLY, "no": NO, "na": None}


@dataclass(frozen=True)
class Score:
    percent: float | None        # None when every item was N/A: no data, never 0
    critical_failed: list[str]   # keys of critical items answered "no"
    applicable_weight: float
    earned: float


class AnswersRefused(ValueError):
    """Answers that do not fit the checklist; `problems` are (item key, message key) pairs."""

    def __init__(self, problems: list[tuple[str, str]]):
        super().__init__(", ".join(f"{k}: {m}" for k, m in problems))
        self.problems = problems


def item_key(section_index: int, item_index: int, item: Mapping) -> str:
    """Items carry an `id` when the checklist editor made them; older ones are keyed by position."""
    return str(item.get("id") or f"{section_index}.{item_index}")


def items(sections: list[Mapping]) -> list[tuple[str, Mapping]]:
    return [(item_key(si, ii, it), it) for si, sec in enumerate(sections or [])
            for ii, it in enumerate(sec.get("items") or [])]


def score(sections: list[Mapping], answers: Mapping[str, str]) -> Score:
    """Score answers ("yes" / "partly" / "no" / "na" per item key) against a checklist's sections."""
    problems: list[tuple[str, str]] = []
    earned = applicable = 0.0
    critical_failed: list[str] = []
    known = items(sections)
    for key, it in known:
        raw = answers.get(key)
        if raw not in ANSWERS:
            problems.append((key, "scoring.unanswered"))
            continue
        value = ANSWERS[raw]
        if value is None:
            if not it.get("na_allowed"):
                problems.append((key, "scoring.na_not_allowed"))
            continue
        weight = float(it.get("weight") or 0)
        if weight < 0:
            problems.append((key, "scoring.bad_weight"))
            continue
        applicable += weight
        earned += weight * value
        if it.get("critical") and value == NO:
            critical_failed.append(key)
    extra = set(answers) - {k for k, _ in known}
    problems += [(k, "scoring.unknown_item") for k in sorted(extra)]
    if problems:
        raise AnswersRefused(problems)
    if applicable <= 0:
        return Score(None, critical_failed, applicable, earned)
    percent = 0.0 if critical_failed else round(earned / applicable * 100, 1)
    return Score(percent, critical_failed, applicable, earned)
