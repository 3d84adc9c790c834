"""The reviewer's scoring form under a full database: opening the QA card's tab and submitting a score,
with 100 000 calls (each with its QA card) and 20 000 scored cards for the portal, over real HTTP.

Steps: a fresh database (SQLite in a temporary directory by default; PostgreSQL with --database-url or
TEST_DATABASE_URL), the production shape on loopback (the Procfile's gunicorn with its gthread workers
and two `flask worker` job processes, started by tests/deploy/harness.py), a sandbox portal in its own
process, the app installed through the portal's install flow. Then, straight into the database in
bulk: 100 000 calls with their QA card ids, topics for half of them and for every call the bench
opens, a reviewer assignment per card, 20 000 submitted scores with their history (draft + submit)
and their sent chat notices, two reviewers granted the «qa» role. The cards the bench opens also
exist in the portal's smart process, so the card push after each submit really writes them.

Measured (one reviewer at a time, keep-alive, each request timed from send to the end of the body):
(a) GET /b24/qa/card?item=…&ft=… for a random unscored card (the tab as the form reloads it),
(b) POST /b24/qa/card/<id>/submit with a complete, valid score for that card. The submit answers as
production does: its card push and the manager's message are enqueued (Redis when --redis-url or
TEST_REDIS_URL is given, else the SQLite queue file the app uses without Redis), and the two job
workers run them while the next cards are measured. Afterwards the bench waits for the workers and
checks each measured card's stage and score in the portal.

Human lines go to stderr; the LAST stdout line is one JSON object {"cards", "form_p95_ms",
"submit_p95_ms", ...}. Target: p95 < 150 ms for both.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import secrets
import shutil
import statistics
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

TARGET_MS = 150
CLIENT_ID, CLIENT_SECRET = "local.bench.0001", "bench-secret"
MANAGERS = (2, 3, 4, 6, 7)      # sandbox users who make calls
REVIEWERS = (5, 8)              # granted «qa»; never the manager of the calls they open
FAKE_ITEMS = 5_000_000          # card ids of the bulk calls the bench does not open (not in the portal)


def log(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p / 100 * len(s) + 0.5)) - 1))]


def summary(values: list[float]) -> dict:
    return {"p50_ms": round(pct(values, 50), 2), "p90_ms": round(pct(values, 90), 2),
            "p95_ms": round(pct(values, 95), 2), "p99_ms": round(pct(values, 99), 2),
            "max_ms": round(max(values), 2), "mean_ms": round(statistics.fmean(values), 2)}


def choose_database(arg: str | None) -> str:
    """'sqlite' (or nothing given) is SQLite; a postgres URL (flag, else TEST_DATABASE_URL) is PostgreSQL."""
    url = arg if arg is not None else (os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL"))
    if not url or url == "sqlite":
        return "sqlite"
    if not url.startswith(("postgres://", "postgresql")):
        raise SystemExit(f"--database-url must be 'sqlite' or a PostgreSQL URL, got {url!r}")
    return url


def answer_for(item: dict, rng: random.Random):
    """A valid answer: mostly good, sometimes not, N/A where allowed; critical items rarely fail."""
    scale = item.get("scale") or "yes_partly_no"
    if item.get("na_allowed") and rng.random() < 0.1:
        return "na"
    if item.get("critical") and rng.random() < 0.95:
        return item.get("max_points") if scale == "points" else "yes"
    if scale == "points":
        return rng.randint(0, int(item.get("max_points") or 1))
    if scale == "yes_no":
        return rng.choices(("yes", "no"), (4, 1))[0]
    return rng.choices(("yes", "partly", "no"), (3, 1, 1))[0]


def items_of(sections: list) -> list[tuple[str, dict]]:
    return [(str(it["id"]), it) for sec in sections for it in sec.get("items", [])]


def make_portal_cards(portal: SandboxProcess, setup: dict, n: int, managers: list[int]) -> list[int]:
    """`n` cards in the portal's QA smart process (as the card job makes them), their ids."""
    hook, f = portal.info["webhook_url"], setup["fields"]
    ids = []
    with requests.Session() as s:
        for k in range(n):
            r = s.post(hook + "crm.item.add", json={
                "entityTypeId": setup["entity_type_id"], "useOriginalUfNames": "Y",
                "fields": {"title": f"Звонок {k}", "categoryId": setup["category_id"],
                           "stageId": setup["stages"]["review"], "assignedById": managers[k % len(managers)],
                           f["manager"]: managers[k % len(managers)], f["call_id"]: f"bench.open.{k}"}}, timeout=30)
            r.raise_for_status()
            ids.append(int(r.json()["result"]["item"]["id"]))
    return ids


