"""The call list and one call over real HTTP against the sandbox portal: the period's calls fifty a page with
their count, filters (manager, direction, outcome, number in any spelling, topic, line, scenario), sorting by
talk time, duration and wait, a manager's own calls only, another portal's call unknown, bad arguments refused
in Russian, and the recording streamed with byte ranges."""

from __future__ import annotations

import math
import random
import re
import time
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
import requests
from sqlalchemy import select

from b24app.analytics import call_list, metrics
from b24app.analytics.recount import portal_tz
from b24app.analytics.settings import Settings, load
from b24app.calls import store
from b24app.calls.models import Call
from b24app.extensions import db
from b24app.models_base import utcnow
from b24app.portals.models import Portal
from b24app.qa.models import QaSetup
from b24app.topics import service
from b24app.topics.models import Topic

from ..platform.helpers import frame_token_from, open_placement
from ..qa.review_helpers import phone_call

CYRILLIC = re.compile("[а-яА-ЯёЁ]")
LIST = "/b24/analytics/calls"
DAYS = 62  # the sandbox's 60 days of history, whatever the time of day


def _pid(live_app, sandbox) -> int:
    with live_app.ctx():
        return db.session.scalar(select(Portal.id).where(Portal.member_id == sandbox.member_id))


def _token(sandbox, live_app, user_id: int = 1) -> str:
    r = open_placement(sandbox, live_app, "/b24/reports", user_id=user_id, placement="CRM_ANALYTICS_MENU")
    assert r.status_code == 200, r.text[:300]
    return frame_token_from(r.text)


def _period(live_app, pid) -> dict:
    with live_app.ctx():
        today = utcnow().astimezone(portal_tz(pid)).date()
    return {"period": "custom", "from": (today - timedelta(days=DAYS)).isoformat(), "to": today.isoformat()}


def _get(live_app, token, path=LIST, **params) -> requests.Response:
    return requests.get(live_app.url + path, params={"ft": token, **params}, timeout=30)


def _json(live_app, token, path=LIST, **params) -> dict:
    r = _get(live_app, token, path, format="json", **params)
    assert r.status_code == 200, r.text[:500]
    return r.json()


def _all(live_app, token, **params) -> list[dict]:
    rows, page = [], 1
    while True:
        body = _json(live_app, token, page=page, **params)
        assert len(body["calls"]) <= 50
        rows += body["calls"]
        if not body["has_next"]:
            assert len(rows) == body["total"]
            return rows
        assert len(body["calls"]) == 50
        page += 1


def _calls(live_app, pid) -> list[Call]:
    """Every call of the portal, newest first (the list's default order)."""
    with live_app.ctx():
        rows = db.session.scalars(select(Call).where(Call.portal_id == pid, Call.call_start_date.is_not(None))
                                  .order_by(Call.call_start_date.desc(), Call.id.desc())).all()
        db.session.expunge_all()
        return rows


def _add(live_app, pid, **row) -> int:
    values = {"call_type": 2, "phone_number": "", "portal_user_id": 3, "duration": 60, "failed_code": "200",
              "ended": True, "conversation": 60, **row}
    with live_app.ctx():
        store.upsert(pid, [values], update=tuple(k for k in values if k != "call_id"), source="event")
        return db.session.scalar(select(Call.id).where(Call.portal_id == pid, Call.call_id == row["call_id"]))


@pytest.fixture
def director(installed, live_app):
    pid = _pid(live_app, installed)
    return pid, _token(installed, live_app, 1), _period(live_app, pid)


def test_the_periods_calls_newest_first_fifty_a_page_with_their_count(installed, live_app, director):
    pid, token, period = director
    held = _calls(live_app, pid)
    assert len(held) > 120
    body = _json(live_app, token, **period)
    assert body["total"] == len(held) and body["total_capped"] is False
    assert body["pages"] == math.ceil(len(held) / 50) and body["page"] == 1 and len(body["calls"]) == 50
    rows = _all(live_app, token, **period)
    assert [r["id"] for r in rows] == [c.id for c in held]
    # the 30 days by default: the period the layout shows
    default = _json(live_app, token)
    assert 0 < default["total"] < len(held)

    page = _get(live_app, token, **period)
    assert page.status_code == 200
    assert page.text.count('data-testid="call-row"') == 50
    assert f"Звонков: {len(held)}" in page.text.replace("\u00a0", "")
    assert f"Страница 1 из {math.ceil(len(held) / 50)}" in page.text
    last = _get(live_app, token, page=body["pages"], **period)
    assert last.text.count('data-testid="call-row"') == len(held) - 50 * (body["pages"] - 1)
    assert 'data-testid="calls-next"' not in last.text
    beyond = _json(live_app, token, page=body["pages"] + 1, **period)
    assert beyond["calls"] == [] and beyond["total"] == len(held)
    assert "На этой странице звонков нет" in _get(live_app, token, page=body["pages"] + 1, **period).text


