"""Checklist versions and scales: a used version is frozen, items keep their identity, bad forms are refused.

On the real database of the run (SQLite, or PostgreSQL in the second pass)."""

from __future__ import annotations

import copy

import pytest

from b24app.extensions import db
from b24app.messages import message
from b24app.portals.models import Portal
from b24app.qa import checklists as C
from b24app.qa.models import ChecklistVersion
from b24app.qa.scoring import AnswersRefused, items, score

SALES = C.DEFAULTS["sales"][1]


@pytest.fixture
def portal_id(live_app):
    with live_app.ctx():
        p = Portal(member_id="cl-test", domain="cl.example", protocol=1, client_endpoint="", server_endpoint="")
        db.session.add(p)
        db.session.commit()
        pid = p.id
    with live_app.app.test_request_context():  # messages are looked up in the request's language
        yield pid
        db.session.rollback()


def _answers(sections, value="yes") -> dict:
    return {key: value for key, _ in items(sections)}


def test_defaults_are_version_one_with_stable_ids(portal_id):
    made = C.ensure_defaults(portal_id)
    sales = made["sales"]
    assert sales.version == 1 and [v.number for v in C.versions(portal_id, sales.id)] == [1]
    ids = [key for key, _ in items(sales.sections)]
    assert ids == [f"i{n}" for n in range(1, len(ids) + 1)] and sales.next_item == len(ids) + 1
    assert C.ensure_defaults(portal_id)["sales"].id == sales.id  # once


def test_an_unused_version_is_edited_in_place_a_used_one_is_frozen(portal_id):
    cl = C.create(portal_id, "Продажа", SALES, user_id=1)
    v1 = C.current_version(cl)
    old_answers = _answers(cl.sections)
    old_score = score(v1.sections, old_answers).percent

    edited = copy.deepcopy(cl.sections)
    edited[0]["items"][0]["weight"] = 5
    C.save(portal_id, cl.id, "Продажа", edited, user_id=1)
    assert cl.version == 1 and C.current_version(cl).sections[0]["items"][0]["weight"] == 5  # unused: in place

    C.mark_used(v1)
    edited = copy.deepcopy(cl.sections)
    first_id = edited[0]["items"][0]["id"]
    edited[0]["items"][0]["text"] = "Поздоровался по стандарту"   # the same item, reworded
    del edited[1]["items"][1]                                        # an item removed
    edited[1]["items"].append({"text": "Назвал цену", "weight": 2, "scale": "points", "max_points": 5})
    C.save(portal_id, cl.id, "Продажа", edited, user_id=2)
    assert cl.version == 2
    v1_again = db.session.get(ChecklistVersion, v1.id)
    assert score(v1_again.sections, old_answers).percent == old_score  # the old score still recomputes
    v2 = C.current_version(cl)
    v2_ids = [k for k, _ in items(v2.sections)]
    assert v2_ids[0] == first_id                        # comparable item by item across versions
    added = v2.sections[1]["items"][-1]
    assert added["text"] == "Назвал цену" and added["id"] == f"i{len(items(v1.sections)) + 1}"  # never a reused id
    assert len(v2_ids) == len(items(v1.sections))
    assert cl.next_item == len(items(v1.sections)) + 2


def test_saving_nothing_changed_makes_no_version(portal_id):
    cl = C.create(portal_id, "Общий", C.DEFAULTS["general"][1], user_id=1)
    C.mark_used(C.current_version(cl))
    C.save(portal_id, cl.id, "Общий", copy.deepcopy(cl.sections), user_id=1)
    assert cl.version == 1


def test_a_stale_editor_is_refused(portal_id):
    cl = C.create(portal_id, "Общий", C.DEFAULTS["general"][1], user_id=1)
    C.mark_used(C.current_version(cl))
    changed = copy.deepcopy(cl.sections)
    changed[0]["title"] = "Другое"
    C.save(portal_id, cl.id, "Общий", changed, user_id=1, expected_version=1)
    with pytest.raises(C.ChecklistRefused) as exc:
        C.save(portal_id, cl.id, "Общий", changed, user_id=2, expected_version=1)
    assert exc.value.message_key == "checklist.stale" and "другой администратор" in message("checklist.stale")


