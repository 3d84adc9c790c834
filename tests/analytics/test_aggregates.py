"""The aggregates equal the metric definitions read from raw calls (hypothesis), whatever the order the
calls arrive in, however often they are re-delivered, and with topics chosen before or after the call."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from b24app.analytics import cube, metrics, recount
from b24app.analytics.metrics import ADDITIVE
from b24app.analytics.models import AnalyticsSettings, CallStat, StatsDirty
from b24app.calls import store
from b24app.extensions import db
from b24app.portals.models import Portal
from b24app.topics.models import CallTopic, Topic
from b24app.topics.service import TOPIC_CHANGED

T0 = datetime(2031, 3, 2, 21, 0, tzinfo=UTC)  # Monday 00:00 in Moscow (UTC+3, the default zone)
FIRST = date(2031, 3, 3)
NOW = T0 + timedelta(days=9, hours=13)
PHONES = ["+79160000001", "89160000001", "79160000002", "+79160000003", "", "+79160000004"]
_seq = itertools.count()


def _portal() -> int:
    n = next(_seq)
    p = Portal(member_id=f"agg-{n}-{datetime.now().timestamp()}", domain=f"agg{n}.example", protocol=1,
               client_endpoint="", server_endpoint="", access_token="", refresh_token="", token_expires_at=0,
               application_token="t", status="active")
    db.session.add(p)
    db.session.commit()
    return p.id


call = st.fixed_dictionaries({
    "minute": st.integers(0, 9 * 24 * 60 + 12 * 60),      # up to NOW
    "second": st.integers(0, 59),
    "call_type": st.sampled_from([1, 1, 2, 2, 2, 3, 4, 5, None]),
    "failed_code": st.sampled_from(["200", "200", "304", "603", ""]),
    "duration": st.one_of(st.none(), st.integers(0, 400)),
    "conversation": st.one_of(st.none(), st.integers(0, 400)),
    "vote": st.one_of(st.none(), st.integers(0, 5)),
    "phone": st.sampled_from(PHONES),
    "user": st.sampled_from([3, 4, 5, None]),
    "line": st.sampled_from(["reg1", "reg2", ""]),
    "wait": st.one_of(st.none(), st.integers(0, 60)),
    "answered_first": st.booleans(),
    "topic": st.sampled_from([None, None, 0, 1]),
    "redeliver": st.sampled_from([None, None, "code", "vote", "duration"]),
})


def _values(i: int, c: dict) -> dict:
    at = T0 + timedelta(minutes=c["minute"], seconds=c["second"])
    ring = at if c["wait"] is not None else None
    answered = at + timedelta(seconds=c["wait"]) if c["wait"] is not None and c["failed_code"] == "200" else None
    return {"call_id": f"c{i}", "call_type": c["call_type"], "failed_code": c["failed_code"],
            "duration": c["duration"], "conversation": c["conversation"], "vote": c["vote"],
            "phone_number": c["phone"], "portal_user_id": c["user"], "portal_number": c["line"],
            "call_start_date": at, "ring_at": ring, "answered_at": answered, "ended": True}


COLUMNS = ("call_type", "failed_code", "duration", "conversation", "vote", "phone_number", "portal_user_id",
           "portal_number", "call_start_date", "ring_at", "answered_at", "ended")


def _deliver(pid: int, calls: list[dict], order: list[int], topics: list[int]) -> None:
    """Each call through the event upsert, in `order`; some twice with a fact changed in between."""
    for i in order:
        c = calls[i]
        v = _values(i, c)
        if c["redeliver"]:
            first = dict(v)
            if c["redeliver"] == "code":
                first["failed_code"] = "304" if v["failed_code"] == "200" else "200"
            elif c["redeliver"] == "vote":
                first["vote"] = 5 if v["vote"] != 5 else 1
            else:
                first["duration"] = (v["duration"] or 0) + 77
            store.upsert(pid, [first], update=COLUMNS, source="event")
        if c["topic"] is not None and c["answered_first"]:  # the popup saved the topic before CALLEND
            db.session.add(CallTopic(portal_id=pid, call_id=v["call_id"], topic_id=topics[c["topic"]]))
            db.session.commit()
        store.upsert(pid, [v], update=COLUMNS, source="event")
        if c["topic"] is not None and not c["answered_first"]:
            db.session.add(CallTopic(portal_id=pid, call_id=v["call_id"], topic_id=topics[c["topic"]]))
            db.session.commit()
            for fn in TOPIC_CHANGED:
                fn(pid, v["call_id"])


def _same(a: metrics.Figures, b: metrics.Figures, where) -> None:
    for name in ADDITIVE:
        x, y = getattr(a, name), getattr(b, name)
        assert x == pytest.approx(y, abs=1e-6), (where, name, x, y)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                HealthCheck.too_slow])
@given(calls=st.lists(call, min_size=1, max_size=40), seed=st.randoms(use_true_random=False),
       window=st.sampled_from([24, 24, 2]))
def test_aggregates_equal_the_definitions_on_raw_calls(live_app, calls, seed, window):
    with live_app.ctx():
        pid = _portal()
        if window != 24:
            db.session.add(AnalyticsSettings(portal_id=pid, callback_hours=window))
            db.session.commit()
        topics = []
        for name in ("Продажа", "Жалоба"):
            t = Topic(portal_id=pid, name=name)
            db.session.add(t)
            db.session.commit()
            topics.append(t.id)
        order = list(range(len(calls)))
        seed.shuffle(order)
        _deliver(pid, calls, order, topics)
        assert db.session.query(StatsDirty).filter_by(portal_id=pid).count() == 0, "every marked day recounted"
        ms = metrics.MetricSettings(callback_hours=window)
        tz = recount.portal_tz(pid)
        for first, last in ((FIRST, FIRST + timedelta(days=9)), (FIRST + timedelta(days=2), FIRST + timedelta(days=4)),
                            (FIRST + timedelta(days=9), FIRST + timedelta(days=9))):
            period = metrics.Period(recount.day_bounds(first, tz)[0], recount.day_bounds(last, tz)[1])
            q = cube.Query(pid, first, last)
            _same(cube.total(q, now=NOW), metrics.total(pid, period, settings=ms, now=NOW), (first, last))
            raw = metrics.figures(pid, period, settings=ms, group_by="user", now=NOW)
            agg = cube.figures(q, ("user",), now=NOW)
            assert {k or 0 for k in raw} == {k[0] for k in agg}
            for k, f in raw.items():
                _same(agg[(k or 0,)], f, ("user", k))
            lines = metrics.figures(pid, period, settings=ms, lines=["reg1"], now=NOW)
            _same(cube.total(cube.Query(pid, first, last, lines=frozenset({"reg1"})), now=NOW),
                  lines.get(None) or metrics.Figures(), ("line", "reg1"))
            # a grouping by day sums back to the whole
            by_day = cube.figures(q, ("day",), now=NOW)
            whole = metrics.Figures()
            for f in by_day.values():
                whole.add(f)
            _same(whole, cube.total(q, now=NOW), "days")
        # topics: the aggregate cell of each topic holds exactly its calls
        week = cube.Query(pid, FIRST, FIRST + timedelta(days=9))
        by_topic = cube.figures(week, ("topic",), now=NOW)
        expected = {}
        for c in calls:
            if c["call_type"] in (2, 3, 4):
                key = topics[c["topic"]] if c["topic"] is not None else 0
                expected[key] = expected.get(key, 0) + 1
        assert {k[0]: f.incoming for k, f in by_topic.items() if f.incoming} == expected
        # the full grain (a line and a topic filter together) against the calls themselves
        want = sum(1 for c in calls if c["call_type"] in (2, 3, 4) and c["line"] == "reg1" and c["topic"] == 1)
        both = cube.Query(pid, FIRST, FIRST + timedelta(days=9), lines=frozenset({"reg1"}),
                          topics=frozenset({topics[1]}))
        assert cube.grain_for(both) == 0
        assert cube.total(both, now=NOW).incoming == want


def test_settings_change_recounts_every_day(live_app):
    """A new success threshold changes stored figures only through a recount of every day."""
    with live_app.ctx():
        pid = _portal()
        store.upsert(pid, [{"call_id": "s1", "call_type": 2, "failed_code": "200", "duration": 45, "conversation": 45,
                            "call_start_date": T0 + timedelta(hours=10), "phone_number": "+79160000009",
                            "ended": True}], update=COLUMNS, source="event")
        q = cube.Query(pid, FIRST, FIRST)
        assert cube.total(q).successful_incoming == 1
        db.session.add(AnalyticsSettings(portal_id=pid, success_seconds=60))
        db.session.commit()
        assert cube.total(q).successful_incoming == 1  # stored before the change
        recount.mark_all(pid)
        db.session.commit()
        recount.kick(pid)
        assert cube.total(q).successful_incoming == 0
        assert db.session.query(CallStat).filter_by(portal_id=pid).count() == 4  # one cell at each grain


def test_the_minutes_sweep_leaves_a_portal_alone_while_its_import_runs(live_app):
    """Days an import marks are counted when it ends, not each minute while they fill."""
    from b24app.calls.models import ImportRun

    with live_app.ctx():
        pid = _portal()
        run = ImportRun(portal_id=pid, status="running", date_from=T0)
        db.session.add(run)
        db.session.commit()
        recount.mark_days(pid, [FIRST])
        db.session.commit()
        recount.sweep_marked_days()
        assert db.session.query(StatsDirty).filter_by(portal_id=pid).count() == 1  # still waiting
        run.status = "done"
        db.session.commit()
        recount.sweep_marked_days()
        assert db.session.query(StatsDirty).filter_by(portal_id=pid).count() == 0
