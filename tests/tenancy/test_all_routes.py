"""Two portals side by side: every route, page and job of one, found in url_map, never reads or touches the other's rows.

Portal B carries data that can be recognised (a topic, a phone number, a role grant, its member_id).
Portal A's admin and manager then call every route with every method, with B's row ids in the URL and
B's call in the placement options; no answer may show B's data, B's rows must stay as they were, and
every SQL statement the app runs on a tenant table while serving A names `portal_id`.
"""

from __future__ import annotations

import hashlib
import re
import threading

import pytest
import requests
from sqlalchemy import event, select

from b24app.calls.history import reconcile
from b24app.extensions import db
from b24app.portals.models import Portal

from ..calls.test_intake import add_stat_row, callend
from ..platform.helpers import fire, frame_token_from, open_placement, portal_row

MARK_TOPIC = "Тайна портала Б"
MARK_PHONE = "+79990004242"


def _tenant_tables():
    return [t for t in db.metadata.sorted_tables if "portal_id" in t.c]


def _rows_of(live_app, portal_id: int) -> str:
    h = hashlib.sha256()
    with live_app.ctx(), db.engine.connect() as conn:
        for t in _tenant_tables():
            for row in conn.execute(select(t).where(t.c.portal_id == portal_id).order_by(*t.primary_key.columns)):
                h.update(repr(tuple(row)).encode())
    return h.hexdigest()


def _ids_of(live_app, portal_id: int) -> list[int]:
    with live_app.ctx():
        return sorted({i for t in _tenant_tables() if "id" in t.c
                       for i in db.session.scalars(select(t.c.id).where(t.c.portal_id == portal_id))})[:40]


class StatementLog:
    """Every SQL statement the app's engine runs while `on` is set (the server answers in other threads)."""

    def __init__(self, engine):
        self.engine, self.on, self.seen, self.lock = engine, False, [], threading.Lock()
        event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, conn, cursor, statement, params, context, executemany):
        if self.on:
            with self.lock:
                self.seen.append(statement)

    def close(self):
        event.remove(self.engine, "before_cursor_execute", self._record)

    def unscoped(self) -> list[str]:
        """Statements on a tenant table that do not name portal_id (by primary key alone, say)."""
        names = [t.name for t in _tenant_tables()]
        out = []
        for sql in self.seen:
            flat = " ".join(sql.split())
            touched = [n for n in names if re.search(rf"\b(FROM|INTO|UPDATE|JOIN)\s+{n}\b", flat, re.I)]
            # The ORM writing back a row it loaded (by a scoped SELECT, checked here too) names only its key.
            flush = re.fullmatch(r"(UPDATE|DELETE FROM) \w+ .*WHERE \w+\.id = (\?|%\(\w+\)s)(::\w+)?", flat)
            if touched and "portal_id" not in flat and not flush:
                out.append(flat[:300])
        return sorted(set(out))


@pytest.fixture
def pair(make_sandbox, live_app):
    a = make_sandbox(install=True, seed=1, calls_days=3)
    b = make_sandbox(install=True, seed=2, calls_days=3)
    tok_b = frame_token_from(open_placement(b, live_app, "/b24/app").text)
    r = requests.post(f"{live_app.url}/b24/topics/catalogue", data={"frame_token": tok_b, "name": MARK_TOPIC,
                                                                   "group": "Секретная группа"}, timeout=30)
    assert r.status_code in (200, 303), r.text
    requests.post(f"{live_app.url}/b24/settings/roles", data={"frame_token": tok_b, "user_id": "2", "role": "qa"},
                  timeout=30).raise_for_status()
    row = add_stat_row(b, CALL_TYPE="2", CALL_DURATION="95", CALL_FAILED_CODE="200", PORTAL_USER_ID="2",
                       PHONE_NUMBER=MARK_PHONE)
    fire(b, "ONVOXIMPLANTCALLEND", callend(row))
    return a, b, row["CALL_ID"]


def _markers(b, live_app) -> list[str]:
    p = portal_row(live_app, b.member_id)
    return [MARK_TOPIC, "Секретная группа", MARK_PHONE, MARK_PHONE[1:], b.member_id, b.url, p.application_token]


def test_no_route_of_one_portal_sees_or_touches_the_others(pair, live_app):
    a, b, b_call = pair
    pid_a, pid_b = portal_row(live_app, a.member_id).id, portal_row(live_app, b.member_id).id
    b_before = _rows_of(live_app, pid_b)
    b_ids, a_ids = _ids_of(live_app, pid_b), _ids_of(live_app, pid_a)
    markers = _markers(b, live_app)
    tokens = {u: frame_token_from(open_placement(a, live_app, "/b24/app", user_id=u).text) for u in (1, 2)}
    with live_app.ctx():
        b_item = db.session.execute(select(db.metadata.tables["calls"].c.qa_item_id).where(
            db.metadata.tables["calls"].c.portal_id == pid_b,
            db.metadata.tables["calls"].c.qa_item_id.isnot(None))).scalar() or 1
        log = StatementLog(db.engine)
    answers = 0
    try:
        log.on = True
        rules = [r for r in live_app.app.url_map.iter_rules() if r.endpoint != "static"]
        for rule in rules:
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                ids = b_ids if "<int:" in rule.rule else [0]
                for row_id in ids[:12] + a_ids[:3]:
                    path = re.sub(r"<int:\w+>", str(row_id), rule.rule)
                    path = re.sub(r"<(?:\w+:)?\w+>", "x", path)
                    for user, token in tokens.items():
                        data = {"frame_token": token, "call_id": b_call, "topic_id": str(row_id), "ids": b_ids[:5],
                                "user_id": "2", "role": "qa", "days": "7", "name": "A"}
                        resp = requests.request(method, live_app.url + path, params={"ft": token, "call_id": b_call},
                                                data=data if method != "GET" else None, timeout=30,
                                                allow_redirects=False)
                        answers += 1
                        assert resp.status_code < 500, f"{method} {path}: {resp.status_code}"
                        leaked = [m for m in markers if m and m in resp.text]
                        assert not leaked, f"{method} {path} as user {user} shows portal B's {leaked}"
        # Placements opened by A's people, naming B's call and B's QA card
        for user in (1, 2):
            for path, placement, options in (
                    ("/b24/call-card", "CALL_CARD", {"CALL_ID": b_call, "PHONE_NUMBER": "+70000000001",
                                                     "CALL_DIRECTION": "incoming"}),
                    ("/b24/qa/card", "CRM_DYNAMIC_1030_DETAIL_TAB", {"ID": str(b_item)}),
                    ("/b24/reports", "CRM_ANALYTICS_MENU", {}), ("/b24/app", "LEFT_MENU", {})):
                resp = open_placement(a, live_app, path, user_id=user, placement=placement, options=options)
                answers += 1
                leaked = [m for m in markers if m and m in resp.text]
                assert resp.status_code < 500 and not leaked, f"{path} as {user}: {resp.status_code} {leaked}"
        # A's jobs: reconcile and a fresh import read and write A's rows only
        with live_app.ctx():
            reconcile(db.session.get(Portal, pid_a))
    finally:
        log.on = False
        log.close()
    assert answers > 100
    assert _rows_of(live_app, pid_b) == b_before, "serving portal A changed portal B's rows"
    assert log.unscoped() == [], "\n".join(log.unscoped())