def test_filters_by_manager_direction_outcome_line_and_number(installed, live_app, director):
    pid, token, period = director
    held = _calls(live_app, pid)

    mine = _all(live_app, token, user=3, **period)
    assert mine and {r["manager_id"] for r in mine} == {3}
    assert [r["id"] for r in mine] == [c.id for c in held if c.portal_user_id == 3]

    incoming = _all(live_app, token, dir="incoming", **period)
    assert [r["id"] for r in incoming] == [c.id for c in held if c.call_type in (2, 3, 4)]

    line = next(c.portal_number for c in held if c.portal_number)
    assert [r["id"] for r in _all(live_app, token, line=line, **period)] == [
        c.id for c in held if c.portal_number == line]

    def ids(outcome, **kw):
        return [r["id"] for r in _all(live_app, token, outcome=outcome, **period, **kw)]

    missed = [c for c in held if c.call_type in (2, 3, 4) and c.failed_code != "200"]
    assert missed and ids("missed") == [c.id for c in missed]
    assert ids("accepted") == [c.id for c in held if c.call_type in (2, 3, 4) and c.failed_code == "200"]
    assert ids("outgoing_connected") == [c.id for c in held if c.call_type == 1 and c.failed_code == "200"]
    assert ids("outgoing_failed") == [c.id for c in held if c.call_type == 1 and c.failed_code != "200"]
    talk = {c.id: c.conversation if c.conversation is not None else c.duration or 0 for c in held}
    assert ids("successful") == [c.id for c in held if c.call_type in (1, 2, 3, 4) and c.failed_code == "200"
                                 and talk[c.id] > 30]
    recovered = ids("recovered")
    assert recovered == [c.id for c in missed if c.callback_at is not None]
    lost, awaiting = _all(live_app, token, outcome="lost", **period), _all(live_app, token, outcome="awaiting", **period)
    assert sorted(recovered + [r["id"] for r in lost + awaiting]) == sorted(c.id for c in missed)
    day_ago = utcnow() - timedelta(hours=24)
    starts = {c.id: c.call_start_date for c in held}
    assert all(starts[r["id"]] <= day_ago + timedelta(minutes=1) for r in lost)
    assert all(starts[r["id"]] > day_ago - timedelta(minutes=1) for r in awaiting)
    assert {r["outcome"] for r in lost} <= {"lost"} and {r["outcome"] for r in awaiting} <= {"awaiting"}
    assert ids("missed", user=3, dir="incoming") == [c.id for c in missed if c.portal_user_id == 3]

    # a number matches however it was written: +7…, 7…, 8… and with punctuation
    some = next(c for c in held if c.phone_number.startswith("+79"))
    digits = some.phone_number[1:]
    now = utcnow()
    other_spelling = _add(live_app, pid, call_id="spelling-test-1", phone_number="8" + digits[1:],
                          call_start_date=now - timedelta(hours=1), portal_user_id=4)
    expected = {other_spelling} | {c.id for c in held if metrics.phone_key(c.phone_number) == digits}
    typed = f"8 ({digits[1:4]}) {digits[4:7]}-{digits[7:9]}-{digits[9:]}"
    found = _all(live_app, token, phone=typed, **period)
    assert {r["id"] for r in found} == expected and len(found) == len(expected) >= 2
    assert _json(live_app, token, phone="+" + digits, **period)["total"] == len(expected)
    assert _json(live_app, token, phone="70000000000", **period)["total"] == 0


