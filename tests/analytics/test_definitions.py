"""Definitions at their edges, read both ways (the aggregates the pages read and the raw-call reference):
a callback on the window's last second and one second past it, calls either side of midnight in the
portal's time zone, a vote of 0, an unknown wait, an incoming call answered 20 s after ringing."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest

from b24app.analytics import cube, metrics, recount
from b24app.calls import store
from b24app.extensions import db
from b24app.portals.models import Portal

# Moscow (UTC+3, the default zone): local midnight of 10 March 2031 is 21:00 UTC on the 9th.
MIDNIGHT = datetime(2031, 3, 9, 21, 0, tzinfo=UTC)
DAY1, DAY2 = date(2031, 3, 9), date(2031, 3, 10)
NOW = MIDNIGHT + timedelta(days=5)
COLUMNS = ("call_type", "failed_code", "duration", "conversation", "vote", "phone_number", "portal_user_id",
           "portal_number", "call_start_date", "ring_at", "answered_at", "ended")
_n = itertools.count()


def _portal() -> int:
    p = Portal(member_id=f"defs-{next(_n)}-{datetime.now().timestamp()}", domain="defs.example", protocol=1,
               client_endpoint="", server_endpoint="", access_token="", refresh_token="", token_expires_at=0,
               application_token="t", status="active")
    db.session.add(p)
    db.session.commit()
    return p.id


def _call(pid: int, at: datetime, call_type: int = 2, code: str = "200", talk: int = 60, phone: str = "+79160000001",
          vote=None, wait: float | None = None, user: int = 3) -> None:
    store.upsert(pid, [{
        "call_id": f"d{next(_n)}", "call_type": call_type, "failed_code": code, "duration": talk, "conversation": talk,
        "vote": vote, "phone_number": phone, "portal_user_id": user, "portal_number": "reg1", "call_start_date": at,
        "ring_at": at - timedelta(seconds=wait) if wait is not None else None,
        "answered_at": at if wait is not None and code == "200" else None, "ended": True}], update=COLUMNS,
        source="event")


def _both(pid: int, first: date, last: date) -> tuple[metrics.Figures, metrics.Figures]:
    tz = recount.portal_tz(pid)
    period = metrics.Period(recount.day_bounds(first, tz)[0], recount.day_bounds(last, tz)[1])
    return cube.total(cube.Query(pid, first, last), now=NOW), metrics.total(pid, period, now=NOW)


@pytest.fixture
def pid(live_app):
    with live_app.ctx():
        yield _portal()


def test_a_callback_on_the_windows_last_second_recovers_one_a_second_later_does_not(live_app, pid):
    with live_app.ctx():
        missed = MIDNIGHT + timedelta(hours=10)
        _call(pid, missed, code="304", talk=0, phone="+79160000001")
        _call(pid, missed + timedelta(hours=24), call_type=1, phone="89160000001")   # exactly 24 h: in
        _call(pid, missed, code="304", talk=0, phone="+79160000002")
        _call(pid, missed + timedelta(hours=24, seconds=1), call_type=1, phone="+79160000002")  # 1 s out
        for f in _both(pid, DAY2, DAY2):
            assert (f.missed, f.recovered, f.lost, f.awaiting_callback) == (2, 1, 1, 0)
            assert f.mean_callback_seconds == pytest.approx(24 * 3600)


def test_calls_either_side_of_midnight_count_on_their_local_day(live_app, pid):
    with live_app.ctx():
        _call(pid, MIDNIGHT - timedelta(seconds=30))   # 23:59:30 Moscow on the 9th (20:59:30 UTC)
        _call(pid, MIDNIGHT + timedelta(seconds=10))   # 00:00:10 Moscow on the 10th
        _call(pid, MIDNIGHT + timedelta(hours=2, minutes=59))  # 02:59 Moscow, still 23:59 UTC on the 9th
        for day, want in ((DAY1, 1), (DAY2, 2)):
            for f in _both(pid, day, day):
                assert f.incoming == want, day
        by_day = cube.figures(cube.Query(pid, DAY1, DAY2), ("day",), now=NOW)
        assert {k[0]: f.incoming for k, f in by_day.items()} == {DAY1: 1, DAY2: 2}


def test_a_vote_of_zero_is_no_rating_and_an_unknown_wait_is_no_data(live_app, pid):
    with live_app.ctx():
        _call(pid, MIDNIGHT + timedelta(hours=9), vote=0)
        _call(pid, MIDNIGHT + timedelta(hours=10), vote=None)
        for f in _both(pid, DAY2, DAY2):
            assert f.rated == 0 and f.csat is None and f.mean_vote is None
            assert f.waited == 0 and f.asa_seconds is None and f.service_level is None  # «нет данных», not 0
        _call(pid, MIDNIGHT + timedelta(hours=11), vote=4, wait=20)   # answered 20 s after ringing: within SL
        _call(pid, MIDNIGHT + timedelta(hours=12), vote=3, wait=21)   # 21 s: not
        for f in _both(pid, DAY2, DAY2):
            assert (f.rated, f.satisfied) == (2, 1) and f.csat == pytest.approx(0.5)
            assert f.asa_seconds == pytest.approx(20.5) and f.service_level == pytest.approx(0.5)
