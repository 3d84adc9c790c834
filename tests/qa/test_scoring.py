"""The checklist score (DESIGN §5) on the default checklists' shapes: weights, critical items, N/A."""

from __future__ import annotations

import pytest

from b24app.qa.checklists import DEFAULTS
from b24app.qa.scoring import AnswersRefused, items, score

SECTIONS = [
    {"title": "A", "items": [{"text": "greet", "weight": 2}, {"text": "budget", "weight": 3, "na_allowed": True}]},
    {"title": "B", "items": [{"text": "next step", "weight": 5, "critical": True}]},
]


def test_weighted_score_with_partial_answers():
    s = score(SECTIONS, {"0.0": "yes", "0.1": "partly", "1.0": "yes"})
    assert s.percent == round((2 + 1.5 + 5) / 10 * 100, 1) == 85.0
    assert s.critical_failed == []


def test_na_leaves_the_denominator():
    assert score(SECTIONS, {"0.0": "no", "0.1": "na", "1.0": "yes"}).percent == round(5 / 7 * 100, 1)


def test_a_failed_critical_item_makes_the_score_zero():
    s = score(SECTIONS, {"0.0": "yes", "0.1": "yes", "1.0": "no"})
    assert s.percent == 0.0 and s.critical_failed == ["1.0"] and s.earned == 5.0


def test_all_na_is_no_data_not_zero():
    only_na = [{"title": "A", "items": [{"text": "x", "weight": 1, "na_allowed": True}]}]
    assert score(only_na, {"0.0": "na"}).percent is None


def test_answers_that_do_not_fit_are_refused_with_every_problem():
    with pytest.raises(AnswersRefused) as exc:
        score(SECTIONS, {"0.0": "na", "1.0": "maybe", "9.9": "yes"})
    assert exc.value.problems == [("0.0", "scoring.na_not_allowed"), ("0.1", "scoring.unanswered"),
                                  ("1.0", "scoring.unanswered"), ("9.9", "scoring.unknown_item")]


@pytest.mark.parametrize("key", sorted(DEFAULTS))
def test_every_default_checklist_scores_100_when_all_yes(key):
    sections = DEFAULTS[key][1]
    assert score(sections, {k: "yes" for k, _ in items(sections)}).percent == 100.0


def test_default_checklists_get_stable_item_ids():
    from b24app.qa.checklists import with_item_ids

    sections = with_item_ids(DEFAULTS["sales"][1])
    keys = [k for k, _ in items(sections)]
    assert keys == [f"i{n}" for n in range(1, len(keys) + 1)]
    assert "id" not in DEFAULTS["sales"][1][0]["items"][0]  # the template itself is untouched