def test_topic_and_scenario_filters(installed, live_app, director, monkeypatch):
    pid, token, period = director
    held = _calls(live_app, pid)
    with live_app.ctx():
        topic = db.session.scalar(select(Topic).where(Topic.portal_id == pid).order_by(Topic.id))
        chosen = [c for c in held if c.portal_user_id][:3]
        for c in chosen:
            service.choose(pid, c.call_id, topic.id, 1, "card", privileged=True)
        topic_id, topic_name = topic.id, topic.name
    rows = _all(live_app, token, topic=topic_id, **period)
    assert [r["id"] for r in rows] == [c.id for c in chosen]
    assert {r["topic"] for r in rows} == {topic_name}
    page = _get(live_app, token, topic=topic_id, **period).text
    assert page.count('data-testid="call-row"') == 3 and topic_name in page

    with live_app.ctx():
        settings, tz = load(pid), portal_tz(pid)
    # a month or two of working days' hours is read from each call's local time (too many index ranges
    # otherwise), a week or two as ranges of the start-time index: both readings, on the same calls
    for spans_max in (0, 10_000):
        monkeypatch.setattr(call_list, "SPANS_MAX", spans_max)
        for wanted in (("weekend",), ("after_hours",), ("work", "holiday"), ("work",)):
            codes = {call_list.SCENARIOS[w] for w in wanted}
            expected = [c.id for c in held if settings.scenario(c.call_start_date.astimezone(tz)) in codes]
            got = _all(live_app, token, scenario=",".join(wanted), **period)
            assert expected and [r["id"] for r in got] == expected, (wanted, spans_max)
    assert _json(live_app, token, scenario="work,after_hours,weekend,holiday", **period)["total"] == len(held)


def test_sorting_by_talk_time_duration_and_wait_really_orders(installed, live_app, director):
    pid, token, period = director
    rows = _all(live_app, token, sort="-talk", **period)
    talks = [r["talk_seconds"] or 0 for r in rows]
    assert talks == sorted(talks, reverse=True) and talks[0] > talks[-1]
    assert len(rows) == len(_calls(live_app, pid))
    up = [r["talk_seconds"] or 0 for r in _json(live_app, token, sort="talk", **period)["calls"]]
    assert up == sorted(up) and up[0] == 0
    durations = [r["duration_seconds"] for r in _all(live_app, token, sort="-duration", **period)]
    known = [d for d in durations if d is not None]
    assert known == sorted(known, reverse=True) and durations[:len(known)] == known

    # waits are known for calls seen ringing (events), unknown for imported history: unknown last
    now = utcnow().replace(microsecond=0)
    waits = {}
    for i, w in enumerate((7, 42, 19)):
        start = now - timedelta(minutes=30 + i)
        waits[_add(live_app, pid, call_id=f"wait-test-{i}", phone_number=f"+7999555000{i}", call_start_date=start,
                   ring_at=start, answered_at=start + timedelta(seconds=w))] = w
    longest = _json(live_app, token, sort="-wait", **period)["calls"]
    assert [r["id"] for r in longest[:3]] == sorted(waits, key=waits.get, reverse=True)
    assert [r["wait_seconds"] for r in longest[:3]] == [42, 19, 7] and longest[3]["wait_seconds"] is None
    shortest = _json(live_app, token, sort="wait", **period)["calls"]
    assert [r["wait_seconds"] for r in shortest[:3]] == [7, 19, 42]
    html = _get(live_app, token, sort="-talk", **period).text
    assert 'data-testid="sort-talk" aria-sort="descending"' in html
    # the header flips the order; the number search and the filters ride along
    link = re.search(r'data-testid="sort-talk"[^>]*>\s*<a href="([^"]+)"', html).group(1)
    assert "sort=talk" in link and "period=custom" in link


def test_counted_totals_stop_at_the_cap_and_the_aggregates_give_any_total(installed, live_app, director,
                                                                          monkeypatch):
    pid, token, period = director
    held = _calls(live_app, pid)
    monkeypatch.setattr(call_list, "COUNT_CAP", 60)
    # a line filter is counted call by call (the figures hold no info calls per line): up to the cap
    line = next(c.portal_number for c in held if c.portal_number)
    on_line = [c for c in held if c.portal_number == line]
    assert len(on_line) > 130
    body = _json(live_app, token, line=line, **period)
    assert body["total_capped"] is True and body["total"] == 60 and body["has_next"] is True
    assert "Звонков: более 60" in _get(live_app, token, line=line, **period).text
    far = _json(live_app, token, line=line, page=3, **period)
    assert [r["id"] for r in far["calls"]] == [c.id for c in on_line[100:150]] and far["has_next"] is True
    # the whole period, a direction or an outcome: exact from the aggregates, however many
    for params, expected in (({}, held), ({"dir": "outgoing"}, [c for c in held if c.call_type == 1]),
                             ({"outcome": "accepted", "dir": "incoming"},
                              [c for c in held if c.call_type in (2, 3, 4) and c.failed_code == "200"])):
        body = _json(live_app, token, **params, **period)
        assert (body["total"], body["total_capped"]) == (len(expected), False), params
        assert body["pages"] == math.ceil(len(expected) / 50)
    assert _json(live_app, token, outcome="outgoing_failed", dir="incoming", **period)["total"] == 0