def fill(app, portal_items: list[int], calls: int, scored: int, topics_share: float, rng: random.Random) -> dict:
    """Bulk rows for the portal: calls with cards, topics, assignments, scores with history and notices, roles."""
    from sqlalchemy import insert, select, text, update

    from b24app.calls.models import Call
    from b24app.extensions import db
    from b24app.models_base import utcnow
    from b24app.portals.models import Portal, PortalUser, RoleGrant
    from b24app.qa import scoring
    from b24app.qa.checklists import current_version
    from b24app.qa.models import Checklist, ChecklistVersion, QaEvent, QaNotice, QaScore
    from b24app.qa.workload import QaAssignment
    from b24app.topics.models import CallTopic, Topic
    from b24app.topics.service import ensure_defaults

    t0 = time.perf_counter()
    with app.app_context():
        pid = db.session.scalar(select(Portal.id))
        ensure_defaults(pid)
        known_users = set(db.session.scalars(select(PortalUser.user_id).where(PortalUser.portal_id == pid)))
        missing = [u for u in (*MANAGERS, *REVIEWERS) if u not in known_users]
        if missing:
            raise RuntimeError(f"the install's directory sync did not bring users {missing}")
        for u in REVIEWERS:
            if not db.session.scalar(select(RoleGrant.id).where(RoleGrant.portal_id == pid, RoleGrant.user_id == u,
                                                                RoleGrant.role == "qa")):
                db.session.add(RoleGrant(portal_id=pid, user_id=u, role="qa", granted_by=1))
        topics = [t for t in db.session.scalars(select(Topic).where(Topic.portal_id == pid)) if t.checklist_id]
        if not topics:
            raise RuntimeError("no topic has a checklist after install")
        lists = {}
        for t in topics:
            cl = db.session.get(Checklist, t.checklist_id)
            v = current_version(cl)
            lists[t.id] = (cl.id, v.id, v.sections)
        db.session.commit()

        now = utcnow()
        n_open = len(portal_items)
        # The opened cards are spread over the whole table (not the newest rows only).
        open_at = set(rng.sample(range(calls), n_open))
        open_iter = iter(portal_items)
        score_at = set(rng.sample([i for i in range(calls) if i not in open_at], scored))
        opened: list[dict] = []
        made_calls = made_topics = made_scores = made_events = 0
        chunk = 5000
        for start in range(0, calls, chunk):
            call_rows, topic_rows, assign_rows, score_rows = [], [], [], []
            for i in range(start, min(calls, start + chunk)):
                is_open = i in open_at
                item_id = next(open_iter) if is_open else FAKE_ITEMS + i
                call_id = f"externalCall.{i:08x}{rng.getrandbits(64):016x}.{1700000000 + i}"
                manager = rng.choice(MANAGERS)
                reviewer = rng.choice(REVIEWERS)
                at = now - timedelta(minutes=rng.randrange(1, 90 * 24 * 60))
                duration = rng.randrange(30, 900)
                call_rows.append({
                    "portal_id": pid, "call_id": call_id, "call_type": rng.choice((1, 1, 1, 2)),
                    "phone_number": f"+79{rng.randrange(10 ** 9):09d}", "portal_number": "+74950000000",
                    "portal_user_id": manager, "call_start_date": at, "duration": duration,
                    "conversation": duration - rng.randrange(0, 20), "failed_code": "200", "failed_reason": "",
                    "record_file_id": 700_000 + i, "crm_entity_type": "CONTACT", "crm_entity_id": rng.randint(1, 5000),
                    "rest_app_id": "", "ended": True, "enriched": True, "source": "import", "selection": "review",
                    "qa_item_id": item_id, "scored_at": None, "created_at": at, "updated_at": at})
                assign_rows.append({"portal_id": pid, "qa_item_id": item_id, "call_id": call_id,
                                    "reviewer_id": reviewer, "reason": "assigned", "week": None, "assigned_at": at})
                topic_id = None
                if is_open or i in score_at or rng.random() < topics_share:
                    topic_id = rng.choice(topics).id
                    topic_rows.append({"portal_id": pid, "call_id": call_id, "topic_id": topic_id,
                                       "chosen_by": manager, "source": "card", "chosen_at": at})
                if is_open:
                    opened.append({"item_id": item_id, "reviewer": reviewer, "manager": manager})
                elif i in score_at:
                    cl_id, v_id, sections = lists[topic_id]
                    answers = {k: answer_for(it, rng) for k, it in items_of(sections)}
                    result = scoring.score(sections, answers)
                    done = at + timedelta(hours=rng.randint(1, 72))
                    call_rows[-1]["scored_at"] = done
                    score_rows.append({
                        "portal_id": pid, "qa_item_id": item_id, "call_id": call_id, "manager_id": manager,
                        "reviewer_id": reviewer, "calibration_id": 0, "checklist_id": cl_id, "version_id": v_id,
                        "status": "submitted", "answers": answers, "comments": {}, "comment": "Разобрали звонок",
                        "for_meeting": rng.random() < 0.1, "percent": result.percent,
                        "critical_failed": result.critical_failed, "revision": 2, "created_at": done,
                        "updated_at": done, "submitted_at": done, "unscorable_reason": ""})
            db.session.execute(insert(Call.__table__), call_rows)
            db.session.execute(insert(QaAssignment.__table__), assign_rows)
            if topic_rows:
                db.session.execute(insert(CallTopic.__table__), topic_rows)
            if score_rows:
                db.session.execute(insert(QaScore.__table__), score_rows)
                by_item = dict(db.session.execute(select(QaScore.qa_item_id, QaScore.id).where(
                    QaScore.portal_id == pid, QaScore.qa_item_id.in_([r["qa_item_id"] for r in score_rows]))).all())
                events, notices = [], []
                for r in score_rows:
                    sid = by_item[r["qa_item_id"]]
                    base = {"portal_id": pid, "qa_item_id": r["qa_item_id"], "score_id": sid,
                            "actor_id": r["reviewer_id"]}
                    events.append({**base, "kind": "draft", "percent": None, "text": "",
                                   "created_at": r["created_at"] - timedelta(minutes=10)})
                    events.append({**base, "kind": "submit", "percent": r["percent"], "text": r["comment"],
                                   "created_at": r["created_at"]})
                    notices.append({"portal_id": pid, "score_id": sid, "kind": "result", "revision": r["revision"],
                                    "user_id": r["manager_id"], "status": "sent", "channel": "bot",
                                    "message_id": sid, "attempts": 1, "last_error": "",
                                    "created_at": r["created_at"], "updated_at": r["created_at"]})
                db.session.execute(insert(QaEvent.__table__), events)
                db.session.execute(insert(QaNotice.__table__), notices)
                made_events += len(events)
            db.session.commit()
            made_calls += len(call_rows)
            made_topics += len(topic_rows)
            made_scores += len(score_rows)
            if (start // chunk) % 4 == 3 or start + chunk >= calls:
                log(f"  {made_calls:>7} calls, {made_topics} topics, {made_scores} scores")
        used = {v for _c, v, _s in lists.values()}
        db.session.execute(update(ChecklistVersion).where(ChecklistVersion.id.in_(used)).values(used=True))
        db.session.commit()
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        totals = {
            "calls_in_db": db.session.scalar(select(db.func.count()).select_from(Call).where(Call.portal_id == pid)),
            "cards_in_db": db.session.scalar(select(db.func.count()).select_from(Call).where(
                Call.portal_id == pid, Call.qa_item_id > 0)),
            "scored_in_db": db.session.scalar(select(db.func.count()).select_from(QaScore).where(
                QaScore.portal_id == pid, QaScore.status == "submitted")),
            "history_events_in_db": db.session.scalar(select(db.func.count()).select_from(QaEvent)),
            "call_topics_in_db": db.session.scalar(select(db.func.count()).select_from(CallTopic)),
        }
    log(f"filled in {time.perf_counter() - t0:.1f} s: {totals}")
    return {"portal_id": pid, "opened": opened, "fill_s": round(time.perf_counter() - t0, 1), **totals}


def form_queries(app, portal_id: int, cards: list[dict], top: int = 3) -> list[dict]:
    """The statements the form's service runs for one card (`review.load`, `history_for`), slowest first.

    Run in this process against the filled database, so a slow statement shows with its plan in every run.
    """
    from sqlalchemy import event

    from b24app.extensions import db
    from b24app.portals.frame import Viewer
    from b24app.qa import history, review

    seen: dict[str, dict] = {}

    def before(conn, cursor, statement, params, context, many):
        context._bench_t0 = time.perf_counter()

    def after(conn, cursor, statement, params, context, many):
        row = seen.setdefault(statement, {"ms": [], "params": params})
        row["ms"].append((time.perf_counter() - context._bench_t0) * 1000)

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", before)
        event.listen(db.engine, "after_cursor_execute", after)
        try:
            for c in cards:
                viewer = Viewer(portal_id, "", c["reviewer"], "", False, frozenset({"qa"}), "ru")
                review.load(viewer, c["item_id"])
                history.history_for(portal_id, c["item_id"])
                db.session.rollback()
        finally:
            event.remove(db.engine, "before_cursor_execute", before)
            event.remove(db.engine, "after_cursor_execute", after)
        out = []
        sqlite = db.engine.dialect.name == "sqlite"
        for stmt, row in sorted(seen.items(), key=lambda kv: -statistics.fmean(kv[1]["ms"]))[:top]:
            with db.engine.connect() as conn:
                plan = conn.exec_driver_sql(("EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN ") + stmt,
                                            row["params"]).all()
            out.append({"mean_ms": round(statistics.fmean(row["ms"]), 2), "per_card": len(row["ms"]) / len(cards),
                        "sql": " ".join(stmt.split())[:90] + " … WHERE " + " ".join(stmt.split()).rsplit(" WHERE ", 1)[-1][:160],
                        "plan": " | ".join(str(r[-1]) for r in plan)[:300]})
        db.engine.dispose()
    return out


def frame_tokens(url: str, portal: SandboxProcess, entity_type_id: int, item_id: int) -> dict[int, str]:
    """Each reviewer opens one card's tab as the portal does (placement POST); the page's frame token."""
    out = {}
    for user in REVIEWERS:
        tok = portal.tokens(user)
        form = {"AUTH_ID": tok["access_token"], "AUTH_EXPIRES": "3600", "REFRESH_ID": tok["refresh_token"],
                "SERVER_ENDPOINT": portal.info["oauth_url"] + "/rest/", "member_id": portal.info["member_id"],
                "status": "L", "PLACEMENT": f"CRM_DYNAMIC_{entity_type_id}_DETAIL_TAB",
                "PLACEMENT_OPTIONS": json.dumps({"ID": str(item_id)}), "APPLICATION_TOKEN": ""}
        params = {"DOMAIN": urlsplit(portal.url).netloc, "PROTOCOL": "0", "LANG": "ru",
                  "APP_SID": secrets.token_hex(16)}
        r = requests.post(f"{url}/b24/qa/card", params=params, data=form, timeout=30)
        if r.status_code != 200:
            raise RuntimeError(f"placement POST as user {user}: {r.status_code} {r.text[:300]}")
        marker = 'name="frame-token" content="'
        at = r.text.index(marker) + len(marker)
        out[user] = r.text[at:r.text.index('"', at)]
    return out


CONFIG = re.compile(r'<script type="application/json" id="qa-config">(.*?)</script>', re.S)


def measure(url: str, opened: list[dict], tokens: dict[int, str], warmup: int, rng: random.Random) -> dict:
    """Open each card's form, then submit a complete score for it; warm-up cards are timed but not counted."""
    form_ms, submit_ms, statuses = [], [], {"form": {}, "submit": {}}
    warm: list[float] = []
    errors: list[str] = []
    with requests.Session() as s:
        for n, card in enumerate(opened):
            token = tokens[card["reviewer"]]
            t0 = time.perf_counter()
            r = s.get(f"{url}/b24/qa/card", params={"item": card["item_id"], "ft": token}, timeout=30)
            body = r.text
            t_form = (time.perf_counter() - t0) * 1000
            statuses["form"][r.status_code] = statuses["form"].get(r.status_code, 0) + 1
            m = CONFIG.search(body) if r.status_code == 200 else None
            if m is None:
                errors.append(f"form {card['item_id']}: {r.status_code} {body[:200]}")
                continue
            cfg = json.loads(m.group(1))
            if not cfg.get("editable"):
                errors.append(f"form {card['item_id']}: not editable")
            answers = {k: answer_for(it, rng) for k, it in items_of(cfg["items"])}
            keys = list(answers)
            payload = {"revision": cfg["revision"], "version_id": cfg["versionId"], "answers": answers,
                       "comments": {keys[0]: "Хорошо представился"} if keys else {},
                       "comment": "Звонок разобран, замечания в пунктах.", "for_meeting": rng.random() < 0.1}
            t0 = time.perf_counter()
            r = s.post(f"{url}/b24/qa/card/{card['item_id']}/submit", json=payload,
                       headers={"X-Frame-Token": token}, timeout=30)
            r.content  # noqa: B018  (the body is part of the answer's time)
            t_submit = (time.perf_counter() - t0) * 1000
            statuses["submit"][r.status_code] = statuses["submit"].get(r.status_code, 0) + 1
            if r.status_code != 200:
                errors.append(f"submit {card['item_id']}: {r.status_code} {r.text[:200]}")
            card["submitted"] = r.status_code == 200
            card["percent"] = r.json().get("percent") if r.status_code == 200 else None
            if n < warmup:
                warm += [t_form, t_submit]
                continue
            form_ms.append(t_form)
            submit_ms.append(t_submit)
            if (n + 1) % 100 == 0:
                log(f"  {n + 1:>4} cards: form p50 {statistics.median(form_ms):.1f} ms, "
                    f"submit p50 {statistics.median(submit_ms):.1f} ms")
    return {"form_ms": form_ms, "submit_ms": submit_ms, "warmup_max_ms": round(max(warm), 1) if warm else None,
            "statuses": {k: {str(c): v for c, v in d.items()} for k, d in statuses.items()}, "errors": errors}


def cards_written(portal: SandboxProcess, setup: dict, opened: list[dict]) -> int:
    """How many submitted cards the portal shows at «Оценено» with the score the submit answered."""
    f = setup["fields"]
    want = {c["item_id"]: c["percent"] for c in opened if c.get("submitted")}
    done, start = 0, 0
    while start is not None:
        r = requests.post(portal.info["webhook_url"] + "crm.item.list", json={
            "entityTypeId": setup["entity_type_id"], "useOriginalUfNames": "Y",
            "select": ["id", "stageId", f["score"]], "start": start}, timeout=30)
        r.raise_for_status()
        body = r.json()
        for it in body["result"]["items"]:
            p = want.get(int(it["id"]), "absent")
            if p != "absent" and it["stageId"] == setup["stages"]["done"] and it.get(f["score"]) not in (None, "") \
                    and (p is None or abs(float(it[f["score"]]) - p) < 0.05):
                done += 1
        start = body.get("next")
    return done


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database-url", default=None,
                    help="'sqlite' or a PostgreSQL server URL (default: TEST_DATABASE_URL if set, else SQLite)")
    ap.add_argument("--redis-url", default=None,
                    help="Redis for the job queue (default: TEST_REDIS_URL if set, else the SQLite queue file)")
    ap.add_argument("--calls", type=int, default=100_000)
    ap.add_argument("--scored", type=int, default=20_000)
    ap.add_argument("--samples", type=int, default=300, help="cards opened and submitted (measured)")
    ap.add_argument("--warmup", type=int, default=10, help="cards opened and submitted first, not counted")
    ap.add_argument("--topics-share", type=float, default=0.5)
    ap.add_argument("--drain-timeout", type=float, default=120.0, help="seconds to wait for the card pushes")
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    t_start = time.monotonic()

    db_choice = choose_database(args.database_url)
    redis_server = args.redis_url if args.redis_url is not None else os.environ.get("TEST_REDIS_URL")
    tmp = Path(tempfile.mkdtemp(prefix="cq-bench-scoring-"))
    database = None
    if db_choice == "sqlite":
        database_url = f"sqlite:///{tmp / 'app.db'}"
    else:
        database = FreshDatabase(db_choice, prefix="cq_bench_scoring")
        database_url = database.url
    env = {"B24_CLIENT_ID": CLIENT_ID, "B24_CLIENT_SECRET": CLIENT_SECRET, "B24_RATE_LIMIT": "200/400"}
    redis_url = None
    if redis_server:
        parts = urlsplit(redis_server)
        redis_url = urlunsplit(parts._replace(path=f"/{1 + secrets.randbelow(15)}"))  # not the tests' db 0
        redis.Redis.from_url(redis_url).flushdb()
        queue = "redis"
    else:
        env.update({"REDIS_URL": "", "HUEY_SQLITE_PATH": str(tmp / "jobs.db")})  # "" reads as unset
        queue = "sqlite"
    dep = Deployment(database_url, redis_url or "redis://127.0.0.1:1/0", env=env, log_dir=tmp / "logs")
    portal = SandboxProcess(app_url=dep.url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, rate="200/400",
                            handler_path="/b24/app", rows=50, calls_days=30)
    result: dict = {}
    try:
        log(f"{'SQLite' if database is None else 'PostgreSQL'} {dep.database_url.rsplit('/', 1)[-1]}, "
            f"queue {queue}; deployment on {dep.url} (logs in {dep.log_dir}), portal {portal.url}")
        # Deployment.start() without its Redis flush (a SQLite queue has no Redis): upgrade, then each process.
        dep.release()
        for name in dep.names():
            dep.start_process(name, wait=False)
        for name in dep.names():
            wait_until(lambda n=name: dep.ready(n), 60, f"{name} ready (logs in {dep.log_dir})")
        dep.wait_healthy()
        dep.install(portal.url)
        dep.wait_import_done()
        row = wait_until(lambda: dep.query("SELECT entity_type_id, category_id, stages, fields FROM qa_setup "
                                           "WHERE entity_type_id IS NOT NULL"), 60, "the QA smart process set up")[0]
        setup = {"entity_type_id": row[0], "category_id": row[1],
                 "stages": row[2] if isinstance(row[2], dict) else json.loads(row[2]),
                 "fields": row[3] if isinstance(row[3], dict) else json.loads(row[3])}
        n_cards = args.warmup + args.samples
        t0 = time.perf_counter()
        items = make_portal_cards(portal, setup, n_cards, list(MANAGERS))
        log(f"{n_cards} cards made in the portal in {time.perf_counter() - t0:.1f} s")

        from b24app import create_app

        app = create_app({"SQLALCHEMY_DATABASE_URI": dep.database_url, "JOBS_IMMEDIATE": True, "TESTING": False})
        filled = fill(app, items, args.calls, args.scored, args.topics_share, rng)
        opened = filled.pop("opened")
        rng.shuffle(opened)
        slowest = form_queries(app, filled["portal_id"], opened[:30])
        for q in slowest:
            log(f"  form query {q['mean_ms']} ms x{q['per_card']}: {q['sql']}\n    plan: {q['plan']}")
        tokens = frame_tokens(dep.url, portal, setup["entity_type_id"], opened[0]["item_id"])

        log(f"measuring {args.warmup} warm-up + {args.samples} cards: open the form, submit a score")
        t0 = time.perf_counter()
        m = measure(dep.url, opened, tokens, args.warmup, rng)
        measured_s = time.perf_counter() - t0
        submitted = sum(1 for c in opened if c.get("submitted"))
        t0 = time.perf_counter()
        try:
            wait_until(lambda: cards_written(portal, setup, opened) >= submitted, args.drain_timeout,
                       "every submitted card written to the portal", every=1.0)
        except AssertionError as exc:
            log(str(exc))
        drained_s = time.perf_counter() - t0
        written = cards_written(portal, setup, opened)
        notices = dep.scalar("SELECT count(*) FROM qa_notices WHERE status = 'sent'") - filled["scored_in_db"]
        for e in m["errors"][:10]:
            log("  " + e)
        form, sub = summary(m["form_ms"]), summary(m["submit_ms"])
        result = {
            "database": "sqlite" if database is None else "postgresql", "queue": queue,
            "server": "gunicorn (Procfile: 2 gthread workers x 8 threads) + 2 `flask worker` processes",
            "jobs": "enqueued by the request, run by the workers during the measurement (JOBS_IMMEDIATE=0)",
            **{k: v for k, v in filled.items() if k != "portal_id"},
            "form": form, "submit": sub, "warmup_cards": args.warmup, "warmup_max_ms": m["warmup_max_ms"],
            "statuses": m["statuses"], "errors": len(m["errors"]), "submitted": submitted,
            "cards_written_to_portal": written, "manager_messages_sent": notices,
            "slowest_form_queries": slowest, "measured_s": round(measured_s, 1), "drained_after_s": round(drained_s, 1),
            "total_s": round(time.monotonic() - t_start, 1), "cores": os.cpu_count(),
        }
        log(json.dumps(result, ensure_ascii=False))
    finally:
        dep.stop()
        portal.stop()
        if database is not None:
            database.drop()
        if redis_url:
            try:
                redis.Redis.from_url(redis_url).flushdb()
            except redis.RedisError:
                pass
        shutil.rmtree(tmp, ignore_errors=True)
    if not result:
        return 1
    ok = (not result["errors"] and result["submitted"] == args.samples + args.warmup
          and result["cards_written_to_portal"] == result["submitted"])
    met = ok and result["form"]["p95_ms"] < TARGET_MS and result["submit"]["p95_ms"] < TARGET_MS
    emit({"cards": len(m["form_ms"]), "form_p95_ms": result["form"]["p95_ms"],
          "submit_p95_ms": result["submit"]["p95_ms"], "form_p50_ms": result["form"]["p50_ms"],
          "submit_p50_ms": result["submit"]["p50_ms"], "database": result["database"], "queue": queue,
          "jobs": "queued", "calls_in_db": result["calls_in_db"], "scored_in_db": result["scored_in_db"],
          "target_ms": TARGET_MS, "checks_ok": ok, "met": met})
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
