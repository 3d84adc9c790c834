"""The missed-calls board on hand-built calls (stored through the intake's upsert, so the aggregates recount):
missed and lost per manager this week against last, coloured by the weekly target, worst first, with the
team's total; every viewer sees every manager's counts, but only the calls of his own scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import requests
from sqlalchemy import select

from b24app.analytics import board as boards
from b24app.analytics import page as analytics_page
from b24app.analytics.models import AnalyticsSettings
from b24app.calls import store
from b24app.calls.models import Call
from b24app.extensions import db
from b24app.portals.models import Portal

from ..platform.helpers import frame_token_from, open_placement

MSK = timezone(timedelta(hours=3))
NOW = datetime(2026, 11, 26, 15, 0, tzinfo=MSK)  # a Thursday afternoon: this week is 23–26 Nov, last 16–22 Nov
BOARD = "/b24/analytics/missed"


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour, 0, tzinfo=MSK).astimezone(UTC)


def missed(n: str, user: int, when: datetime, phone: str) -> dict:
    return {"call_id": f"board-{n}", "call_type": 2, "failed_code": "304", "portal_user_id": user,
            "call_start_date": when, "phone_number": phone, "duration": 0, "conversation": 0, "ended": True}


def answered(n: str, user: int, when: datetime, phone: str, call_type: int = 2) -> dict:
    return {"call_id": f"board-{n}", "call_type": call_type, "failed_code": "200", "portal_user_id": user,
            "call_start_date": when, "phone_number": phone, "duration": 80, "conversation": 80, "ended": True}


CALLS = [
    # Мария Смирнова (3): four missed this week — one called back, one still waiting, two lost; one last week
    missed("m1", 3, at(23, 10), "+79990000001"), answered("cb1", 3, at(23, 11), "+79990000001", call_type=1),
    missed("m2", 3, at(24, 10), "+79990000002"),
    missed("m3", 3, at(26, 14), "+79990000003"),
    missed("m4", 3, at(25, 9), "+79990000004"),
    missed("m5", 3, at(17, 10), "+79990000005"),
    # Алексей Кузнецов (4): one missed this week, three last week (two of them by Thursday)
    missed("a1", 4, at(23, 12), "+79990000011"),
    missed("a2", 4, at(16, 12), "+79990000012"), missed("a3", 4, at(18, 12), "+79990000013"),
    missed("a4", 4, at(21, 12), "+79990000014"),
    # Дмитрий Попов (6): answers everything
    answered("d1", 6, at(24, 10), "+79990000021"), answered("d2", 6, at(25, 10), "+79990000022"),
    # the week before last does not count
    missed("old", 3, at(12, 10), "+79990000031"),
]


@pytest.fixture
def portal(make_sandbox, live_app, monkeypatch):
    """A portal without history, the hand-built calls stored as the intake stores them, the page's clock at NOW."""
    sandbox = make_sandbox(install=True, rows=0)
    with live_app.ctx():
        pid = db.session.scalar(select(Portal.id).where(Portal.member_id == sandbox.member_id))
        assert db.session.scalar(select(db.func.count()).select_from(Call).where(Call.portal_id == pid)) == 0
        for row in CALLS:
            store.upsert(pid, [row], update=tuple(k for k in row if k != "call_id"), source="event")
        ids = dict(db.session.execute(select(Call.call_id, Call.id).where(Call.portal_id == pid)).all())
    monkeypatch.setattr(analytics_page, "utcnow", lambda: NOW.astimezone(UTC))
    return sandbox, pid, {k.removeprefix("board-"): v for k, v in ids.items()}


def _board(sandbox, live_app, user_id: int = 1, **params) -> dict:
    token = frame_token_from(open_placement(sandbox, live_app, "/b24/reports", user_id=user_id,
                                            placement="CRM_ANALYTICS_MENU").text)
    r = requests.get(live_app.url + BOARD, params={"ft": token, "format": "json", **params}, timeout=30)
    assert r.status_code == 200, r.text[:300]
    page = requests.get(live_app.url + BOARD, params={"ft": token, **params}, timeout=30)
    assert page.status_code == 200, page.text[:300]
    return {**r.json(), "html": page.text}


def _set_target(live_app, pid, target):
    with live_app.ctx():
        db.session.add(AnalyticsSettings(portal_id=pid, missed_target=target))
        db.session.commit()