def test_a_manager_sees_only_his_calls_and_not_anothers_call(installed, live_app):
    pid = _pid(live_app, installed)
    token, period = _token(installed, live_app, 3), _period(live_app, pid)
    held = _calls(live_app, pid)
    rows = _all(live_app, token, **period)
    assert [r["id"] for r in rows] == [c.id for c in held if c.portal_user_id == 3]
    assert 'Вы видите только свои звонки' in _get(live_app, token, **period).text
    r = _get(live_app, token, user=4, **period)
    assert r.status_code == 403 and CYRILLIC.search(r.text)

    own = next(c for c in held if c.portal_user_id == 3)
    theirs = next(c for c in held if c.portal_user_id == 4 and c.record_file_id)
    nobody = _add(live_app, pid, call_id="no-manager", portal_user_id=None, call_start_date=utcnow(),
                  failed_code="304", conversation=0, duration=0, record_file_id=123)
    assert _get(live_app, token, f"{LIST}/{own.id}").status_code == 200
    for cid in (theirs.id, nobody):
        r = _get(live_app, token, f"{LIST}/{cid}")
        assert r.status_code == 403 and "Этот звонок вам недоступен" in r.text
        r = _get(live_app, token, f"{LIST}/{cid}/record")
        assert r.status_code == 403 and r.json()["key"] == "calls_list.forbidden"
        r = _get(live_app, token, f"{LIST}/{cid}", format="json")
        assert r.status_code == 403 and CYRILLIC.search(r.json()["error"])
    head = _token(installed, live_app, 2)  # the head of sales sees his department's calls
    assert _get(live_app, head, f"{LIST}/{theirs.id}").status_code == 200
    assert _get(live_app, head, f"{LIST}/{nobody}").status_code == 403
    assert _get(live_app, _token(installed, live_app, 1), f"{LIST}/{nobody}").status_code == 200


def test_another_portals_call_is_not_found(installed, live_app, make_sandbox):
    other = make_sandbox(install=True, seed=2, calls_days=3)
    theirs = _calls(live_app, _pid(live_app, other))[0]
    token = _token(installed, live_app, 1)
    for path in (f"{LIST}/{theirs.id}", f"{LIST}/{theirs.id}/record", f"{LIST}/0", f"{LIST}/{10 ** 20}",
                 f"{LIST}/{10 ** 20}/record"):
        r = _get(live_app, token, path)
        assert r.status_code == 404, path
        json_answer = r.headers["Content-Type"].startswith("application/json")
        assert CYRILLIC.search(r.json()["error"] if json_answer else r.text), path
    assert _get(live_app, _token(other, live_app, 1), f"{LIST}/{theirs.id}").status_code == 200


@pytest.mark.parametrize("params", [
    {"phone": "abc"}, {"phone": "12"}, {"phone": "7" * 25}, {"phone": "+7 916 ЗВОНИ"}, {"phone": "٧٩١٦١٢٣٤٥٦٧"},
    {"phone": ["79161234567", "79161234568"]}, {"outcome": "everything"}, {"outcome": ["lost", "missed"]},
    {"sort": "-cost"}, {"sort": "talk;drop"}, {"page": "0"}, {"page": "-1"}, {"page": "x"}, {"period": "forever"},
    {"dir": "sideways"}, {"scenario": "night"}, {"user": "abc"},
])
def test_bad_arguments_are_refused_in_russian(installed, live_app, params):
    token = _token(installed, live_app, 1)
    for fmt in ({}, {"format": "json"}):
        r = requests.get(live_app.url + LIST, params={"ft": token, **params, **fmt}, timeout=30)
        assert r.status_code == 400, (params, r.status_code, r.text[:300])
        text = r.json()["error"] if fmt else r.text
        assert CYRILLIC.search(text)


