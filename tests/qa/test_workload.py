"""Reviewer workload over the installed sandbox: the queue, load-aware assignment, the weekly quota sample and
moving an absent reviewer's cards, with the CRM cards read back from the sandbox over REST."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import requests
from sqlalchemy import select

from b24app.calls.models import Call
from b24app.extensions import db
from b24app.models_base import utcnow
from b24app.portals import roles
from b24app.portals.models import Portal, PortalUser
from b24app.qa import clock, history, workload
from b24app.qa.checklists import current_version, ensure_defaults
from b24app.qa.models import QaEvent, QaScore, QaSetup
from b24app.qa.workload import QaAssignment

from ..calls.test_intake import add_stat_row, callend, fire
from ..platform.helpers import frame_token_from, open_placement

MANAGER, MANAGER2 = 3, 4
ADMIN = 1


def _rest(sandbox, method, params=None):
    r = requests.post(f"{sandbox.webhook_url}{method}", json=params or {}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["result"]


def _pid(live_app, sandbox) -> int:
    with live_app.ctx():
        return db.session.scalar(select(Portal.id).where(Portal.member_id == sandbox.member_id))


def _setup(live_app, pid) -> QaSetup:
    with live_app.ctx():
        s = db.session.scalar(select(QaSetup).where(QaSetup.portal_id == pid))
        db.session.expunge(s)
        return s


def _grant(live_app, pid, *users):
    with live_app.ctx():
        for u in users:
            roles.grant(pid, u, "qa", ADMIN)


def _card(sandbox, live_app, manager=MANAGER, start=None, talk=95, phone="+79990001122") -> int:
    """A finished call of `manager` (started at `start`, an aware datetime) and the QA card the app made for it."""
    fields = {"CALL_TYPE": "1", "CALL_DURATION": str(talk), "CALL_FAILED_CODE": "200",
              "PORTAL_USER_ID": str(manager), "PHONE_NUMBER": phone}
    if start is not None:
        fields["CALL_START_DATE"] = start.isoformat(timespec="seconds")
    row = add_stat_row(sandbox, **fields)
    fire(sandbox, "ONVOXIMPLANTCALLEND", callend(row))
    pid = _pid(live_app, sandbox)  # two sandboxes may make the same CALL_ID
    with live_app.ctx():
        item = db.session.scalar(select(Call.qa_item_id).where(Call.portal_id == pid, Call.call_id == row["CALL_ID"]))
    assert item and item > 0, "the call got no QA card"
    return int(item)


def _assignment(live_app, pid, item) -> QaAssignment:
    with live_app.ctx():
        a = db.session.scalar(select(QaAssignment).where(QaAssignment.portal_id == pid,
                                                         QaAssignment.qa_item_id == item))
        db.session.expunge(a)
        return a


def _crm_item(sandbox, setup, item) -> dict:
    return _rest(sandbox, "crm.item.get", {"entityTypeId": setup.entity_type_id, "id": item,
                                           "useOriginalUfNames": "Y"})["item"]


def _score(live_app, pid, item, reviewer, status="submitted"):
    """A real score row as the scoring form leaves it (submitted, unscorable or a draft)."""
    with live_app.ctx():
        cl = next(iter(ensure_defaults(pid).values()))
        call = db.session.scalar(select(Call).where(Call.portal_id == pid, Call.qa_item_id == item))
        db.session.add(QaScore(portal_id=pid, qa_item_id=item, call_id=call.call_id, manager_id=call.portal_user_id,
                               reviewer_id=reviewer, checklist_id=cl.id, version_id=current_version(cl).id,
                               status=status, percent=80.0 if status == "submitted" else None,
                               submitted_at=utcnow() if status != "draft" else None))
        db.session.commit()


def _set_active(live_app, pid, user_id, active: bool):
    with live_app.ctx():
        u = db.session.scalar(select(PortalUser).where(PortalUser.portal_id == pid, PortalUser.user_id == user_id))
        u.active = active
        db.session.commit()


def _queue_items(html: str) -> list[int]:
    import re

    return [int(x) for x in re.findall(r'data-testid="queue-row" data-item="(\d+)"', html)]


def test_cards_go_to_the_reviewer_with_the_fewest_open_cards_skipping_absent_ones(installed, live_app):
    pid = _pid(live_app, installed)
    setup = _setup(live_app, pid)
    _grant(live_app, pid, 5, 6, 7)
    first = [_card(installed, live_app) for _ in range(3)]
    owners = {i: _assignment(live_app, pid, i).reviewer_id for i in first}
    assert sorted(owners.values()) == [5, 6, 7]  # equal loads: round the reviewers in turn
    for item, rid in owners.items():  # the CRM card names its reviewer
        crm = _crm_item(installed, setup, item)
        assert str(crm["assignedById"]) == str(rid) and str(crm[setup.fields["reviewer"]]) == str(rid)

    done = next(i for i, r in owners.items() if r == 6)
    _score(live_app, pid, done, 6)  # 6 has nothing open now: the next card is his, whatever the turn
    nxt = _card(installed, live_app)
    assert _assignment(live_app, pid, nxt).reviewer_id == 6

    _set_active(live_app, pid, 5, False)  # 5 is dismissed: never chosen again
    later = [_assignment(live_app, pid, _card(installed, live_app)).reviewer_id for _ in range(3)]
    assert 5 not in later and sorted(later) in ([6, 6, 7], [6, 7, 7])
    # A reviewer never gets his own call, whatever the loads
    with live_app.ctx():
        lighter = min((6, 7), key=lambda r: workload.open_counts(pid).get(r, 0))
    own = _card(installed, live_app, manager=lighter)
    assert _assignment(live_app, pid, own).reviewer_id == ({6, 7} - {lighter}).pop()


def test_the_queue_lists_the_reviewers_open_cards_oldest_first_and_nobody_elses(installed, live_app,
                                                                                 make_sandbox):
    pid = _pid(live_app, installed)
    _grant(live_app, pid, 5, 6)
    now = utcnow()
    # Assignments alternate 5, 6, 5, 6 … by load; the calls are made newest first.
    items = [_card(installed, live_app, start=now - timedelta(hours=h), phone=f"+7999000{h:04d}")
             for h in (1, 5, 2, 7, 3, 9)]
    mine = [i for i in items if _assignment(live_app, pid, i).reviewer_id == 5]
    theirs = [i for i in items if i not in mine]
    assert len(mine) == 3 and len(theirs) == 3
    scored, drafted = mine[0], mine[1]
    _score(live_app, pid, scored, 5)
    _score(live_app, pid, drafted, 5, status="draft")
    with live_app.ctx():
        ordered = [c.qa_item_id for c in db.session.scalars(select(Call).where(
            Call.portal_id == pid, Call.qa_item_id.in_(mine)).order_by(Call.call_start_date))]
    want = [i for i in ordered if i != scored]

    page = open_placement(installed, live_app, "/b24/app", user_id=5)
    assert page.status_code == 200
    html = page.text
    assert "Мои звонки на оценку" in html
    assert _queue_items(html) == want  # oldest call first, the scored card gone, 6's cards absent
    assert html.count('data-testid="queue-draft"') == 1
    assert 'data-testid="queue-open" data-n="2"' in html and 'data-testid="queue-done-week" data-n="1"' in html
    etid = _setup(live_app, pid).entity_type_id
    assert f'data-open-path="/crm/type/{etid}/details/{want[0]}/"' in html
    assert "queue-switch" not in html and "queue-reassign" not in html  # a reviewer sees only his own queue

    # A manager without the role sees no queue
    assert 'data-testid="queue"' not in open_placement(installed, live_app, "/b24/app", user_id=MANAGER).text

    # The reviewer may not open another's queue; an admin may, and a made-up reviewer is refused in words
    ft5 = frame_token_from(html)
    r = requests.get(f"{live_app.url}/b24/qa/queue", params={"ft": ft5, "reviewer": "6"}, timeout=30)
    assert r.status_code == 403
    ft_admin = frame_token_from(open_placement(installed, live_app, "/b24/app", user_id=ADMIN).text)
    r = requests.get(f"{live_app.url}/b24/qa/queue", params={"ft": ft_admin, "reviewer": "6"}, timeout=30)
    assert r.status_code == 200 and sorted(_queue_items(r.text)) == sorted(theirs)
    assert 'data-testid="queue-switch"' in r.text and 'data-testid="queue-reassign"' in r.text
    for bad in ("77", "x", "-1", "9" * 40):
        r = requests.get(f"{live_app.url}/b24/qa/queue", params={"ft": ft_admin, "reviewer": bad}, timeout=30)
        assert r.status_code == 400 and "Выберите контролёра из списка" in r.text

    # Another portal's reviewer 5 has his own queue: none of this portal's cards
    other = make_sandbox(install=True, seed=2, calls_days=3)
    opid = _pid(live_app, other)
    _grant(live_app, opid, 5)
    theirs_b = _card(other, live_app)
    html_b = open_placement(other, live_app, "/b24/app", user_id=5).text
    assert _queue_items(html_b) == [theirs_b]
    assert _queue_items(open_placement(installed, live_app, "/b24/app", user_id=5).text) == want


def _last_week(live_app, pid, days_in: float) -> datetime:
    with live_app.ctx():
        tz = clock.portal_tz(pid)
        start, _end = workload.week_bounds(workload.iso_week(utcnow() - timedelta(days=7), tz), tz)
    return start + timedelta(days=days_in)


def test_the_weekly_quota_keeps_a_random_sample_of_exactly_quota_per_manager_the_same_on_rerun(installed, live_app):
    pid = _pid(live_app, installed)
    setup = _setup(live_app, pid)
    _grant(live_app, pid, 5, 6)
    with live_app.ctx():
        history.settings_for(pid).weekly_quota = 2
        db.session.commit()
    m1 = [_card(installed, live_app, MANAGER, _last_week(live_app, pid, 0.4 + i)) for i in range(5)]
    m2 = [_card(installed, live_app, MANAGER2, _last_week(live_app, pid, 1.5))]
    now_card = _card(installed, live_app, MANAGER, utcnow() - timedelta(minutes=5))
    every = [*m1, *m2, now_card]
    # Before the sample: no reviewer, in nobody's queue
    for item in every:
        a = _assignment(live_app, pid, item)
        assert (a.reason, a.reviewer_id) == ("pending", None)
        assert not str(_crm_item(installed, setup, item).get(setup.fields["reviewer"]) or "").strip("0")
    with live_app.ctx():
        assert workload.open_counts(pid) == {}
        res = workload.sample(db.session.get(Portal, pid))
        assert history.settings_for(pid).quota_week == workload.iso_week(utcnow(), clock.portal_tz(pid))
    assert res.kept == 3 and res.left_out == 3

    def decided():
        return {i: _assignment(live_app, pid, i) for i in every}

    first = decided()
    kept1 = sorted(i for i in m1 if first[i].reason == "sampled")
    assert len(kept1) == 2  # exactly the quota for the manager with more calls
    assert first[m2[0]].reason == "sampled"  # fewer calls than the quota: all kept
    assert first[now_card].reason == "pending"  # this week's calls wait for next week's sample
    for i in m1:
        crm = _crm_item(installed, setup, i)
        if i in kept1:
            assert first[i].reviewer_id in (5, 6) and str(crm["assignedById"]) == str(first[i].reviewer_id)
            assert crm["stageId"] == setup.stages["review"]
        else:
            assert first[i].reviewer_id is None and crm["stageId"] == setup.stages["skipped"]
    with live_app.ctx():
        assert sum(workload.open_counts(pid).values()) == 3

    # Running it again changes nothing …
    with live_app.ctx():
        again = workload.sample(db.session.get(Portal, pid))
    assert (again.kept, again.left_out) == (0, 0)
    assert {i: (a.reason, a.reviewer_id) for i, a in decided().items()} == {
        i: (a.reason, a.reviewer_id) for i, a in first.items()}
    # … and deciding the same week from scratch picks the same calls
    with live_app.ctx():
        db.session.query(QaAssignment).filter(QaAssignment.portal_id == pid,
                                              QaAssignment.qa_item_id.in_(m1)).update(
            {"reason": "pending", "reviewer_id": None}, synchronize_session=False)
        db.session.commit()
        workload.sample(db.session.get(Portal, pid))
    assert sorted(i for i in m1 if _assignment(live_app, pid, i).reason == "sampled") == kept1

    # The order is fixed by (portal, week, manager), not by the order the cards come in
    assert workload._order("m", "2026-W10", 3, [5, 1, 4, 2, 3]) == workload._order("m", "2026-W10", 3, [1, 2, 3, 4, 5])
    assert workload._order("m", "2026-W10", 3, list(range(30))) != workload._order("m", "2026-W11", 3, list(range(30)))


def test_a_card_already_in_a_queue_or_scored_counts_toward_the_quota(installed, live_app):
    pid = _pid(live_app, installed)
    _grant(live_app, pid, 5)
    live = _card(installed, live_app, MANAGER, _last_week(live_app, pid, 0.5))  # made before the quota was on
    with live_app.ctx():
        history.settings_for(pid).weekly_quota = 2
        db.session.commit()
    rest = [_card(installed, live_app, MANAGER, _last_week(live_app, pid, 1 + i)) for i in range(4)]
    _score(live_app, pid, rest[0], 5, status="draft")  # opened from the CRM list before the sample
    with live_app.ctx():
        workload.sample(db.session.get(Portal, pid))
    reasons = {i: _assignment(live_app, pid, i).reason for i in [live, *rest]}
    assert reasons[live] == "assigned" and reasons[rest[0]] == "pending"  # untouched
    assert sorted(reasons[i] for i in rest[1:]) == ["not_sampled"] * 3


def test_the_quota_switched_off_releases_the_waiting_cards(installed, live_app):
    pid = _pid(live_app, installed)
    _grant(live_app, pid, 5, 6)
    with live_app.ctx():
        history.settings_for(pid).weekly_quota = 3
        db.session.commit()
    items = [_card(installed, live_app) for _ in range(2)]
    with live_app.ctx():
        history.settings_for(pid).weekly_quota = 0
        db.session.commit()
        out = workload.run_for_portal.call_local(pid)
    assert out["sample"]["released"] == 2
    assert sorted(_assignment(live_app, pid, i).reviewer_id for i in items) == [5, 6]


def test_an_inactive_reviewers_open_cards_move_to_the_others_and_the_crm_card_follows(installed, live_app):
    pid = _pid(live_app, installed)
    setup = _setup(live_app, pid)
    gone = 9  # dismissed in the portal (ACTIVE N in user.get); our copy of the directory does not know it yet
    _set_active(live_app, pid, gone, True)
    _grant(live_app, pid, 5, 6, gone)
    items = [_card(installed, live_app) for _ in range(9)]
    his = [i for i in items if _assignment(live_app, pid, i).reviewer_id == gone]
    assert len(his) == 3
    _score(live_app, pid, his[0], 6, status="draft")  # 6 is scoring one of them: it stays
    _score(live_app, pid, his[1], gone, status="draft")  # his own unfinished draft moves with the card
    with live_app.ctx():
        out = workload.run_for_portal.call_local(pid)
        assert db.session.scalar(select(PortalUser.active).where(PortalUser.portal_id == pid,
                                                                 PortalUser.user_id == gone)) is False
    assert out["reassigned"] == {gone: 2}
    assert _assignment(live_app, pid, his[0]).reviewer_id == gone
    for item in his[1:]:
        a = _assignment(live_app, pid, item)
        assert a.reason == "reassigned" and a.reviewer_id in (5, 6)
        crm = _crm_item(installed, setup, item)
        assert str(crm["assignedById"]) == str(a.reviewer_id) == str(crm[setup.fields["reviewer"]])
        with live_app.ctx():
            [ev] = db.session.scalars(select(QaEvent).where(QaEvent.portal_id == pid, QaEvent.qa_item_id == item))
            assert ev.kind == "reassign" and ev.actor_id is None and "Сергей Волков" in ev.text
    with live_app.ctx():
        loads = workload.open_counts(pid)
        assert loads[5] + loads[6] == 8 and abs(loads[5] - loads[6]) <= 1  # by load
        assert workload.run_for_portal.call_local(pid)["reassigned"] == {gone: 0}  # nothing more to move


def test_an_admin_moves_a_reviewers_cards_with_the_button(installed, live_app):
    pid = _pid(live_app, installed)
    setup = _setup(live_app, pid)
    _grant(live_app, pid, 5)
    items = [_card(installed, live_app) for _ in range(2)]
    ft_admin = frame_token_from(open_placement(installed, live_app, "/b24/app", user_id=ADMIN).text)
    url = f"{live_app.url}/b24/qa/queue/reassign"
    r = requests.post(url, data={"frame_token": ft_admin, "reviewer_id": "5"}, timeout=30)
    assert r.status_code == 409 and "Передать карточки некому" in r.text  # nobody else on hand

    _grant(live_app, pid, 6)
    ft5 = frame_token_from(open_placement(installed, live_app, "/b24/app", user_id=5).text)
    assert requests.post(url, data={"frame_token": ft5, "reviewer_id": "5"}, timeout=30).status_code == 403
    for bad in ("", "x", "9" * 40):
        r = requests.post(url, data={"frame_token": ft_admin, "reviewer_id": bad}, timeout=30)
        assert r.status_code == 400 and "Выберите контролёра из списка" in r.text
    r = requests.post(url, data={"frame_token": ft_admin, "reviewer_id": "77"}, timeout=30)
    assert r.status_code == 404
    assert all(_assignment(live_app, pid, i).reviewer_id == 5 for i in items)  # refusals changed nothing

    r = requests.post(url, data={"frame_token": ft_admin, "reviewer_id": "5"}, timeout=30, allow_redirects=False)
    assert r.status_code == 303
    r = requests.get(f"{live_app.url}{r.headers['Location']}" if r.headers["Location"].startswith("/")
                     else r.headers["Location"], timeout=30)
    assert r.status_code == 200 and "Открытые карточки переданы другим контролёрам" in r.text
    for item in items:
        assert _assignment(live_app, pid, item).reviewer_id == 6
        assert str(_crm_item(installed, setup, item)["assignedById"]) == "6"
        with live_app.ctx():
            ev = db.session.scalar(select(QaEvent).where(QaEvent.portal_id == pid, QaEvent.qa_item_id == item))
            assert ev.kind == "reassign" and ev.actor_id == ADMIN


@pytest.mark.parametrize("when,week", [("2026-12-28T00:30:00+03:00", "2026-W53"),
                                       ("2027-01-03T23:59:00+03:00", "2026-W53"),
                                       ("2027-01-04T00:00:00+03:00", "2027-W01")])
def test_the_iso_week_is_the_portals(when, week):
    tz = timezone(timedelta(hours=3))
    assert workload.iso_week(datetime.fromisoformat(when), tz) == week
    start, end = workload.week_bounds(week, tz)
    assert start <= datetime.fromisoformat(when) < end and start.weekday() == 0


def test_pick_prefers_the_fewest_open_cards_then_the_turn():
    assert workload.pick([5, 6, 7], {5: 2, 6: 1, 7: 1}, 0) == 6
    assert workload.pick([5, 6, 7], {5: 2, 6: 1, 7: 1}, 2) == 7
    assert [workload.pick([5, 6, 7], {}, s) for s in range(4)] == [5, 6, 7, 5]