def test_per_manager_counts_against_last_week_and_the_target(portal, live_app):
    sandbox, pid, ids = portal
    _set_target(live_app, pid, 2)
    b = _board(sandbox, live_app)
    assert b["week"] == {"first": "2026-11-23", "last": "2026-11-26"}
    assert b["last_week"] == {"first": "2026-11-16", "last": "2026-11-22"}
    assert b["target"] == 2
    got = [(r["name"], r["missed"], r["lost"], r["awaiting"], r["recovered"], r["missed_last_week"],
            r["lost_last_week"], r["trend"], r["verdict"]) for r in b["rows"]]
    assert got == [
        ("Мария Смирнова", 4, 2, 1, 1, 1, 1, "up", "over"),
        ("Алексей Кузнецов", 1, 1, 0, 0, 3, 3, "down", "within"),
        ("Дмитрий Попов", 0, 0, 0, 0, 0, 0, "same", "within"),
    ]
    t = b["total"]
    assert (t["missed"], t["lost"], t["awaiting"], t["recovered"], t["missed_last_week"], t["lost_last_week"]) == (
        5, 3, 1, 1, 4, 4)
    # awaiting first (the most urgent), then lost newest first; each opens the call
    assert [c["id"] for c in b["awaiting"]] == [ids["m3"]]
    assert b["awaiting"][0]["window_left_seconds"] == 23 * 3600
    assert [c["id"] for c in b["lost"]] == [ids["m4"], ids["m2"], ids["a1"]]
    assert b["lost"][0]["url"].startswith(f"/b24/analytics/calls/{ids['m4']}?")

    html = b["html"]
    assert 'class="over" data-testid="board-row" data-user-id="3" data-verdict="over"' in html
    assert 'class="within" data-testid="board-row" data-user-id="4" data-verdict="within"' in html
    assert "не больше 2 пропущенных" in html and "Вся команда" in html
    assert html.index('data-user-id="3"') < html.index('data-user-id="4"') < html.index('data-user-id="6"')
    assert html.count('data-testid="open-call"') == 4 and "осталось 23 ч 00 мин" in html


def test_without_a_target_rows_are_not_coloured_and_the_settings_are_linked(portal, live_app):
    sandbox, _, _ = portal
    b = _board(sandbox, live_app)
    assert b["target"] is None and {r["verdict"] for r in b["rows"]} == {None}
    assert "Цель не задана" in b["html"]
    assert 'data-testid="board-settings"' in b["html"] and "/b24/app?ft=" in b["html"]
    assert 'class="over"' not in b["html"] and 'class="within"' not in b["html"]


def test_a_manager_sees_every_managers_counts_but_only_his_own_calls(portal, live_app):
    sandbox, pid, ids = portal
    _set_target(live_app, pid, 2)
    director = _board(sandbox, live_app, 1)
    manager = _board(sandbox, live_app, 3)
    for key in ("rows", "total", "target"):
        assert manager[key] == director[key]
    assert [r["user_id"] for r in manager["rows"]] == [3, 4, 6]
    assert [c["id"] for c in manager["awaiting"] + manager["lost"]] == [ids["m3"], ids["m4"], ids["m2"]]
    assert "счётчики выше — по всей команде" in manager["html"]
    other = _board(sandbox, live_app, 6)  # an operator of the call centre: the same board, no calls of his to call back
    assert other["rows"] == director["rows"] and other["awaiting"] == other["lost"] == []
    assert 'data-testid="board-open-empty"' in other["html"]


def test_a_department_filter_narrows_the_board(portal, live_app):
    sandbox, _, ids = portal
    sales = _board(sandbox, live_app, 1, dept=2)
    assert [r["user_id"] for r in sales["rows"]] == [3, 4] and sales["total"]["missed"] == 5
    centre = _board(sandbox, live_app, 1, dept=3)
    assert [r["user_id"] for r in centre["rows"]] == [6] and centre["total"]["missed"] == 0
    assert centre["awaiting"] == centre["lost"] == []
    head = _board(sandbox, live_app, 5, dept=3)  # the head of the call centre, within his department
    assert [r["user_id"] for r in head["rows"]] == [6]
    everyone = _board(sandbox, live_app, 5)      # … and without a filter, the whole team's counts
    assert [r["user_id"] for r in everyone["rows"]] == [3, 4, 6] and everyone["lost"] == []


def test_the_week_starts_on_monday():
    from datetime import date

    assert boards.week_of(date(2026, 11, 26)) == (date(2026, 11, 23), date(2026, 11, 26))
    assert boards.week_of(date(2026, 11, 23)) == (date(2026, 11, 23), date(2026, 11, 23))
    assert boards.week_of(date(2026, 11, 29)) == (date(2026, 11, 23), date(2026, 11, 29))
    assert boards.verdict(3, 2) == "over" and boards.verdict(2, 2) == "within" and boards.verdict(9, None) == ""
