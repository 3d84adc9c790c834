"""Quality figures over real calls of the installed sandbox portal (its imported history, and a call made in
the telephony simulator and scored twice through the reviewer's form): what counts as a scored call, mean
score and pass rate per manager, item failure rates, the meeting agenda, cards by stage, calibration."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from b24app.analytics import qa_figures
from b24app.analytics.cube import Query
from b24app.analytics.recount import portal_tz
from b24app.calls.models import Call
from b24app.extensions import db
from b24app.models_base import utcnow
from b24app.portals.models import Portal
from b24app.qa import scoring
from b24app.qa.checklists import current_version
from b24app.qa.models import Checklist, QaCalibration, QaScore, QaSetup
from b24app.qa.workload import NOT_SAMPLED, QaAssignment
from b24app.topics import service as topics
from b24app.topics.models import Topic

from ..platform.helpers import open_placement
from ..qa.review_helpers import Form, all_yes, make_card

ITEM = 900_000  # QA card ids of the hand-made scores (the sandbox's own cards count from 1)


def _yes(sections) -> dict:
    return {k: "yes" for k, _it in scoring.items(sections)}


class World:
    """Scores made directly on imported calls of managers 3 and 4 (Продажа: items i1…i8, i7 critical)."""

    def __init__(self, live_app, sandbox):
        with live_app.ctx():
            self.pid = db.session.scalar(select(Portal.id).where(Portal.member_id == sandbox.member_id))
            self.tz = portal_tz(self.pid)
            self.today = utcnow().astimezone(self.tz).date()
            cl = db.session.scalar(select(Checklist).where(Checklist.portal_id == self.pid,
                                                           Checklist.name == "Продажа"))
            v = current_version(cl)
            self.checklist_id, self.version_id, self.sections = cl.id, v.id, v.sections
            sections = v.sections
            since = utcnow() - timedelta(days=20)
            calls = {u: db.session.scalars(select(Call).where(
                Call.portal_id == self.pid, Call.portal_user_id == u, Call.call_start_date >= since,
                Call.call_start_date < utcnow() - timedelta(days=1)).order_by(Call.call_start_date).limit(4)).all()
                for u in (3, 4)}
            old = db.session.scalar(select(Call).where(
                Call.portal_id == self.pid, Call.portal_user_id == 3,
                Call.call_start_date < utcnow() - timedelta(days=40)).limit(1))
            assert len(calls[3]) == 4 and len(calls[4]) == 4 and old is not None
            topic = {t.name: t.id for t in db.session.scalars(select(Topic).where(Topic.portal_id == self.pid))}
            self.topic_new = topic["Новый клиент"]
            a, b, e, f = calls[3]
            c, d, g, _h = calls[4]
            topics.choose(self.pid, a.call_id, self.topic_new, 3, "card", privileged=True)
            topics.choose(self.pid, c.call_id, self.topic_new, 4, "card", privileged=True)

            yes = _yes(sections)
            b_answers = dict(yes, i3="no", i5="partly")        # 17 − 3 − 1.5 = 12.5 of 17 → 73.5 %
            c_answers = dict(yes, i7="no", i4="na")            # the critical item failed → 0 %
            self.calls = {"a": a, "b": b, "c": c, "d": d, "e": e, "f": f, "g": g, "old": old}
            self.add(a, yes, reviewer=5)
            self.add(b, b_answers, reviewer=5, for_meeting=True, comment="Не выяснил задачу клиента")
            self.add(c, c_answers, reviewer=6, for_meeting=True, comment="Не договорился о следующем шаге")
            self.add(d, dict(yes, i1="no"), status="draft", reviewer=6)
            self.add(e, {}, status="unscorable", reviewer=5)
            self.add(old, yes, reviewer=5, for_meeting=True)   # outside a 30-day period
            f.selection, f.qa_item_id = "short", ITEM + 50      # a short call's card, not scored
            g.selection, g.qa_item_id = "review", ITEM + 51     # left out by the weekly sample
            db.session.add(QaAssignment(portal_id=self.pid, qa_item_id=ITEM + 51, call_id=g.call_id, reviewer_id=None,
                                        reason=NOT_SAMPLED))
            self.percent = {k: scoring.score(sections, ans).percent for k, ans in
                            (("a", yes), ("b", b_answers), ("c", c_answers))}
            # A calibration round on call a: two reviewers, far apart; never a real score.
            cal = QaCalibration(portal_id=self.pid, qa_item_id=a.qa_item_id, call_id=a.call_id,
                                checklist_id=cl.id, version_id=v.id, reviewers=[5, 6], created_by=1)
            db.session.add(cal)
            db.session.flush()
            self.cal_id = cal.id
            for reviewer, answers in ((5, yes), (6, dict(yes, i1="no", i5="no"))):
                self.add(a, answers, reviewer=reviewer, calibration_id=cal.id)
            self.cal_percents = (100.0, scoring.score(sections, dict(yes, i1="no", i5="no")).percent)
            db.session.commit()
            self.ids = {k: c.id for k, c in self.calls.items()}
            self.starts = {k: c.call_start_date for k, c in self.calls.items()}
            self.types = {k: c.call_type for k, c in self.calls.items()}

    def add(self, call, answers, *, reviewer, status="submitted", for_meeting=False, comment="", calibration_id=0):
        if call.qa_item_id is None:
            call.qa_item_id = ITEM + call.id
            call.selection = "review"
        result = scoring.score(self.sections, answers) if status == "submitted" else None
        db.session.add(QaScore(
            portal_id=self.pid, qa_item_id=call.qa_item_id, call_id=call.call_id, manager_id=call.portal_user_id,
            reviewer_id=reviewer, calibration_id=calibration_id, checklist_id=self.checklist_id,
            version_id=self.version_id, status=status, answers=answers, comment=comment, for_meeting=for_meeting,
            percent=result.percent if result else None, critical_failed=result.critical_failed if result else [],
            submitted_at=utcnow() if status != "draft" else None))
        db.session.flush()

    def query(self, **kw) -> Query:
        return Query(self.pid, self.today - timedelta(days=29), self.today, **kw)


@pytest.fixture
def world(installed, live_app):
    return World(live_app, installed)


def test_summary_counts_submitted_real_scores_of_the_period(world, live_app):
    p = world.percent
    with live_app.ctx():
        s = qa_figures.summary(world.query())
        # a, b and c; not the draft, the unscorable card, the calibration scores or the 40-day-old score
        assert s.scored == 3
        assert s.mean_score == round((p["a"] + p["b"] + p["c"]) / 3, 1)
        assert (p["a"], p["b"], p["c"]) == (100.0, 73.5, 0.0)
        assert s.pass_rate == pytest.approx(1 / 3)
        wide = Query(world.pid, world.today - timedelta(days=89), world.today)
        assert qa_figures.summary(wide).scored == 4
        # Filters narrow it like the cube: manager, topic, direction of the calls, an empty scope.
        assert qa_figures.summary(world.query(users=frozenset({4}))).scored == 1
        assert qa_figures.summary(world.query(topics=frozenset({world.topic_new}))).scored == 2
        assert qa_figures.summary(world.query(users=frozenset())).scored == 0
        incoming = sum(1 for k in "abc" if world.types[k] in (2, 3, 4))
        assert qa_figures.summary(world.query(directions=frozenset({"incoming"}))).scored == incoming
        assert qa_figures.summary(world.query(directions=frozenset({"outgoing"}))).scored == \
            sum(1 for k in "abc" if world.types[k] == 1)
        nobody = Query(world.pid, world.today, world.today)
        assert qa_figures.summary(nobody) == qa_figures.QaSummary(0, None)


def test_calibration_scores_never_count_and_the_spread_is_shown(world, live_app):
    with live_app.ctx():
        only_a = world.query(users=frozenset({3}), topics=frozenset({world.topic_new}))
        s = qa_figures.summary(only_a)
        assert (s.scored, s.mean_score) == (1, 100.0)
        rounds = qa_figures.calibration(world.query())
        assert [r.id for r in rounds] == [world.cal_id]
        r = rounds[0]
        low, high = sorted(world.cal_percents)
        assert (r.reviewers, r.submitted, r.done) == (2, 2, True)
        assert r.spread == round(high - low, 1) and r.mean == round((low + high) / 2, 1)
        assert r.agreement == pytest.approx((6 / 8), abs=1e-3)  # 6 of the 8 items answered alike
        assert qa_figures.calibration(world.query(users=frozenset({4}))) == []


def test_per_manager_pass_rate_and_critical_failures(world, live_app):
    with live_app.ctx():
        rows = {r.key: r for r in qa_figures.by(world.query(), "manager")}
        assert set(rows) == {3, 4}
        assert (rows[3].scored, rows[3].passed, rows[3].pass_rate) == (2, 1, 0.5)
        assert rows[3].mean_score == round((100 + 73.5) / 2, 1) and rows[3].critical_failed == 0
        assert (rows[4].scored, rows[4].pass_rate, rows[4].mean_score, rows[4].critical_failed) == (1, 0.0, 0.0, 1)
        reviewers = {r.key: r.scored for r in qa_figures.by(world.query(), "reviewer")}
        assert reviewers == {5: 2, 6: 1}
        by_topic = {r.key: r.scored for r in qa_figures.by(world.query(), "topic")}
        assert by_topic == {world.topic_new: 2, 0: 1}
        assert [(r.key, r.scored) for r in qa_figures.by(world.query(), "checklist")] == [(world.checklist_id, 3)]
        assert qa_figures.names(world.pid, "checklist", [world.checklist_id]) == {world.checklist_id: "Продажа"}
        with pytest.raises(ValueError):
            qa_figures.by(world.query(), "department")


def test_item_failure_rate_worst_first(world, live_app):
    with live_app.ctx():
        rows = qa_figures.items(world.query())
        by_key = {r.key: r for r in rows}
        assert len(rows) == 8 and all(r.version_id == world.version_id and r.checklist == "Продажа" for r in rows)
        # i3 «no» on b, i7 «no» on c (critical); i5 «partly» is not a failure; i4 N/A on c leaves it out.
        assert (by_key["i3"].answered, by_key["i3"].failed) == (3, 1)
        assert (by_key["i7"].failed, by_key["i7"].critical) == (1, True)
        assert (by_key["i5"].failed, by_key["i4"].answered) == (0, 2)
        assert by_key["i3"].text == "Задал открытые вопросы о задаче клиента"
        assert [r.key for r in rows[:2]] == ["i3", "i7"] and rows[0].failure_rate == pytest.approx(1 / 3)
        assert all(r.failure_rate == 0 for r in rows[2:])


def test_the_agenda_lists_flagged_calls_of_the_period(world, live_app):
    with live_app.ctx():
        agenda = qa_figures.agenda(world.query())
        assert [a.call_pk for a in agenda] == [world.ids[k] for k in sorted("bc", key=world.starts.get)]
        b = next(a for a in agenda if a.call_pk == world.ids["b"])
        assert (b.manager_id, b.reviewer_id, b.percent, b.comment) == (3, 5, 73.5, "Не выяснил задачу клиента")
        c = next(a for a in agenda if a.call_pk == world.ids["c"])
        assert (c.topic_id, c.critical_failed, c.percent) == (world.topic_new, 1, 0.0)
        assert [a.call_pk for a in qa_figures.agenda(world.query(users=frozenset({3})))] == [world.ids["b"]]


def test_cards_by_stage_from_local_rows(world, live_app):
    with live_app.ctx():
        stages = {s.key: s.count for s in qa_figures.cards_by_stage(world.pid, world.query())}
        # done a b c; skipped: e (unscorable) and g (not sampled); short: f; review: d (a draft)
        assert stages == {"review": 1, "done": 3, "short": 1, "skipped": 2}
        mine = {s.key: s.count for s in qa_figures.cards_by_stage(world.pid, world.query(users=frozenset({4})))}
        assert mine == {"review": 1, "done": 1, "short": 0, "skipped": 1}


def test_a_rescored_card_counts_once_with_its_latest_score(installed, live_app):
    card = make_card(installed, live_app)
    f = Form(installed, live_app, card)
    answers = all_yes(f)
    assert f.post("submit", {"answers": answers}).status_code == 200
    with live_app.ctx():
        today = utcnow().astimezone(portal_tz(card.portal_id)).date()
        q = Query(card.portal_id, today, today)
        assert (qa_figures.summary(q).scored, qa_figures.summary(q).mean_score) == (1, 100.0)
    keys = [k for k, _ in f.items()]
    answers[keys[0]] = "no"            # weight 2 of 17
    r = f.post("submit", {"answers": answers, "for_meeting": True, "comment": "исправлено"})
    assert r.status_code == 200, r.text
    latest = r.json()["percent"]
    assert latest == round(15 / 17 * 100, 1)
    with live_app.ctx():
        s = qa_figures.summary(q)
        assert (s.scored, s.mean_score) == (1, latest)
        assert [(a.percent, a.comment) for a in qa_figures.agenda(q)] == [(latest, "исправлено")]
        assert {s.key: s.count for s in qa_figures.cards_by_stage(card.portal_id, q)}["done"] == 1


def test_a_manager_sees_only_his_own_quality(world, installed, live_app):
    r = open_placement(installed, live_app, "/b24/analytics/quality?format=json", user_id=3,
                       placement="CRM_ANALYTICS_MENU")
    assert r.status_code == 200, r.text[:500]
    data = r.json()
    assert data["summary"]["scored"] == 2
    assert {row["key"] for row in data["groups"]["manager"]} == {3}
    assert [a["call_id"] for a in data["agenda"]] == [world.ids["b"]]
    agenda = data["agenda"][0]
    assert agenda["call_url"].startswith(f"/b24/analytics/calls/{world.ids['b']}?ft=")
    with live_app.ctx():
        etid = db.session.scalar(select(QaSetup.entity_type_id).where(QaSetup.portal_id == world.pid))
    assert agenda["card_path"] == f"/crm/type/{etid}/details/{ITEM + world.ids['b']}/"
    assert (agenda["manager"], agenda["reviewer"], agenda["percent"]) == ("Мария Смирнова", "Ольга Соколова", 73.5)
    assert data["calibration"] == []   # the reviewers' business
    everyone = open_placement(installed, live_app, "/b24/analytics/quality?format=json", user_id=1,
                              placement="CRM_ANALYTICS_MENU").json()
    assert everyone["summary"]["scored"] == 3 and len(everyone["calibration"]) == 1


def _page(installed, live_app, query: str = "", user_id: int = 1):
    return open_placement(installed, live_app, f"/b24/analytics/quality{query}", user_id=user_id,
                          placement="CRM_ANALYTICS_MENU")


def test_the_quality_page_shows_the_tables_the_agenda_and_calibration(world, installed, live_app):
    r = _page(installed, live_app)
    assert r.status_code == 200, r.text[:500]
    html = r.text
    assert 'data-testid="quality-empty"' not in html
    for part in ("quality-by-manager", "quality-by-topic", "quality-by-checklist", "quality-by-reviewer",
                 "quality-items", "quality-agenda", "quality-calibration", "stage-review"):
        assert f'data-testid="{part}"' in html, part
    assert html.count('data-testid="agenda-row"') == 2 and "Не выяснил задачу клиента" in html
    assert html.count('data-testid="calibration-row"') == 1
    assert "Разобрать на планёрке" in html and "analytics_quality.css" in html
    assert 'data-open-path="/crm/type/' in html and "Задал открытые вопросы о задаче клиента" in html
    by_mean = _page(installed, live_app, "?sort=-manager_mean").text
    keys = [k for k in by_mean.split('data-testid="quality-manager-row" data-key="')[1:]]
    assert [k.split('"')[0] for k in keys] == ["3", "4"]
    by_mean_up = _page(installed, live_app, "?sort=manager_mean").text
    keys = [k.split('"')[0] for k in by_mean_up.split('data-testid="quality-manager-row" data-key="')[1:]]
    assert keys == ["4", "3"]
    en = open_placement(installed, live_app, "/b24/analytics/quality", user_id=1, placement="CRM_ANALYTICS_MENU",
                        lang="en").text
    assert "Discuss at the team meeting" in en and "Average score" in en


def test_no_score_in_the_period_explains_how_scoring_works(installed, live_app):
    r = _page(installed, live_app)
    assert r.status_code == 200
    assert 'data-testid="quality-empty"' in r.text and "Контролёр качества открывает карточку" in r.text
    assert 'data-testid="quality-by-manager"' not in r.text and 'data-testid="agenda-row"' not in r.text
    data = _page(installed, live_app, "?format=json").json()
    assert data["summary"] == {"scored": 0, "mean_score": None, "pass_rate": None, "pass_percent": 80.0}


@pytest.mark.parametrize("sort", ["bogus_x", "manager_total", "-reviewer", "department_name"])
def test_a_bad_sort_is_a_russian_400(installed, live_app, sort):
    r = _page(installed, live_app, f"?sort={sort}")
    assert r.status_code == 400 and "Сортировка таблицы качества указана неверно" in r.text
    j = _page(installed, live_app, f"?sort={sort}&format=json")
    assert j.status_code == 400 and "Сортировка" in j.json()["error"]