@pytest.mark.parametrize("mutate, key", [
    (lambda s: s.clear(), "checklist.no_sections"),
    (lambda s: s[0].update(title=""), "checklist.bad_title"),
    (lambda s: s[0].update(title={"x": 1}), "checklist.bad_title"),
    (lambda s: s[0].update(items=[]), "checklist.no_items"),
    (lambda s: s[0]["items"][0].update(text=""), "checklist.bad_text"),
    (lambda s: s[0]["items"][0].update(weight=-1), "checklist.bad_weight"),
    (lambda s: s[0]["items"][0].update(weight=True), "checklist.bad_weight"),
    (lambda s: s[0]["items"][0].update(scale="stars"), "checklist.bad_scale"),
    (lambda s: s[0]["items"][0].update(scale="points", max_points=0), "checklist.bad_points"),
    (lambda s: s[0]["items"][0].update(critical="maybe"), "checklist.bad_flag"),
    (lambda s: s[0]["items"][0].update(id="i999"), "checklist.bad_item_id"),           # not this checklist's
    (lambda s: s[0]["items"][1].update(id=s[0]["items"][0]["id"]), "checklist.bad_item_id"),  # twice
])
def test_a_bad_checklist_is_refused_and_nothing_changes(portal_id, mutate, key):
    cl = C.create(portal_id, "Продажа", SALES, user_id=1)
    before = copy.deepcopy(cl.sections)
    bad = copy.deepcopy(cl.sections)
    mutate(bad)
    with pytest.raises(C.ChecklistRefused) as exc:
        C.save(portal_id, cl.id, "Продажа", bad, user_id=1)
    assert exc.value.message_key == key and message(key) != key
    assert cl.sections == before and cl.version == 1 and C.current_version(cl).sections == before


def test_another_portals_checklist_cannot_be_saved(portal_id, live_app):
    cl = C.create(portal_id, "Продажа", SALES, user_id=1)
    other = Portal(member_id="cl-other", domain="other.example", protocol=1, client_endpoint="", server_endpoint="")
    db.session.add(other)
    db.session.flush()
    with pytest.raises(C.ChecklistRefused) as exc:
        C.save(other.id, cl.id, "Взлом", cl.sections, user_id=1)
    assert exc.value.message_key == "checklist.not_found"


def test_export_import_and_duplicate_make_new_checklists(portal_id):
    cl = C.create(portal_id, "Претензия", C.DEFAULTS["complaint"][1], user_id=1)
    data = C.export_json(cl)
    assert data["format"] == C.EXPORT_FORMAT and all("id" not in it for s in data["sections"] for it in s["items"])
    imported = C.import_json(portal_id, data, user_id=1)
    copied = C.duplicate(portal_id, cl.id, "Претензия (копия)", user_id=1)
    for new in (imported, copied):
        assert new.id != cl.id and new.version == 1
        assert [{k: v for k, v in it.items() if k != "id"} for _, it in items(new.sections)] == \
               [{k: v for k, v in it.items() if k != "id"} for _, it in items(cl.sections)]
    with pytest.raises(C.ChecklistRefused):
        C.import_json(portal_id, {"format": "other", "sections": []}, user_id=1)
    C.set_archived(portal_id, cl.id, True)
    assert cl.id not in {c.id for c in C.checklists(portal_id)}
    assert cl.id in {c.id for c in C.checklists(portal_id, include_archived=True)}


SCALED = [{"title": "A", "items": [
    {"id": "a", "text": "yes/no", "weight": 2, "scale": "yes_no"},
    {"id": "b", "text": "points", "weight": 4, "scale": "points", "max_points": 4},
    {"id": "c", "text": "critical points", "weight": 2, "scale": "points", "max_points": 3, "critical": True},
    {"id": "d", "text": "optional", "weight": 2, "scale": "yes_partly_no", "na_allowed": True},
]}]


@pytest.mark.parametrize("answers, percent, critical", [
    ({"a": "yes", "b": 4, "c": 3, "d": "yes"}, 100.0, []),
    ({"a": "no", "b": 2, "c": 3, "d": "partly"}, round((0 + 2 + 2 + 1) / 10 * 100, 1), []),
    ({"a": "yes", "b": "3", "c": 1, "d": "na"}, round((2 + 3 + 2 / 3) / 8 * 100, 1), []),
    ({"a": "yes", "b": 4, "c": 0, "d": "yes"}, 0.0, ["c"]),   # 0 points on a critical item fails it
])
def test_scores_on_every_scale(answers, percent, critical):
    s = score(SCALED, answers)
    assert s.percent == percent and s.critical_failed == critical


@pytest.mark.parametrize("answers, problem", [
    ({"a": "partly", "b": 4, "c": 3, "d": "yes"}, ("a", "scoring.out_of_scale")),  # no «частично» on да/нет
    ({"a": "yes", "b": 5, "c": 3, "d": "yes"}, ("b", "scoring.out_of_scale")),
    ({"a": "yes", "b": -1, "c": 3, "d": "yes"}, ("b", "scoring.out_of_scale")),
    ({"a": "yes", "b": 2.5, "c": 3, "d": "yes"}, ("b", "scoring.unanswered")),
    ({"a": "yes", "b": True, "c": 3, "d": "yes"}, ("b", "scoring.unanswered")),
    ({"a": "yes", "b": 4, "c": "na", "d": "yes"}, ("c", "scoring.na_not_allowed")),
])
def test_answers_outside_the_scale_are_refused(answers, problem):
    with pytest.raises(AnswersRefused) as exc:
        score(SCALED, answers)
    assert exc.value.problems == [problem] and message(problem[1]) != problem[1]
