"""Checklist scoring (DESIGN §5): one plain function turns a reviewer's answers into the score %.

Each item has a weight, may be critical (a failed critical item makes the score 0) and may be
answered N/A where the checklist allows it (then it leaves the denominator).
Score % = Σ(weight × item score) / Σ(weight of applicable items) × 100.

An item's answer scale: "yes_no" (да/нет), "yes_partly_no" (да/частично/нет, the default of items
made before scales existed) or "points" (0…max_points, item score = points / max_points). A critical
item fails when its item score is 0: «нет», or 0 points.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

YES, PARTLY, NO = 1.0, 0.5, 0.0
ANSWERS = {"yes": YES, "partly": PARTLY, "no": NO, "na": None}
SCALES = {"yes_no": ("yes", "no"), "yes_partly_no": ("yes", "partly", "no"), "points": ()}
DEFAULT_SCALE = "yes_partly_no"
MAX_POINTS = 100


def scale_of(item: Mapping) -> str:
    scale = item.get("scale") or DEFAULT_SCALE
    return scale if scale in SCALES else DEFAULT_SCALE


def item_value(item: Mapping, raw) -> float | None | str:
    """The item score in [0, 1] for an answer, None for N/A, or a message key when the answer does not fit."""
    if raw == "na":
        return None if item.get("na_allowed") else "scoring.na_not_allowed"
    scale = scale_of(item)
    if scale == "points":
        top = item.get("max_points")
        if not isinstance(top, int) or isinstance(top, bool) or not 1 <= top <= MAX_POINTS:
            return "scoring.bad_scale"
        if isinstance(raw, str) and raw.isdigit():
            raw = int(raw)
        if not isinstance(raw, int) or isinstance(raw, bool):
            return "scoring.unanswered"
        return raw / top if 0 <= raw <= top else "scoring.out_of_scale"
    if raw not in ANSWERS:
        return "scoring.unanswered"
    return ANSWERS[raw] if raw in SCALES[scale] else "scoring.out_of_scale"


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


def score(sections: list[Mapping], answers: Mapping[str, object]) -> Score:
    """Score answers (per item key: "yes" / "partly" / "no" / "na", or points) against a checklist's sections."""
    problems: list[tuple[str, str]] = []
    earned = applicable = 0.0
    critical_failed: list[str] = []
    known = items(sections)
    for key, it in known:
        value = item_value(it, answers.get(key))
        if isinstance(value, str):
            problems.append((key, value))
            continue
        if value is None:
            continue
        weight = it.get("weight")
        if not isinstance(weight, int | float) or isinstance(weight, bool) or weight < 0:
            problems.append((key, "scoring.bad_weight"))
            continue
        applicable += weight
        earned += weight * value
        if it.get("critical") and value == 0:
            critical_failed.append(key)
    extra = set(answers) - {k for k, _ in known}
    problems += [(k, "scoring.unknown_item") for k in sorted(extra)]
    if problems:
        raise AnswersRefused(problems)
    if applicable <= 0:
        return Score(None, critical_failed, applicable, earned)
    percent = 0.0 if critical_failed else round(earned / applicable * 100, 1)
    return Score(percent, critical_failed, applicable, earned)
