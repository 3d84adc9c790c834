"""The analytics pages at a million calls: server time of the overview, the employees table and the call
list over a 90-day period, and how fast a call that ends shows up, on SQLite and on PostgreSQL.

Steps per database: the production shape on loopback (the Procfile's gunicorn and two `flask worker`
processes, tests/deploy/harness.py), a sandbox portal in its own process, the app installed through the
portal's install flow (a few days of history imported). Then, straight into the database in bulk:
1 000 000 calls over the last 365 days (20 managers, 3 lines, 55 % incoming, 8.5 % of them missed and
half of those called back, topics on a third), and every day recounted into the aggregates (timed:
`recount_s`). Measured, over real HTTP with keep-alive, each request from send to the end of the body:
30 requests per view after 3 warm-ups, for the last 90 days as JSON (`format=json`, the data behind
the page) and as the HTML page: the overview (/b24/reports), the employees table, the call list
(newest first, and sorted by talk time). `freshness_s`: an incoming call is made in the portal's
telephony simulator; from its hang-up (CALLEND sent) to the overview answering the new incoming
count, polled every 100 ms — 5 calls, the worst is reported.

Human lines go to stderr; the LAST stdout line is one JSON object
{"calls_in_db", "sqlite": {"overview_p95_ms", "employees_p95_ms", "call_list_p95_ms", "freshness_s", …},
 "postgresql": {…}, "target_ms": 200, "target_freshness_s": 5}.
PostgreSQL comes from --database-url / TEST_DATABASE_URL (else it is skipped), Redis from TEST_REDIS_URL.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import redis
import requests
from common import SandboxProcess, emit

from tests.deploy.harness import Deployment, FreshDatabase, wait_until

TARGET_MS, TARGET_FRESH_S = 200, 5.0
CLIENT_ID, CLIENT_SECRET = "local.bench.0001", "bench-secret"
MANAGERS = tuple(range(2, 22))
LINES = ("+74950000000", "+78120000000", "+78005553535")
COLUMNS = ("call_id", "stat_id", "call_type", "phone_number", "portal_number", "portal_user_id", "call_start_date",
           "duration", "failed_code", "failed_reason", "vote", "cost", "record_file_id", "crm_entity_type",
           "crm_entity_id", "crm_activity_id", "rest_app_id", "ended", "enriched", "conversation", "selection",
           "ring_at", "answered_at")


def log(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return round(s[min(len(s) - 1, max(0, int(round(p / 100 * len(s) + 0.5)) - 1))], 1)


def fill(app, calls: int, rng: random.Random) -> dict:
    """1 000 000 calls over a year through the import's bulk writer, topics on a third, then a full recount."""
    from sqlalchemy import insert, select, text

    from b24app.analytics import recount
    from b24app.calls.bulk import CallWriter
    from b24app.extensions import db
    from b24app.models_base import utcnow
    from b24app.portals.models import Portal
    from b24app.topics.models import CallTopic, Topic
    from b24app.topics.service import ensure_defaults

    t0 = time.perf_counter()
    with app.app_context():
        pid = db.session.scalar(select(Portal.id))
        ensure_defaults(pid)
        topics = db.session.scalars(select(Topic.id).where(Topic.portal_id == pid)).all()
        now = utcnow()
        clients = [f"+79{rng.randrange(10 ** 9):09d}" for _ in range(60_000)]
        conn = db.session.connection()
        writer = CallWriter(conn.dialect.name, pid, COLUMNS, update=COLUMNS[1:], source="import")
        rows, topic_rows, made = [], [], 0

        def add(at, call_type, code, duration, phone, user, line):
            nonlocal made
            made += 1
            at = min(at, now)  # a callback of the last hours is not in the future
            ring = at if call_type == 2 and rng.random() < 0.6 else None
            answered = at + timedelta(seconds=rng.randint(2, 45)) if ring and code == "200" else None
            cid = f"bench.{made:07d}.{rng.getrandbits(40):010x}"
            rows.append((cid, 10_000_000 + made, call_type, phone, line, user, at, duration, code, "",
                         rng.randint(1, 5) if code == "200" and rng.random() < 0.2 else None, 0.0,
                         None, "CONTACT", rng.randint(1, 50_000), None, "", True, True, duration, "",
                         ring, answered))
            if rng.random() < 0.33:
                topic_rows.append({"portal_id": pid, "call_id": cid, "topic_id": rng.choice(topics),
                                   "chosen_by": user, "source": "card", "chosen_at": at})

        def flush():
            writer.add(conn, rows)
            writer.flush(conn)
            if topic_rows:
                conn.execute(insert(CallTopic.__table__), topic_rows)
            rows.clear()
            topic_rows.clear()

        # Day by day, oldest first and in time order within a day: the order a portal's statistics (and
        # so the import and the live events) write calls in, which is how they lie in the table.
        per_day = max(1, calls // 365)
        moments: list = []
        while made < calls:
            if not moments:
                day_start = now - timedelta(days=365 - made // per_day)
                moments = sorted((day_start + timedelta(seconds=rng.randrange(86400))).replace(microsecond=0)
                                 for _ in range(per_day))
                moments.reverse()
            at = min(moments.pop(), now)
            user, phone, line = rng.choice(MANAGERS), rng.choice(clients), rng.choice(LINES)
            if rng.random() < 0.55:
                if rng.random() < 0.085:
                    add(at, 2, "304", 0, phone, user, line)
                    if rng.random() < 0.5:
                        add(at + timedelta(seconds=600 + rng.randrange(4 * 3600)), 1, "200",
                            rng.randint(5, 600), phone, user, line)
                    continue
                add(at, 2, "200", rng.randint(3, 1200), phone, user, line)
            else:
                add(at, 1, "486" if rng.random() < 0.12 else "200", rng.randint(3, 1200), phone, user, line)
            if len(rows) >= 20_000:
                flush()
                if made % 200_000 < 20_000:
                    db.session.commit()
                    conn = db.session.connection()
                    log(f"  {made:>9} calls written ({time.perf_counter() - t0:.0f} s)")
        if rows:
            flush()
        db.session.commit()
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        written_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        days = recount.mark_all(pid)
        db.session.commit()
        while recount.refresh(pid, rounds=1000):
            pass
        recount_s = time.perf_counter() - t1
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        total = db.session.execute(text("SELECT count(*) FROM calls WHERE portal_id = :p"), {"p": pid}).scalar()
        cells = db.session.execute(text("SELECT count(*) FROM call_stats WHERE portal_id = :p"), {"p": pid}).scalar()
    log(f"{total} calls in {written_s:.0f} s; {days} days recounted into {cells} cells in {recount_s:.1f} s")
    return {"portal_id": pid, "calls_in_db": total, "fill_s": round(written_s, 1), "recount_s": round(recount_s, 1),
            "days": days, "cells": cells}


def frame_token(url: str, portal: SandboxProcess, user: int = 1) -> str:
    """The CRM analytics tab opened as the portal does (placement POST); the page's frame token."""
    tok = portal.tokens(user)
    form = {"AUTH_ID": tok["access_token"], "AUTH_EXPIRES": "3600", "REFRESH_ID": tok["refresh_token"],
            "SERVER_ENDPOINT": portal.info["oauth_url"] + "/rest/", "member_id": portal.info["member_id"],
            "status": "L", "PLACEMENT": "CRM_ANALYTICS_MENU", "PLACEMENT_OPTIONS": "{}", "APPLICATION_TOKEN": ""}
    params = {"DOMAIN": urlsplit(portal.url).netloc, "PROTOCOL": "0", "LANG": "ru", "APP_SID": secrets.token_hex(16)}
    r = requests.post(f"{url}/b24/reports", params=params, data=form, timeout=60)
    if r.status_code != 200:
        raise RuntimeError(f"placement POST: {r.status_code} {r.text[:300]}")
    marker = 'name="frame-token" content="'
    at = r.text.index(marker) + len(marker)
    return r.text[at:r.text.index('"', at)]


VIEWS = {
    "overview": ("/b24/reports", {}),
    "employees": ("/b24/analytics/employees", {}),
    "call_list": ("/b24/analytics/calls", {}),
    "call_list_by_talk": ("/b24/analytics/calls", {"sort": "-talk"}),
}


def measure(url: str, token: str, first, last, samples: int, warmup: int) -> dict:
    out = {}
    base = {"ft": token, "period": "custom", "from": first.isoformat(), "to": last.isoformat()}
    with requests.Session() as s:
        for name, (path, extra) in VIEWS.items():
            for fmt in ("json", "html"):
                times, codes = [], {}
                for n in range(warmup + samples):
                    params = {**base, **extra, **({"format": "json"} if fmt == "json" else {})}
                    t0 = time.perf_counter()
                    r = s.get(url + path, params=params, timeout=120)
                    r.content  # noqa: B018  (the body is part of the answer's time)
                    ms = (time.perf_counter() - t0) * 1000
                    codes[r.status_code] = codes.get(r.status_code, 0) + 1
                    if n >= warmup:
                        times.append(ms)
                key = name if fmt == "json" else f"{name}_page"
                out[key] = {"p50_ms": pct(times, 50), "p95_ms": pct(times, 95), "max_ms": round(max(times), 1),
                            "statuses": {str(k): v for k, v in codes.items()}}
                log(f"  {key:<24} p50 {out[key]['p50_ms']:>7} ms  p95 {out[key]['p95_ms']:>7} ms  {codes}")
    return out


def incoming_now(s: requests.Session, url: str, token: str) -> int | None:
    r = s.get(url + "/b24/reports", params={"ft": token, "period": "today", "format": "json"}, timeout=30)
    if r.status_code != 200:
        return None
    return find_incoming(r.json())


def find_incoming(body) -> int | None:
    """The overview JSON's incoming count for the period (its tiles list or mapping)."""
    tiles = body.get("tiles") if isinstance(body, dict) else None
    if isinstance(tiles, dict):
        t = tiles.get("incoming")
        return t.get("now") if isinstance(t, dict) else t
    if isinstance(tiles, list):
        for t in tiles:
            if t.get("key") == "incoming":
                return t.get("now")
    return None


def freshness(url: str, token: str, portal: SandboxProcess, calls: int = 5) -> list[float]:
    out = []
    with requests.Session() as s:
        for i in range(calls):
            before = incoming_now(s, url, token)
            if before is None:
                raise RuntimeError("the overview JSON has no incoming count")

            def post(path, body=None):
                r = s.post(f"{portal.url}/_sandbox/phone{path}", json=body or {}, timeout=30)
                r.raise_for_status()
                return r.json()

            cid = post("/start", {"user_id": MANAGERS[i % 3], "phone": f"+7999000{i:04d}", "direction": "incoming"})
            cid = cid["call_id"]
            post(f"/{cid}/answer")
            post(f"/{cid}/hangup", {"talk_seconds": 40})
            t0 = time.perf_counter()
            while (incoming_now(s, url, token) or 0) <= before:
                if time.perf_counter() - t0 > 60:
                    raise RuntimeError("the call did not show up within 60 s")
                time.sleep(0.1)
            out.append(round(time.perf_counter() - t0, 2))
            log(f"  call {i + 1}: visible after {out[-1]} s")
    return out


def run(db_choice: str, calls: int, samples: int, warmup: int, rng: random.Random) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="cq-bench-dashboard-"))
    database = None
    if db_choice == "sqlite":
        database_url = f"sqlite:///{tmp / 'app.db'}"
    else:
        database = FreshDatabase(db_choice, prefix="cq_bench_dashboard")
        database_url = database.url
    env = {"B24_CLIENT_ID": CLIENT_ID, "B24_CLIENT_SECRET": CLIENT_SECRET, "B24_RATE_LIMIT": "200/400"}
    redis_server = os.environ.get("TEST_REDIS_URL")
    redis_url = None
    if redis_server and database is not None:
        parts = urlsplit(redis_server)
        redis_url = urlunsplit(parts._replace(path=f"/{1 + secrets.randbelow(15)}"))
        redis.Redis.from_url(redis_url).flushdb()
    else:
        env.update({"REDIS_URL": "", "HUEY_SQLITE_PATH": str(tmp / "jobs.db")})
    dep = Deployment(database_url, redis_url or "redis://127.0.0.1:1/0", env=env, log_dir=tmp / "logs")
    portal = SandboxProcess(app_url=dep.url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, rate="200/400",
                            handler_path="/b24/app", rows=50, calls_days=3)
    try:
        log(f"{db_choice}: deployment on {dep.url} (logs in {dep.log_dir}), portal {portal.url}")
        dep.release()
        for name in dep.names():
            dep.start_process(name, wait=False)
        for name in dep.names():
            wait_until(lambda n=name: dep.ready(n), 60, f"{name} ready (logs in {dep.log_dir})")
        dep.wait_healthy()
        dep.install(portal.url)
        dep.wait_import_done()
        from b24app import create_app
        from b24app.analytics.recount import portal_tz
        from b24app.extensions import db

        app = create_app({"SQLALCHEMY_DATABASE_URI": dep.database_url, "JOBS_IMMEDIATE": True, "TESTING": False})
        filled = fill(app, calls, rng)
        with app.app_context():
            tz = portal_tz(filled["portal_id"])
            db.session.remove()
        from b24app.models_base import utcnow

        today = utcnow().astimezone(tz).date()
        first = today - timedelta(days=89)
        token = frame_token(dep.url, portal)
        log(f"measuring {warmup} warm-up + {samples} requests per view, {first}..{today}")
        views = measure(dep.url, token, first, today, samples, warmup)
        fresh = freshness(dep.url, token, portal)
        return {**{k: v for k, v in filled.items() if k != "portal_id"}, "views": views,
                "overview_p95_ms": views["overview"]["p95_ms"], "employees_p95_ms": views["employees"]["p95_ms"],
                "call_list_p95_ms": views["call_list"]["p95_ms"], "freshness_s": max(fresh),
                "freshness_each_s": fresh, "queue": "redis" if redis_url else "sqlite"}
    finally:
        dep.stop()
        portal.stop()
        if database is not None:
            database.drop()
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL"),
                    help="a PostgreSQL server URL (default TEST_DATABASE_URL); without it PostgreSQL is skipped")
    ap.add_argument("--calls", type=int, default=1_000_000)
    ap.add_argument("--samples", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--only", choices=("sqlite", "postgresql"), default=None)
    ap.add_argument("--seed", type=int, default=12)
    args = ap.parse_args(argv)
    result: dict = {"calls_in_db": args.calls}
    for name in ("sqlite", "postgresql"):
        if args.only and name != args.only:
            continue
        if name == "postgresql" and not args.database_url:
            log("PostgreSQL skipped: no --database-url / TEST_DATABASE_URL")
            continue
        result[name] = run("sqlite" if name == "sqlite" else args.database_url, args.calls, args.samples,
                           args.warmup, random.Random(args.seed))
        log(json.dumps(result[name], ensure_ascii=False))
    keys = ("overview_p95_ms", "employees_p95_ms", "call_list_p95_ms")
    met = all(result[n][k] < TARGET_MS for n in ("sqlite", "postgresql") if n in result for k in keys) and \
        all(result[n]["freshness_s"] < TARGET_FRESH_S for n in ("sqlite", "postgresql") if n in result)
    summary = {"calls_in_db": result["calls_in_db"]}
    for n in ("sqlite", "postgresql"):
        if n in result:
            r = result[n]
            summary[n] = {k: r[k] for k in (*keys, "freshness_s")} | {
                "overview_page_p95_ms": r["views"]["overview_page"]["p95_ms"],
                "employees_page_p95_ms": r["views"]["employees_page"]["p95_ms"],
                "call_list_page_p95_ms": r["views"]["call_list_page"]["p95_ms"],
                "call_list_by_talk_p95_ms": r["views"]["call_list_by_talk"]["p95_ms"],
                "recount_s": r["recount_s"], "cells": r["cells"], "queue": r["queue"]}
    summary |= {"target_ms": TARGET_MS, "target_freshness_s": TARGET_FRESH_S, "met": met,
                "median_of": "p95 over 30 requests after 3 warm-ups", "cores": os.cpu_count()}
    emit(summary)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
