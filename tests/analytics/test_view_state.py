"""The analytics page state in the URL: parsed once from the arguments (repeated keys and comma lists), checked
against the portal's own users, departments and topics, written back with only non-default values, and every
malformed URL refused with a Russian message and a 400, never a 500 (hypothesis over arbitrary arguments)."""

from __future__ import annotations

import re
from datetime import date
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from flask import url_for
from flask_babel import force_locale
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from b24app.analytics.periods import LocalPeriod
from b24app.analytics.view import ViewError, ViewState, parse
from b24app.extensions import db
from b24app.portals.models import Portal, PortalDepartment, PortalUser
from b24app.topics.models import Topic

TODAY = date(2026, 12, 7)
CYRILLIC = re.compile("[а-яА-ЯёЁ]")
URL_KEYS = ("period", "from", "to", "user", "dept", "line", "dir", "topic", "scenario", "sort", "unit", "page",
            "group")


def _pid(live_app, sandbox) -> int:
    with live_app.ctx():
        return db.session.scalar(select(Portal.id).where(Portal.member_id == sandbox.member_id))


def _topic_ids(live_app, pid) -> list[int]:
    with live_app.ctx():
        return list(db.session.scalars(select(Topic.id).where(Topic.portal_id == pid).order_by(Topic.id)))


def _parse(live_app, pid, query, today=TODAY) -> ViewState:
    args = MultiDict(parse_qsl(query, keep_blank_values=True)) if isinstance(query, str) else MultiDict(query)
    with live_app.app.test_request_context("/"):
        return parse(args, portal_id=pid, today=today)


def _refusal(live_app, pid, query) -> ViewError:
    with pytest.raises(ViewError) as e:
        _parse(live_app, pid, query)
    return e.value


def test_state_from_the_url(installed, live_app):
    pid = _pid(live_app, installed)
    topics = _topic_ids(live_app, pid)
    assert len(topics) >= 2  # the install seeds the default catalogue

    default = _parse(live_app, pid, "")
    assert default == ViewState.default(TODAY)
    assert (default.period.key, default.period.days, default.period.last) == ("30d", 30, TODAY)
    assert (default.users, default.unit, default.page, default.sort, default.group) == ((), "min", 1, "", "")
    assert not default.filtered

    # Repeated keys and comma lists mean the same; order and repeats do not matter.
    a = _parse(live_app, pid, f"user=5&user=3&user=5&dept=3&topic={topics[1]}&topic={topics[0]}"
                              "&dir=outgoing&dir=incoming&scenario=holiday,work&line=reg1,%2B74951234567")
    b = _parse(live_app, pid, f"user=3,5&dept=3&topic={topics[0]},{topics[1]}&dir=incoming,outgoing"
                              "&scenario=work&scenario=holiday&line=%2B74951234567&line=reg1")
    assert a == b
    assert a.users == (3, 5) and a.departments == (3,) and a.topics == (topics[0], topics[1])
    assert a.directions == ("incoming", "outgoing") and a.scenarios == ("work", "holiday")
    assert a.lines == ("+74951234567", "reg1") and a.filtered

    s = _parse(live_app, pid, "period=custom&from=01.11.2026&to=2026-11-30&sort=-talk_minutes&unit=h&page=3"
                              "&group=user:day&ft=frame-token&DOMAIN=x.bitrix24.ru&LANG=ru&user=&dept=")
    assert s.period == LocalPeriod("custom", date(2026, 11, 1), date(2026, 11, 30))
    assert (s.sort, s.unit, s.page, s.group, s.users, s.departments) == ("-talk_minutes", "h", 3, "user:day", (), ())

    # Dates without a period key are a custom range; a named period ignores stray dates from the form.
    assert _parse(live_app, pid, "from=2026-11-01&to=2026-11-07").period.key == "custom"
    assert _parse(live_app, pid, "period=week&from=2016-01-01&to=2026-12-01").period == LocalPeriod(
        "week", date(2026, 12, 7), date(2026, 12, 7))
    assert _parse(live_app, pid, "user=9").users == (9,)  # a dismissed employee: his past calls still count


