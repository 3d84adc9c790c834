"""CALL_CARD server time: 1 000 placement POSTs (the call popup opening) against a database holding
100 000 calls and ~50 000 chosen topics, on SQLite. Each request is a real placement POST (different
CALL_IDs and phone numbers, one AUTH_ID, so the portal verifies it once and the cache answers after);
nothing is excluded. Server time is taken inside the app (before_request → after_request), the client
time around the in-process test client call. Also times the topic-choice XHR.

Human lines go to stderr; the LAST stdout line is one JSON object
{"calls_in_db", "call_topics_in_db", "requests", "p50_ms", "p90_ms", "p99_ms", "max_ms", ...}. Target: p99 < 100 ms.
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import statistics
import sys
import time
from datetime import timedelta

from common import SandboxProcess, app_with_portal, emit


def log(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p / 100 * len(s) + 0.5)) - 1))]


def fill(app, calls: int, topics_share: float, users: int, seed: int) -> tuple[int, list[tuple[str, str]], int]:
    """Insert `calls` calls and topics for `topics_share` of them; return (portal id, [(call_id, phone)], topics)."""
    from sqlalchemy import insert, select, text

    from b24app.calls.models import Call
    from b24app.extensions import db
    from b24app.models_base import utcnow
    from b24app.portals.models import Portal, PortalUser
    from b24app.topics.models import CallTopic, Topic
    from b24app.topics.service import ensure_defaults, settings_for

    rng = random.Random(seed)
    with app.app_context():
        pid = db.session.query(Portal.id).scalar()
        ensure_defaults(pid)
        settings_for(pid)
        topic_ids = list(db.session.scalars(select(Topic.id).where(Topic.portal_id == pid).order_by(Topic.id)))
        db.session.add_all(PortalUser(portal_id=pid, user_id=u, name=f"Менеджер {u}") for u in range(1, users + 1))
        db.session.commit()
        now = utcnow()
        codes = ["343", "495", "383", "812", "999", "916", "912", "861"]
        made: list[tuple[str, str]] = []
        t0 = time.perf_counter()
        chunk = 10_000
        for start in range(0, calls, chunk):
            rows, chosen = [], []
            for i in range(start, min(calls, start + chunk)):
                call_id = f"externalCall.{i:08x}{rng.getrandbits(64):016x}.{1700000000 + i}"
                phone = f"+7{rng.choice(codes)}{rng.randrange(10 ** 7):07d}"
                user = rng.randint(1, users)
                at = now - timedelta(minutes=rng.randrange(120 * 24 * 60))
                rows.append({"portal_id": pid, "call_id": call_id, "call_type": rng.choice((1, 2)),
                             "phone_number": phone, "portal_number": "+74950000000", "portal_user_id": user,
                             "call_start_date": at, "duration": rng.randrange(0, 600), "failed_code": "200",
                             "failed_reason": "", "crm_entity_type": "", "rest_app_id": "", "ended": True,
                             "enriched": True, "source": "import", "selection": "review",
                             "scored_at": at if rng.random() < 0.1 else None, "created_at": at, "updated_at": at})
                if rng.random() < topics_share:
                    # managers have favourites: a skewed choice of topic per user
                    weights = [1 + ((user + k) % len(topic_ids)) ** 2 for k in range(len(topic_ids))]
                    chosen.append({"portal_id": pid, "call_id": call_id, "source": "card", "chosen_by": user,
                                   "topic_id": rng.choices(topic_ids, weights)[0], "chosen_at": at})
                made.append((call_id, phone))
            db.session.execute(insert(Call.__table__), rows)
            if chosen:
                db.session.execute(insert(CallTopic.__table__), chosen)
            db.session.commit()
            log(f"  inserted {min(calls, start + chunk):>7} calls")
        n_topics = db.session.query(CallTopic).count()
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        log(f"filled {calls} calls and {n_topics} call topics in {time.perf_counter() - t0:.1f} s")
    return pid, made, n_topics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--topics-share", type=float, default=0.5)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    sandbox = SandboxProcess()
    try:
        app = app_with_portal(sandbox, SECRET_KEY="bench-secret", TESTING=False)
        pid, calls, n_topics = fill(app, args.calls, args.topics_share, args.users, args.seed)

        server_ms: list[float] = []

        @app.before_request
        def _start():
            from flask import g
            g._bench_t0 = time.perf_counter()

        @app.after_request
        def _stop(resp):
            from flask import g
            if hasattr(g, "_bench_t0"):
                server_ms.append((time.perf_counter() - g._bench_t0) * 1000)
            return resp

        rng = random.Random(args.seed + 1)
        user_id = 2
        tok = sandbox.tokens(user_id)
        domain = sandbox.url.split("://", 1)[1]
        query = {"DOMAIN": domain, "PROTOCOL": "0", "LANG": "ru", "APP_SID": secrets.token_hex(16)}
        client = app.test_client()
        client_ms: list[float] = []
        statuses: dict[int, int] = {}
        token = None
        log(f"{args.requests} CALL_CARD placement POSTs as user {user_id} ...")
        for n in range(args.requests):
            if rng.random() < 0.8:  # a call from the history (its row and maybe its topic exist) ...
                call_id, phone = rng.choice(calls)
            else:  # ... or a call still ringing, unknown to the app
                call_id, phone = f"externalCall.new{n:06d}.{int(time.time())}", f"+79{rng.randrange(10 ** 9):09d}"
            options = {"CALL_ID": call_id, "PHONE_NUMBER": phone, "LINE_NUMBER": "+74950000000",
                       "LINE_NAME": "Продажи", "CRM_ENTITY_TYPE": "CONTACT", "CRM_ENTITY_ID": str(rng.randint(1, 5000)),
                       "CRM_ACTIVITY_ID": "undefined", "CALL_DIRECTION": rng.choice(("incoming", "outgoing")),
                       "CALL_STATE": rng.choice(("connecting", "connected")), "CALL_LIST_MODE": "false"}
            form = {"AUTH_ID": tok["access_token"], "AUTH_EXPIRES": "3600", "REFRESH_ID": tok["refresh_token"],
                    "SERVER_ENDPOINT": sandbox.info["oauth_url"] + "/rest/", "member_id": sandbox.info["member_id"],
                    "status": "L", "PLACEMENT": "CALL_CARD", "PLACEMENT_OPTIONS": json.dumps(options),
                    "APPLICATION_TOKEN": "bench"}
            t0 = time.perf_counter()
            resp = client.post("/b24/call-card", query_string=query, data=form)
            client_ms.append((time.perf_counter() - t0) * 1000)
            statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1
            if token is None and resp.status_code == 200:
                text = resp.get_data(as_text=True)
                marker = 'name="frame-token" content="'
                at = text.index(marker) + len(marker)
                token = text[at:text.index('"', at)]
            if (n + 1) % 200 == 0:
                log(f"  {n + 1:>5} requests, server p50 {statistics.median(server_ms):.1f} ms")
        page_ms = list(server_ms)

        # The topic choice (XHR with the frame token) on calls that are not scored yet.
        server_ms.clear()
        choose_status: dict[int, int] = {}
        from b24app.extensions import db
        from b24app.topics.models import Topic
        with app.app_context():
            topic_ids = [t for (t,) in db.session.query(Topic.id).filter(Topic.portal_id == pid)]
        for n in range(200):
            r = client.post("/b24/call-card/topic", json={"call_id": f"externalCall.xhr{n:05d}",
                                                          "topic_id": rng.choice(topic_ids)},
                            headers={"X-Frame-Token": token, "Accept": "application/json"})
            choose_status[r.status_code] = choose_status.get(r.status_code, 0) + 1
        choose_ms = list(server_ms)

        log(f"statuses {statuses}; choose statuses {choose_status}")
        result = {
            "calls_in_db": args.calls, "call_topics_in_db": n_topics, "requests": len(page_ms), "database": "sqlite",
            "p50_ms": round(pct(page_ms, 50), 2), "p90_ms": round(pct(page_ms, 90), 2),
            "p99_ms": round(pct(page_ms, 99), 2), "max_ms": round(max(page_ms), 2),
            "first_ms": round(page_ms[0], 2), "client_p99_ms": round(pct(client_ms, 99), 2),
            "statuses": {str(k): v for k, v in statuses.items()},
            "choose_p50_ms": round(pct(choose_ms, 50), 2), "choose_p99_ms": round(pct(choose_ms, 99), 2),
            "target_p99_ms": 100, "ok": pct(page_ms, 99) < 100 and statuses.get(200) == len(page_ms),
        }
    finally:
        sandbox.stop()
    emit(result)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
