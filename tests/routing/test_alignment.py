"""The bulk alignment over HTTP against the sandbox: the dry run writes nothing and counts what the run then
does; the run sets every contact right exactly once, also across two crashes; undo restores every old value;
a digest per manager, once; rules naming categories that are not the portal's take no deals."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import requests
from flask_babel import force_locale
from sqlalchemy import func, select

from b24app.extensions import db
from b24app.models_base import utcnow
from b24app.portals.models import Portal
from b24app.routing import alignment, portal_crm
from b24app.routing.models import AlignmentChange, AlignmentRun, RoutingCandidate

from .conftest import (
    EVENT_BURST_POOL,
    crm_updates,
    expected_owners,
    owners,
    reset_crm_updates,
    rest_calls,
    sandbox_rules,
    seed_crm,
    unbind_contact_events,
)

DEALS, CONTACTS, COMPANIES = 20000, 15000, 2000
pytestmark = pytest.mark.parametrize("live_app", [EVENT_BURST_POOL], indirect=True)


class Crash(BaseException):
    """A worker killed mid-run: not an Exception, so nothing in the job catches it and marks the run."""


def http_requests(sandbox) -> int:
    return int(requests.get(f"{sandbox.url}/_sandbox/stats", timeout=10).json()["http_requests"])


def _counts(run) -> dict[int, tuple[int, int]]:
    return {int(k): (v[0], v[1]) for k, v in run.counts.items()}


def _start(live_app, pid: int, kind: str, **kw):
    with live_app.ctx():
        run = alignment.start(pid, kind, **kw)
        db.session.expunge(run)
        return run


def _run(live_app, run_id: int):
    with live_app.ctx():
        run = db.session.get(AlignmentRun, run_id)
        db.session.expunge(run)
        return run


def _make_stale(live_app, run_id: int) -> int:
    with live_app.ctx():
        run = db.session.get(AlignmentRun, run_id)
        run.beat_at = utcnow() - timedelta(seconds=live_app.app.config.get("JOB_STALE_AFTER", 300) + 5)
        db.session.commit()
        return alignment.resume_stale()


def test_dry_run_then_apply_then_undo_on_20000_deals(installed, live_app, routing_settings):
    seeded = seed_crm(installed, DEALS, CONTACTS, COMPANIES)
    assert unbind_contact_events(installed) >= 1
    assert seeded["deals"][1] - seeded["deals"][0] + 1 == DEALS
    pid = routing_settings(notify=True)
    before = owners(installed)
    want = expected_owners(installed, sandbox_rules(installed))
    changed = {c for c in want if want[c] != before[c]}
    assert len(changed) > 3000  # the seed's owners are random: most contacts in a deal are somebody else's
    reset_crm_updates(installed)

    dry = _start(live_app, pid, "dry")
    assert dry.status == "done" and dry.progress == 100, dry.error
    assert crm_updates(installed) == {"contact": {}, "company": {}}
    assert owners(installed) == before
    assert dry.planned == len(changed)
    with live_app.ctx():
        run = db.session.get(AlignmentRun, dry.id)
        sample = alignment.sample(run, 20)
        assert len(sample) == 20 and all(want[c.entity_id] == c.new_user_id != c.old_user_id for c in sample)
        table = alignment.manager_counts(run)
        assert not alignment.undoable(run)
    # counts over every contact in a deal that takes part: before = as it is, after = as it will be
    considered = sum(m.before for m in table)
    assert considered == sum(m.after for m in table) > len(changed)
    assert [abs(m.after - m.before) for m in table] == sorted((abs(m.after - m.before) for m in table),
                                                               reverse=True)

    notices = rest_calls(installed, "im.notify.system.add")
    requests_before = http_requests(installed)
    began = time.perf_counter()
    applied = _start(live_app, pid, "apply")
    seconds = time.perf_counter() - began
    spent = http_requests(installed) - requests_before
    print(f"\n20 000-deal apply run: {seconds:.1f} s, {applied.applied} contacts updated, {spent} requests")
    assert applied.status == "done", applied.error
    assert _counts(applied) == _counts(dry)
    assert applied.planned == applied.applied == len(changed)
    updates = crm_updates(installed)["contact"]
    assert set(updates) == changed and set(updates.values()) == {1}  # each contact it changed, once
    assert owners(installed) == want
    # one digest per manager who received contacts, not one per contact
    receivers = {want[c] for c in changed}
    assert rest_calls(installed, "im.notify.system.add") - notices == len(receivers)
    # the requests it must make, no more: the deals' contacts (50 deals a request), the responsibles (2 500 a
    # request), the updates (50 a request), one digest per manager, and a few for the deal windows
    with installed.state.crm._lock:
        taking = sum(1 for row in installed.state.crm.entities["DEAL"].values() if row.get("CLOSED") != "Y")
    needed = -(-taking // 50) + -(-considered // 2500) + -(-len(changed) // 50) + len(receivers)
    assert needed <= spent <= needed + 25
    some = sorted(receivers)[0]
    got = sum(1 for c in changed if want[c] == some)
    texts = [m["text"] for m in installed.state.im.messages_for(some) if m.get("tag", "").startswith("cq_routing")]
    assert len(texts) == 1 and f"Вам передано {got} контактов" in texts[0]
    assert f"{installed.domain}/crm/contact/list/" in texts[0]
    with live_app.ctx():
        assert db.session.scalar(select(func.count()).select_from(RoutingCandidate)) == 0  # working state gone
        assert alignment.undoable(db.session.get(AlignmentRun, applied.id))
        assert [r.id for r in alignment.history(pid)] == [applied.id, dry.id]
        assert alignment.latest(pid).id == applied.id

    # a manager takes one contact by hand after the run: undo leaves his choice alone
    by_hand = sorted(changed)[0]
    installed.state.crm.update_entity("CONTACT", by_hand, {"ASSIGNED_BY_ID": "1"})
    reset_crm_updates(installed)
    undo = _start(live_app, pid, "undo", undo_of=applied.id)
    assert undo.status == "done", undo.error
    after_undo = owners(installed)
    assert after_undo[by_hand] == 1
    assert {c: after_undo[c] for c in before if c != by_hand} == {c: before[c] for c in before if c != by_hand}
    updates = crm_updates(installed)["contact"]
    assert set(updates) == changed - {by_hand} and set(updates.values()) == {1}
    with live_app.ctx():
        statuses = dict(db.session.execute(select(AlignmentChange.status, func.count()).where(
            AlignmentChange.run_id == applied.id).group_by(AlignmentChange.status)).all())
        assert statuses == {"reverted": len(changed) - 1, "skipped": 1}
        assert not alignment.undoable(db.session.get(AlignmentRun, applied.id))
        with force_locale("ru"), pytest.raises(ValueError, match="Нечего отменять"):
            alignment.start(pid, "undo", undo_of=applied.id)


def test_a_run_killed_twice_finishes_with_each_contact_set_once(installed, live_app, routing_settings,
                                                                monkeypatch):
    seed_crm(installed, DEALS, CONTACTS, COMPANIES, seed=11)
    unbind_contact_events(installed)
    pid = routing_settings(companies=True)
    before = owners(installed)
    want = expected_owners(installed, sandbox_rules(installed, companies=True))
    want_companies = expected_owners(installed, sandbox_rules(installed, companies=True), entity="company")
    changed = {c for c in want if want[c] != before[c]}
    reset_crm_updates(installed)
    real_contacts_of, real_set = portal_crm.contacts_of, portal_crm.set_responsibles
    calls = {"read": 0, "set": 0}

    def contacts_of_then_die(client, deal_ids):
        calls["read"] += 1
        if calls["read"] == 4:
            raise Crash("the worker was killed while reading deals")
        return real_contacts_of(client, deal_ids)

    monkeypatch.setattr(portal_crm, "contacts_of", contacts_of_then_die)
    with pytest.raises(Crash):
        _start(live_app, pid, "apply")
    with live_app.ctx():
        run = db.session.scalar(select(AlignmentRun).where(AlignmentRun.portal_id == pid))
        run_id, cursor = run.id, run.deal_cursor
        assert run.status == "running" and 0 < cursor and run.deals_read < DEALS
        assert db.session.scalar(select(func.count()).select_from(RoutingCandidate)) > 0
    monkeypatch.setattr(portal_crm, "contacts_of", real_contacts_of)

    def set_then_die(client, entity, changes):
        out = real_set(client, entity, changes)  # the portal took the chunk; the worker dies before marking it
        calls["set"] += 1
        if calls["set"] == 30:
            raise Crash("the worker was killed while writing")
        return out

    monkeypatch.setattr(portal_crm, "set_responsibles", set_then_die)
    with pytest.raises(Crash):
        _make_stale(live_app, run_id)
    middle = _run(live_app, run_id)
    assert middle.status == "running" and middle.attempts == 2 and 0 < middle.applied < len(changed)
    assert middle.deal_cursor > cursor  # it read on from where the first attempt stopped
    monkeypatch.setattr(portal_crm, "set_responsibles", real_set)

    assert _make_stale(live_app, run_id) == 1
    run = _run(live_app, run_id)
    assert run.status == "done" and run.attempts == 3, run.error
    updates = crm_updates(installed)
    assert set(updates["contact"]) == changed and set(updates["contact"].values()) == {1}
    assert owners(installed) == want
    assert owners(installed, "COMPANY") == want_companies
    assert set(updates["company"].values()) <= {1}
    with live_app.ctx():
        assert alignment.resume_stale() == 0  # nothing left to take up


def test_rules_naming_categories_the_portal_does_not_have_take_no_deals(installed, live_app, routing_settings):
    seeded = seed_crm(installed, 300, 200)
    unbind_contact_events(installed)
    assert set(seeded["categories"]) >= {"0", "1", "2"}
    pid = routing_settings(categories=[987654])
    reset_crm_updates(installed)
    run = _start(live_app, pid, "apply")
    assert run.status == "done" and run.planned == 0 and run.counts == {}, run.error
    assert crm_updates(installed)["contact"] == {}
    # one of the portal's categories: only deals of that funnel decide
    cat = int(sorted(k for k in seeded["categories"] if k != "0")[0])
    pid = routing_settings(categories=[cat])
    before = owners(installed)
    want = expected_owners(installed, sandbox_rules(installed, categories=[cat]))
    run = _start(live_app, pid, "apply")
    assert run.status == "done" and run.planned == sum(1 for c in want if want[c] != before[c]) > 0
    assert owners(installed) == want


def test_start_refuses_bad_input_and_a_second_run(installed, live_app, routing_settings):
    pid = routing_settings()
    with live_app.ctx(), force_locale("ru"):
        with pytest.raises(ValueError, match="Неизвестный вид запуска"):
            alignment.start(pid, "wipe")
        with pytest.raises(ValueError, match="Нечего отменять"):
            alignment.start(pid, "undo", undo_of=999)
        other = Portal(member_id="other-portal", domain="other.example", client_endpoint="https://other/rest/")
        db.session.add(other)
        db.session.commit()
        queued = AlignmentRun(portal_id=pid, kind="apply", status="queued")
        db.session.add(queued)
        db.session.commit()
        with pytest.raises(alignment.Busy):
            alignment.start(pid, "dry")
        # another portal's applied run is nothing this portal can undo; nor is a dry run
        theirs = AlignmentRun(portal_id=other.id, kind="apply", status="done")
        db.session.add(theirs)
        db.session.commit()
        db.session.add(AlignmentChange(portal_id=other.id, run_id=theirs.id, entity_id=1, deal_id=1, old_user_id=1,
                                       new_user_id=2, status="done"))
        queued.status = "done"
        db.session.commit()
        with pytest.raises(ValueError, match="Нечего отменять"):
            alignment.start(pid, "undo", undo_of=theirs.id)
        assert db.session.scalar(select(func.count()).select_from(AlignmentRun).where(
            AlignmentRun.portal_id == pid)) == 1


def test_a_retried_run_does_not_send_the_digest_twice_and_speaks_english(installed, live_app, routing_settings):
    seed_crm(installed, 200, 150)
    unbind_contact_events(installed)
    pid = routing_settings(notify=True)
    with live_app.ctx():
        db.session.get(Portal, pid).language = "en"
        db.session.commit()
    run = _start(live_app, pid, "apply")
    assert run.status == "done" and run.applied > 0, run.error
    sent = rest_calls(installed, "im.notify.system.add")
    with live_app.ctx():
        users = set(db.session.scalars(select(AlignmentChange.new_user_id).where(
            AlignmentChange.run_id == run.id, AlignmentChange.status == "done")))
        assert sent == len(users)
        from b24app.routing import digest

        assert digest.send(db.session.get(Portal, pid), run.id) == 0  # a retry finds everyone told
    assert rest_calls(installed, "im.notify.system.add") == sent
    texts = [m["text"] for m in installed.state.im.messages_for(sorted(users)[0])
             if m.get("tag", "").startswith("cq_routing")]
    assert len(texts) == 1 and "contacts" in texts[0] and "Вам" not in texts[0]


def test_an_excluded_winner_hands_his_contacts_to_his_head(installed, live_app, routing_settings):
    seed_crm(installed, 400, 300)
    unbind_contact_events(installed)
    pid = routing_settings()
    with live_app.ctx():
        heads = alignment.heads_of(pid)
    got = owners(installed)
    manager = next(u for u in installed.state.directory.all_users()
                   if u.active and heads.get(u.id) and heads[u.id] != u.id and u.id in got.values())
    head = heads[manager.id]
    routing_settings(excluded_users=[manager.id], on_excluded="head")
    before = owners(installed)
    want = expected_owners(installed, sandbox_rules(installed, excluded_users=[manager.id], on_excluded="head"),
                           heads)
    run = _start(live_app, pid, "apply")
    assert run.status == "done", run.error
    assert owners(installed) == want
    got = owners(installed)
    assert all(got[c] != manager.id for c in got if before[c] != manager.id)
    assert any(got[c] == head and before[c] != head for c in got)


def test_a_contact_deleted_while_the_run_goes_is_skipped(installed, live_app, routing_settings, monkeypatch):
    seed_crm(installed, 300, 200)
    unbind_contact_events(installed)
    pid = routing_settings(notify=False)
    real_set = portal_crm.set_responsibles
    gone = []

    def delete_one_then_set(client, entity, changes):
        changes = list(changes)
        if not gone:  # someone deletes a contact between the plan and its chunk
            gone.append(changes[0][0])
            assert installed.state.crm.delete_entity("CONTACT", changes[0][0])
        return real_set(client, entity, changes)

    monkeypatch.setattr(portal_crm, "set_responsibles", delete_one_then_set)
    run = _start(live_app, pid, "apply")
    assert run.status == "done" and run.applied == run.planned - 1, run.error
    with live_app.ctx():
        skipped = db.session.scalars(select(AlignmentChange.entity_id).where(
            AlignmentChange.run_id == run.id, AlignmentChange.status == "skipped")).all()
    assert skipped == gone