def test_round_trip_through_url_for(installed, live_app):
    pid = _pid(live_app, installed)
    topics = _topic_ids(live_app, pid)
    state = ViewState(period=LocalPeriod("custom", date(2026, 10, 28), date(2026, 11, 3)), users=(2, 3),
                      departments=(2, 3), lines=("REST_APP:", "reg1"), directions=("incoming",),
                      topics=tuple(topics[:2]), scenarios=("after_hours", "weekend"), sort="-missed", unit="h",
                      page=4, group="dept")
    with live_app.app.test_request_context("/"):
        url = url_for("healthz", **state.to_args())
    assert url.count("user=") == 2  # lists as repeated keys
    assert _parse(live_app, pid, urlsplit(url).query) == state

    assert ViewState.default(TODAY).to_args() == {}
    named = ViewState.default(TODAY).replace(period=LocalPeriod("last_month", date(2026, 11, 1),
                                                                date(2026, 11, 30)))
    assert named.to_args() == {"period": "last_month"}
    assert _parse(live_app, pid, named.to_args()) == named
    assert state.replace(page=1).to_args().get("page") is None
    assert _parse(live_app, pid, state.replace(users=(), unit="min").to_args()) == state.replace(users=(), unit="min")


MALFORMED = [
    ("period=decade", "analytics.unknown_period"),
    ("period=custom&from=2016-12-01&to=2026-12-01", "analytics.range_too_long"),     # ten years
    ("period=custom&from=2026-12-05&to=2026-12-01", "analytics.dates_backwards"),
    ("period=custom&from=31.02.2026&to=2026-03-01", "analytics.bad_date"),
    ("period=custom", "analytics.bad_date"),
    ("period=custom&from=2026-12-01&to=2027-01-01", "analytics.range_in_future"),
    ("period=today&period=week", "analytics.repeated_param"),
    ("user=abc", "analytics.bad_user"),
    ("user=3;5", "analytics.bad_user"),
    ("user=-3", "analytics.bad_user"),
    ("user=0", "analytics.bad_user"),
    ("user=3.0", "analytics.bad_user"),
    ("user=99999999999999999999", "analytics.bad_user"),                              # beyond INTEGER
    ("user=2147483648", "analytics.bad_user"),
    ("user=2147483647", "analytics.unknown_user"),
    ("user=77", "analytics.unknown_user"),
    ("dept=x", "analytics.bad_department"),
    ("dept=42", "analytics.unknown_department"),
    ("topic=999999", "analytics.unknown_topic"),
    ("topic=t1", "analytics.bad_topic"),
    ("dir=inbound", "analytics.bad_direction"),
    ("dir=incoming,INCOMING", "analytics.bad_direction"),
    ("scenario=night", "analytics.bad_scenario"),
    ("line=reg%001", "analytics.bad_line"),                                           # NUL
    ("line=" + "7" * 129, "analytics.bad_line"),
    ("sort=calls;drop", "analytics.bad_sort"),
    ("sort=--calls", "analytics.bad_sort"),
    ("unit=sec", "analytics.bad_unit"),
    ("page=0", "analytics.bad_page"),
    ("page=-1", "analytics.bad_page"),
    ("page=2.5", "analytics.bad_page"),
    ("page=99999999999", "analytics.bad_page"),
    ("group=a b", "analytics.bad_group"),
    ("user=" + "1" * 10_000, "analytics.value_too_long"),                             # 10 000 characters
    ("line=" + "x" * 10_000, "analytics.value_too_long"),
    ("sort=" + "a" * 10_000, "analytics.value_too_long"),
    ("user=" + ",".join(["3"] * 201), "analytics.too_many_values"),
    ("&".join(["dir=incoming"] * 201), "analytics.too_many_values"),
]


def test_malformed_urls_are_refused_in_russian(installed, live_app):
    pid = _pid(live_app, installed)
    assert _parse(live_app, pid, "user=" + ",".join(["3"] * 200)).users == (3,)  # 200 values are fine
    for query, key in MALFORMED:
        err = _refusal(live_app, pid, query)
        assert (err.message_key, err.status) == (key, 400), query[:80]
        with live_app.app.test_request_context("/"):
            ru = err.text
            with force_locale("en"):
                en = err.text
        assert CYRILLIC.search(ru) and ru != key, key
        assert not CYRILLIC.search(en) and en != ru, key


