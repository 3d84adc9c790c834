"""The metric definitions (DESIGN §5, K5) on hand-made calls in the real database: missed, lost,
called back, waiting for a callback, successful, talk time, ASA, service level, CSAT."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from b24app.analytics import metrics
from b24app.analytics.metrics import MetricSettings, Period
from b24app.calls.models import Call
from b24app.extensions import db
from b24app.portals.models import Portal

T0 = datetime(2031, 5, 5, 9, 0, tzinfo=UTC)  # a Monday
WEEK = Period(T0, T0 + timedelta(days=7))
NOW = T0 + timedelta(days=7, hours=10)       # the report is read the Monday after, 10 hours in


def _portal(member_id: str) -> int:
    p = Portal(member_id=member_id, domain=f"{member_id}.example", protocol=1, client_endpoint="",
               server_endpoint="", access_token="", refresh_token="", token_expires_at=0, application_token="t",
               status="active")
    db.session.add(p)
    db.session.commit()
    return p.id


class Calls:
    def __init__(self, portal_id: int):
        self.portal_id, self.n = portal_id, 0

    def add(self, at: datetime, call_type: int, code: str = "200", duration: int = 60, phone: str = "+70000000000",
            user: int = 3, conversation: int | None = None, vote: int | None = None, wait: float | None = None,
            line: str = "reg1") -> None:
        self.n += 1
        db.session.add(Call(portal_id=self.portal_id, call_id=f"m-{self.portal_id}-{self.n}", call_type=call_type,
                            failed_code=code, duration=duration, phone_number=phone, portal_user_id=user,
                            conversation=duration if conversation is None else conversation, vote=vote,
                            call_start_date=at, portal_number=line, ended=True, enriched=True,
                            ring_at=at if wait is not None else None,
                            answered_at=at + timedelta(seconds=wait) if wait is not None and code == "200" else None))


@pytest.fixture
def portal(live_app):
    with live_app.ctx():
        pid = _portal("metrics-a")
        c = Calls(pid)
        h = timedelta(hours=1)
        # incoming, accepted: waits 5 s and 25 s known, one imported without ring time
        c.add(T0 + 1 * h, 2, wait=5, vote=5)
        c.add(T0 + 2 * h, 2, wait=25, duration=20, vote=4)
        c.add(T0 + 3 * h, 3, vote=2, user=4)
        # missed: called back 2 h later by an outgoing call dialled as 8… (recovered)
        c.add(T0 + 4 * h, 2, code="304", duration=0, phone="+71111111111", wait=30)
        c.add(T0 + 6 * h, 1, duration=90, phone="81111111111")
        # missed on Sunday evening, called back on Monday after the week: still within 24 h (recovered)
        c.add(T0 + timedelta(days=6, hours=12), 2, code="304", duration=0, phone="+72222222222")
        c.add(T0 + timedelta(days=7, hours=2), 2, duration=40, phone="+72222222222")
        # missed, called back only 30 h later (lost)
        c.add(T0 + timedelta(days=1), 2, code="304", duration=0, phone="+73333333333", user=4)
        c.add(T0 + timedelta(days=2, hours=6), 1, duration=50, phone="+73333333333", user=4)
        # missed, a callback attempt that did not connect, window closed (lost)
        c.add(T0 + timedelta(days=3), 2, code="304", duration=0, phone="+74444444444")
        c.add(T0 + timedelta(days=3, hours=1), 1, code="486", duration=0, phone="+74444444444")
        # missed with no number (lost), and one missed 2 h before the week's end: window open at NOW
        c.add(T0 + timedelta(days=4), 2, code="304", duration=0, phone="")
        c.add(T0 + timedelta(days=7) - 2 * h, 2, code="304", duration=0, phone="+75555555555")
        # outgoing: one not connected; one connected with a 40 s greeting, so 20 s of conversation
        c.add(T0 + timedelta(days=5), 1, code="486", duration=0)
        c.add(T0 + timedelta(days=5, hours=1), 1, duration=60, conversation=20)
        # an info call is not a client call; the week before has 2 incoming (1 missed, lost)
        c.add(T0 + timedelta(days=5, hours=2), 5, duration=30)
        c.add(T0 - timedelta(days=3), 2)
        c.add(T0 - timedelta(days=2), 2, code="304", duration=0, phone="+76666666666")
        db.session.commit()
        other = Calls(_portal("metrics-b"))
        for i in range(5):
            other.add(T0 + timedelta(hours=i), 2, code="304", duration=0)
        db.session.commit()
    return pid


def test_the_definitions_on_a_week(live_app, portal):
    with live_app.ctx():
        f = metrics.total(portal, WEEK, now=NOW)
    # the info call does not count; the Monday callback after the week is in the next week
    assert (f.incoming, f.accepted, f.missed) == (9, 3, 6)
    # called back within 24 h: 2 h later, and 14 h later past the week's end; lost: called back only
    # after 30 h, a callback that did not connect, no number; the last one's window is still open
    assert (f.recovered, f.lost, f.awaiting_callback) == (2, 3, 1)
    assert f.mean_callback_seconds == pytest.approx(8 * 3600)
    assert (f.outgoing, f.outgoing_connected) == (5, 3)
    # successful = connected with conversation > 30 s (20 s after a 40 s greeting is not)
    assert (f.successful_incoming, f.successful_outgoing) == (2, 2)
    assert (f.talk_seconds, f.connected) == (300, 6) and f.aht_seconds == pytest.approx(50)
    assert f.asa_seconds == pytest.approx(15.0)  # 5 s and 25 s; the third accepted call has no ring time
    assert (f.rung, f.waited, f.within_sl) == (3, 2, 1) and f.service_level == pytest.approx(1 / 3)  # the missed one rang too
    assert (f.rated, f.csat, f.mean_vote) == (3, pytest.approx(2 / 3), pytest.approx(11 / 3))
    assert f.missed_share == pytest.approx(6 / 9) and f.lost_share == pytest.approx(3 / 9)
    assert f.talk_minutes == pytest.approx(5.0)


def test_a_number_matches_however_it_was_dialled():
    assert {metrics.phone_key(p) for p in ("+79161234567", "79161234567", "89161234567", "+7 (916) 123-45-67")} \
        == {"79161234567"}
    assert metrics.phone_key("+49 30 1234567") == "49301234567" and metrics.phone_key(None) == ""


def test_the_previous_period_and_the_settings(live_app, portal):
    with live_app.ctx():
        now, before = metrics.with_previous(portal, WEEK, now=NOW)
        strict = metrics.total(portal, WEEK, now=NOW, settings=MetricSettings(success_seconds=60,
                                                                           callback_hours=48,
                                                                           service_level_seconds=30))
    assert WEEK.previous() == Period(T0 - timedelta(days=7), T0)
    assert (before.incoming, before.accepted, before.missed, before.lost) == (2, 1, 1, 1)
    assert now.incoming == 9
    assert (strict.successful_incoming, strict.successful_outgoing) == (0, 1)  # only the 90 s call is over 60 s
    assert (strict.recovered, strict.lost, strict.awaiting_callback) == (3, 2, 1)  # 30 h is within 48 h
    assert strict.service_level == pytest.approx(2 / 3)


def test_scope_by_manager_and_figures_per_manager(live_app, portal):
    with live_app.ctx():
        mine = metrics.total(portal, WEEK, now=NOW, user_ids=[4])
        per_user = metrics.figures(portal, WEEK, now=NOW, group_by="user")
        per_line = metrics.figures(portal, WEEK, now=NOW, group_by="line")
    assert (mine.incoming, mine.accepted, mine.missed, mine.lost, mine.outgoing_connected) == (2, 1, 1, 1, 1)
    assert set(per_user) == {3, 4}
    assert (per_user[4].incoming, per_user[4].lost) == (2, 1)
    assert per_user[3].incoming + per_user[4].incoming == 9
    assert set(per_line) == {"reg1"} and per_line["reg1"].missed == 6


def test_another_portal_and_an_empty_period_show_nothing(live_app, portal):
    with live_app.ctx():
        empty = metrics.total(portal, Period(T0 + timedelta(days=100), T0 + timedelta(days=107)), now=NOW)
        nobody = metrics.total(portal + 1000, WEEK, now=NOW)
    for f in (empty, nobody):
        assert (f.incoming, f.outgoing, f.missed, f.lost) == (0, 0, 0, 0)
        assert f.aht_seconds is None and f.asa_seconds is None and f.service_level is None
        assert f.csat is None and f.missed_share is None and f.mean_callback_seconds is None


def test_numbers_looked_up_in_many_small_chunks_give_the_same_result(live_app, portal, monkeypatch):
    with live_app.ctx():
        few = metrics.total(portal, WEEK, now=NOW)
        monkeypatch.setattr(metrics, "PHONES_PER_QUERY", 1)
        many = metrics.total(portal, WEEK, now=NOW)
    assert (many.recovered, many.lost, many.awaiting_callback) == (few.recovered, few.lost, few.awaiting_callback)
    assert many.callback_seconds == few.callback_seconds
