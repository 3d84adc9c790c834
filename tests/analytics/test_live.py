"""What an open dashboard polls (A9): the portal's recount counter moves when a call made in the sandbox's
telephony simulator is stored, it is read with the page's frame token only, and only the token's portal's."""

from __future__ import annotations

import time

import requests
from sqlalchemy import select

from b24app.analytics import recount
from b24app.calls.models import Call
from b24app.extensions import db
from b24app.portals.models import Portal

from ..platform.helpers import frame_token_from, open_placement
from ..qa.review_helpers import phone_call

MANAGER = 3
THEIRS = 1_000_000  # the other portal's counter, set far from anything this portal's recounts reach


def _pid(live_app, sandbox) -> int:
    with live_app.ctx():
        return db.session.scalar(select(Portal.id).where(Portal.member_id == sandbox.member_id))


def _token(sandbox, live_app, user_id: int = 1) -> str:
    # Any page's frame token (the settings page: it does not depend on the analytics pages' own work)
    r = open_placement(sandbox, live_app, "/b24/app", user_id=user_id)
    assert r.status_code == 200, r.text[:500]
    return frame_token_from(r.text)


def _live(live_app, token: str | None = None, header: bool = False, **params) -> requests.Response:
    if token and not header:
        params["ft"] = token
    headers = {"X-Frame-Token": token} if token and header else {}
    return requests.get(f"{live_app.url}/b24/analytics/live", params=params, headers=headers, timeout=30)


def _theirs(live_app, token: str, **params) -> bool:
    # The other portal may still recount its own install (a late event): its counter only grows from THEIRS.
    return THEIRS <= _live(live_app, token, **params).json()["version"] < THEIRS + 1000


def _wait_for_call(live_app, pid: int, call_id: str) -> None:
    deadline = time.time() + 20
    while time.time() < deadline:
        with live_app.ctx():
            if db.session.scalar(select(Call.id).where(Call.portal_id == pid, Call.call_id == call_id)):
                return
        time.sleep(0.05)
    raise AssertionError("the call was not stored")


def _wait_for_version(live_app, token: str, other_than: int) -> int:
    deadline = time.time() + 20
    while time.time() < deadline:
        v = _live(live_app, token).json()["version"]
        if v != other_than:
            return v
        time.sleep(0.05)
    raise AssertionError("the version did not change")


def test_the_version_moves_when_a_call_is_stored(installed, live_app):
    pid = _pid(live_app, installed)
    token = _token(installed, live_app, MANAGER)  # a manager's dashboard polls too
    r = _live(live_app, token)
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    before = r.json()["version"]
    with live_app.ctx():
        assert before == recount.version(pid) > 0  # the imported history was counted
    assert _live(live_app, token, header=True).json() == {"version": before}
    call_id = phone_call(installed, MANAGER, phone="+79990001122", talk=40, direction="incoming")
    _wait_for_call(live_app, pid, call_id)
    after = _wait_for_version(live_app, token, before)
    assert after > before
    with live_app.ctx():
        assert after <= recount.version(pid)  # later events of the same call may recount again


def test_a_token_reads_only_its_own_portals_version(installed, make_sandbox, live_app):
    other = make_sandbox(install=True, seed=2, calls_days=3)
    pid, other_pid = _pid(live_app, installed), _pid(live_app, other)
    assert pid != other_pid
    mine, theirs = _token(installed, live_app), _token(other, live_app)
    with live_app.ctx():
        db.session.execute(recount.StatsVersion.__table__.update()
                           .where(recount.StatsVersion.portal_id == other_pid).values(version=THEIRS))
        db.session.commit()
        own = recount.version(pid)
    assert own < THEIRS
    for params in ({}, {"portal_id": str(pid)}, {"member_id": installed.member_id}):
        assert _theirs(live_app, theirs, **params)
    call_id = phone_call(installed, MANAGER, phone="+79990003344", talk=40, direction="incoming")
    _wait_for_call(live_app, pid, call_id)
    assert _wait_for_version(live_app, mine, own) > own
    assert _theirs(live_app, theirs)  # still the other portal's counter, never this one's


def test_no_token_no_version(installed, live_app):
    token = _token(installed, live_app)
    for r in (_live(live_app), _live(live_app, "not-a-token"), _live(live_app, token[:-3] + "abc")):
        assert r.status_code == 401 and "version" not in r.text
        assert "Сессия" in r.text  # a Russian message, not a bare error
    r = requests.post(f"{live_app.url}/b24/analytics/live", data={"frame_token": token}, timeout=30)
    assert r.status_code == 405