def test_another_portals_ids_are_unknown_here(installed, live_app, make_sandbox):
    other = make_sandbox(seed=2)
    r = requests.post(f"{other.url}/_sandbox/users", json={"NAME": "Павел", "LAST_NAME": "Чужой",
                                                          "UF_DEPARTMENT": [3]}, timeout=10)
    stranger = int(r.json()["ID"])
    r = requests.post(f"{other.url}/_sandbox/install", json={"finish": True}, timeout=60)
    assert r.status_code == 200, r.text
    pid, other_pid = _pid(live_app, installed), _pid(live_app, other)
    assert pid != other_pid
    with live_app.ctx():
        db.session.add(PortalDepartment(portal_id=other_pid, department_id=50, name="Чужой отдел"))
        db.session.commit()
        assert db.session.scalar(select(PortalUser.id).where(PortalUser.portal_id == other_pid,
                                                             PortalUser.user_id == stranger))
    their_topic = _topic_ids(live_app, other_pid)[0]

    for query, key in ((f"user={stranger}", "analytics.unknown_user"), (f"user=3,{stranger}", "analytics.unknown_user"),
                       ("dept=50", "analytics.unknown_department"), (f"topic={their_topic}", "analytics.unknown_topic")):
        err = _refusal(live_app, pid, query)
        assert (err.message_key, err.status) == (key, 400)
    # On their own portal the same ids are fine.
    theirs = _parse(live_app, other_pid, f"user={stranger}&dept=50&topic={their_topic}")
    assert (theirs.users, theirs.departments, theirs.topics) == ((stranger,), (50,), (their_topic,))


# --- never a 500 ----------------------------------------------------------------------------------------------

_VALUES = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", " ", "3", "5", "3,5", " 3 , 5 ", "1,2,3,4,5,6,7,8,9", "0", "-1", "77", "2147483648",
                     "99999999999999999999", "incoming", "outgoing,incoming", "work,holiday", "weekend", "night",
                     "today", "week", "custom", "3m", "2026-11-01", "01.12.2026", "2026-02-30", "2016-01-01",
                     "2027-06-01", "-calls", "talk_minutes", "h", "min", "user:day", ",", ",,,", "\x00",
                     "REST_APP:", "+74951234567", "x" * 5000]),
    st.integers(-10**12, 10**12).map(str),
    st.text(alphabet="0123456789,-. ", max_size=40),
)
_KEYS = st.one_of(st.sampled_from(URL_KEYS), st.text(max_size=8))
_ids = st.lists(st.integers(1, 9), min_size=1, max_size=4).map(lambda xs: ",".join(map(str, xs)))
_day = st.dates(date(2024, 6, 1), date(2026, 12, 9)).map(lambda d: d.isoformat() if d.day % 2 else d.strftime("%d.%m.%Y"))
_PLAUSIBLE = {  # values a page of ours would put in the URL, so that accepted states are common too
    "period": st.sampled_from(["today", "yesterday", "week", "last_week", "month", "last_month", "quarter", "year",
                               "3m", "30d"]),
    "from": _day, "to": _day, "user": _ids, "dept": st.integers(1, 4).map(str),
    "line": st.text("abcdefgrst0123456789+:_", min_size=1, max_size=20), "dir": st.sampled_from(["incoming", "outgoing"]),
    "scenario": st.sampled_from(["work", "after_hours", "weekend", "holiday"]),
    "sort": st.from_regex(r"-?[a-z][a-z0-9_]{0,10}", fullmatch=True), "unit": st.sampled_from(["min", "h"]),
    "page": st.integers(1, 5000).map(str), "group": st.from_regex(r"[a-z][a-z0-9_.:]{0,10}", fullmatch=True),
}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_arbitrary_arguments_never_fail_with_an_error_of_ours(installed, live_app, data):
    pid = _pid(live_app, installed)
    topics = _topic_ids(live_app, pid)
    values = st.one_of(_VALUES, st.sampled_from(topics).map(str))
    plausible = {**_PLAUSIBLE, "topic": st.sampled_from(topics).map(str)}
    pair = st.one_of(st.tuples(_KEYS, values),
                     st.sampled_from(sorted(plausible)).flatmap(lambda k: st.tuples(st.just(k), plausible[k])))
    pairs = data.draw(st.lists(pair, max_size=10))
    args = MultiDict(pairs)
    with live_app.app.test_request_context("/"):
        try:
            state = parse(args, portal_id=pid, today=TODAY)
        except ViewError as e:
            event(e.message_key)
            assert e.status == 400
            assert CYRILLIC.search(e.text), e.message_key
            return
        event("accepted, filtered" if state.filtered else "accepted")
        again = parse(MultiDict(state.to_args()), portal_id=pid, today=TODAY)
    assert again == state
    assert state.page >= 1 and state.unit in ("min", "h")
    assert all(isinstance(u, int) and 0 < u for u in state.users)