def test_the_call_page_and_its_recording_with_byte_ranges(installed, live_app):
    pid = _pid(live_app, installed)
    call_id = phone_call(installed, 3, phone="+79991230077", talk=95)
    deadline = time.time() + 20
    while True:
        with live_app.ctx():
            call = db.session.scalar(select(Call).where(Call.portal_id == pid, Call.call_id == call_id))
            setup = db.session.scalar(select(QaSetup).where(QaSetup.portal_id == pid))
            ready = call is not None and call.record_file_id and call.qa_item_id
            db.session.expunge_all()
        if ready or time.time() > deadline:
            break
        time.sleep(0.1)
    assert ready
    token = _token(installed, live_app, 3)
    listed = _json(live_app, token)["calls"][0]
    assert listed["id"] == call.id and listed["has_record"] and listed["talk_seconds"] == 95
    page = _get(live_app, token, listed["url"].split("?")[0])
    assert page.status_code == 200
    assert 'data-testid="call-audio"' in page.text and "Мария Смирнова" in page.text
    assert f'data-open-path="/crm/type/{setup.entity_type_id}/details/{call.qa_item_id}/"' in page.text
    assert "Звонок ещё не оценён" in page.text
    facts = _json(live_app, token, f"{LIST}/{call.id}")["call"]
    assert facts["record_url"] and facts["qa_path"] == f"/crm/type/{setup.entity_type_id}/details/{call.qa_item_id}/"

    record = f"{LIST}/{call.id}/record"
    whole = _get(live_app, token, record)
    assert whole.status_code == 200 and whole.headers["Content-Type"].startswith("audio/")
    assert whole.content[:4] == b"RIFF" and whole.headers["Accept-Ranges"] == "bytes"
    size = len(whole.content)
    part = requests.get(live_app.url + record, params={"ft": token}, headers={"Range": "bytes=0-99"}, timeout=30)
    assert part.status_code == 206 and part.content == whole.content[:100]
    assert part.headers["Content-Range"] == f"bytes 0-99/{size}"
    tail = requests.get(live_app.url + record, params={"ft": token}, headers={"Range": f"bytes={size - 10}-"},
                        timeout=30)
    assert tail.status_code == 206 and tail.content == whole.content[-10:]

    silent = _add(live_app, pid, call_id="no-record", call_start_date=utcnow(), record_file_id=None)
    r = _get(live_app, token, f"{LIST}/{silent}/record")
    assert r.status_code == 404 and CYRILLIC.search(r.json()["error"])
    assert 'data-testid="call-no-record"' in _get(live_app, token, f"{LIST}/{silent}").text


def test_scenario_spans_agree_with_the_one_definition():
    rng = random.Random(7)
    msk = timezone(timedelta(hours=3))
    settings = Settings(schedule={0: (540, 1080), 1: (540, 1080), 2: (600, 1200), 3: (540, 1080), 4: (480, 960),
                                  5: (600, 840), 6: None},
                        russian_holidays=False, holidays=frozenset({date(2026, 12, 9)}),
                        workdays=frozenset({date(2026, 12, 13)}))
    first, last = date(2026, 12, 1), date(2026, 12, 31)
    for wanted in (("work",), ("after_hours",), ("weekend",), ("holiday",), ("work", "weekend")):
        spans = call_list.scenario_spans(settings, first, last, msk, frozenset(wanted))
        codes = {call_list.SCENARIOS[w] for w in wanted}
        start = datetime(2026, 12, 1, tzinfo=msk).astimezone(UTC)
        for _ in range(3000):
            moment = start + timedelta(seconds=rng.randrange(31 * 86400))
            inside = any(a <= moment < b for a, b in spans)
            assert inside == (settings.scenario(moment.astimezone(msk)) in codes), (wanted, moment)
        assert all(a < b for a, b in spans) and all(spans[i][1] < spans[i + 1][0] for i in range(len(spans) - 1))
    # a holiday is one span, a weekend one span: few ranges per day for the index
    assert call_list.scenario_spans(settings, first, last, msk, frozenset({"holiday"})) == [
        (datetime(2026, 12, 8, 21, tzinfo=UTC), datetime(2026, 12, 9, 21, tzinfo=UTC))]


def test_the_pages_speak_english_on_an_english_portal(installed, live_app):
    r = open_placement(installed, live_app, "/b24/reports", user_id=1, placement="CRM_ANALYTICS_MENU", lang="en")
    token = frame_token_from(r.text)
    page = _get(live_app, token)
    assert page.status_code == 200 and "Calls: " in page.text and "Date and time" in page.text
    assert not CYRILLIC.search(re.sub(r"<select.*?</select>|<td.*?</td>", "", page.text, flags=re.S))
    call = _json(live_app, token)["calls"][0]
    assert "Back to the call list" in _get(live_app, token, f"{LIST}/{call['id']}").text
    board = _get(live_app, token, "/b24/analytics/missed")
    assert "Missed calls: this week and last week" in board.text
    assert "The phone number is invalid" in _get(live_app, token, phone="abc").text
