"""The full report workbook for a quarter: 100 000 calls over the last 3 months (20 managers in two departments,
3 lines, 55 % incoming, 8.5 % of them missed and half of those called back, topics on a third, CRM clients,
QA cards for the answered calls) and 20 000 of them scored (10 % flagged for the team meeting), written in bulk
into a fresh database (SQLite in a temporary directory; PostgreSQL with --database-url) and recounted into the
aggregates as the app keeps them. Then `reports.workbook.build` writes the whole report for the 3 months in a
child process of its own, so its time and peak RSS are the build's alone (the process starts, imports the app
and builds; `seconds` is the build call, `peak_rss_mb` the child's maximum resident size).

Human lines go to stderr; the LAST stdout line is one JSON object {"calls", "seconds", "peak_rss_mb", …}.
Target: under 10 s and 400 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from common import ROOT, emit

TARGET_S, TARGET_MB = 10.0, 400
MANAGERS = tuple(range(2, 22))
LINES = ("+74950000000", "+78120000000", "+78005553535")
CARDS = 5_000_000  # QA card ids of the bulk calls


def log(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


def make_app(url: str):
    from b24app import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url, "JOBS_IMMEDIATE": True, "SECRET_KEY": "bench"})


def fill(url: str, calls: int, scored: int, seed: int) -> dict:
    from sqlalchemy import insert, select, text

    from b24app.analytics import recount
    from b24app.analytics.periods import add_months
    from b24app.calls.models import Call
    from b24app.extensions import db
    from b24app.models_base import utcnow
    from b24app.portals.models import Portal, PortalDepartment, PortalUser
    from b24app.qa import scoring
    from b24app.qa.checklists import current_version
    from b24app.qa.models import Checklist, QaScore, QaSetup
    from b24app.topics.models import CallTopic, Topic
    from b24app.topics.service import ensure_defaults

    rng = random.Random(seed)
    app = make_app(url)
    t0 = time.perf_counter()
    with app.app_context():
        from flask_migrate import upgrade

        if url.startswith("postgresql"):
            with db.engine.begin() as conn:
                conn.exec_driver_sql("DROP SCHEMA public CASCADE")
                conn.exec_driver_sql("CREATE SCHEMA public")
        upgrade(directory=str(ROOT / "migrations"))
        portal = Portal(member_id="bench-excel", domain="bench.bitrix24.ru", protocol=1,
                        client_endpoint="https://bench.bitrix24.ru/rest/", status="active")
        db.session.add(portal)
        db.session.flush()
        pid = portal.id
        db.session.add_all([PortalDepartment(portal_id=pid, department_id=1, name="ООО «Бенч»"),
                            PortalDepartment(portal_id=pid, department_id=2, name="Отдел продаж", parent_id=1,
                                             head_user_id=2),
                            PortalDepartment(portal_id=pid, department_id=3, name="Колл-центр", parent_id=1,
                                             head_user_id=12)])
        db.session.add_all([PortalUser(portal_id=pid, user_id=u, name=f"Менеджер {u:02d}",
                                       departments=[2 if u < 12 else 3]) for u in MANAGERS])
        db.session.add(QaSetup(portal_id=pid, type_id=130, entity_type_id=1030, category_id=7))
        db.session.commit()
        ensure_defaults(pid)
        topics = db.session.scalars(select(Topic).where(Topic.portal_id == pid)).all()
        lists = {}
        for t in topics:
            if t.checklist_id:
                cl = db.session.get(Checklist, t.checklist_id)
                v = current_version(cl)
                lists[t.id] = (cl.id, v.id, v.sections)
        now = utcnow()
        tz = recount.portal_tz(pid)
        today = now.astimezone(tz).date()
        first = add_months(today, -3) + timedelta(days=1)
        start = recount.day_bounds(first, tz)[0]
        span = (now - start).total_seconds()
        clients = [f"+79{rng.randrange(10 ** 9):09d}" for _ in range(30_000)]
        rows: list[dict] = []
        topic_rows: list[dict] = []

        def add(at, call_type, code, duration, phone, user, line):
            at = min(at, now - timedelta(seconds=1))
            n = len(rows)
            ring = at if call_type == 2 and rng.random() < 0.6 else None
            answered = at + timedelta(seconds=rng.randint(2, 45)) if ring and code == "200" else None
            card = code == "200" and duration > 30
            rows.append({"portal_id": pid, "call_id": f"bench.{n:07d}.{rng.getrandbits(40):010x}",
                         "call_type": call_type, "phone_number": phone, "portal_number": line,
                         "portal_user_id": user, "call_start_date": at, "duration": duration,
                         "conversation": duration, "failed_code": code, "failed_reason": "",
                         "crm_entity_type": rng.choice(("CONTACT", "CONTACT", "COMPANY", "LEAD")),
                         "crm_entity_id": rng.randint(1, 50_000), "rest_app_id": "", "ended": True, "enriched": True,
                         "source": "import", "selection": "review" if card else "",
                         "qa_item_id": CARDS + n if card else None,
                         "vote": rng.randint(1, 5) if code == "200" and rng.random() < 0.2 else None,
                         "ring_at": ring, "answered_at": answered, "created_at": at, "updated_at": at})
            if rng.random() < 0.33:
                topic_rows.append({"portal_id": pid, "call_id": rows[-1]["call_id"], "topic_id": rng.choice(topics).id,
                                   "chosen_by": user, "source": "card", "chosen_at": at})

        while len(rows) < calls:
            at = (start + timedelta(seconds=rng.randrange(int(span)))).replace(microsecond=0)
            user, phone, line = rng.choice(MANAGERS), rng.choice(clients), rng.choice(LINES)
            if rng.random() < 0.55:
                if rng.random() < 0.085:
                    add(at, 2, "304", 0, phone, user, line)
                    if rng.random() < 0.5 and len(rows) < calls:
                        add(at + timedelta(seconds=600 + rng.randrange(4 * 3600)), 1, "200",
                            rng.randint(5, 600), phone, user, line)
                    continue
                add(at, 2, "200", rng.randint(3, 1200), phone, user, line)
            else:
                add(at, 1, "486" if rng.random() < 0.12 else "200", rng.randint(3, 1200), phone, user, line)
        rows.sort(key=lambda r: r["call_start_date"])  # the order the import writes calls in
        topic_of = {t["call_id"]: t["topic_id"] for t in topic_rows}
        cards = [r for r in rows if r["qa_item_id"]]
        chosen = rng.sample(cards, min(scored, len(cards)))
        score_rows = []
        for r in chosen:
            tid = topic_of.get(r["call_id"])
            if tid not in lists:
                tid = next(iter(lists))
            cl_id, v_id, sections = lists[tid]
            answers = {k: rng.choices(("yes", "partly", "no"), (6, 1, 1))[0] for k, _it in scoring.items(sections)}
            result = scoring.score(sections, answers)
            done = r["call_start_date"] + timedelta(hours=rng.randint(1, 48))
            score_rows.append({
                "portal_id": pid, "qa_item_id": r["qa_item_id"], "call_id": r["call_id"],
                "manager_id": r["portal_user_id"], "reviewer_id": rng.choice((12, 13)), "calibration_id": 0,
                "checklist_id": cl_id, "version_id": v_id, "status": "submitted", "answers": answers,
                "comments": {}, "comment": "Разобрали звонок", "for_meeting": rng.random() < 0.1,
                "percent": result.percent, "critical_failed": result.critical_failed, "revision": 2,
                "created_at": done, "updated_at": done, "submitted_at": done, "unscorable_reason": ""})
        for i in range(0, len(rows), 10_000):
            db.session.execute(insert(Call.__table__), rows[i:i + 10_000])
        for i in range(0, len(topic_rows), 10_000):
            db.session.execute(insert(CallTopic.__table__), topic_rows[i:i + 10_000])
        for i in range(0, len(score_rows), 5_000):
            db.session.execute(insert(QaScore.__table__), score_rows[i:i + 5_000])
        db.session.commit()
        written = time.perf_counter() - t0
        log(f"{len(rows)} calls, {len(topic_rows)} topics, {len(score_rows)} scores written in {written:.1f} s")
        t1 = time.perf_counter()
        recount.mark_all(pid)
        db.session.commit()
        while recount.refresh(pid, rounds=1000):
            pass
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        log(f"recounted in {time.perf_counter() - t1:.1f} s")
        db.engine.dispose()
    return {"portal_id": pid, "first": first.isoformat(), "last": today.isoformat(), "calls_in_db": len(rows),
            "scored": len(score_rows), "fill_s": round(time.perf_counter() - t0, 1)}


def build_child(url: str, pid: int, first: str, last: str, out: str) -> None:
    """The measured part, in its own process: the app, then one `workbook.build`."""
    from datetime import date

    from b24app.reports import workbook

    app = make_app(url)
    with app.app_context():
        t0 = time.perf_counter()
        built = workbook.build(pid, date.fromisoformat(first), date.fromisoformat(last), out)
        seconds = time.perf_counter() - t0
    print(json.dumps({"calls": built.calls, "seconds": round(seconds, 2), "peak_rss_mb": round(peak_rss_mb(), 1),
                      "sheets": len(built.sheets)}))


def peak_rss_mb() -> float:
    """This process's peak resident size. /proc's VmHWM where there is one: getrusage's maximum is carried over
    exec from the forking parent on Linux (here the parent that filled the database), this process's own is not."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux, bytes on macOS


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database-url", default=None,
                    help="a PostgreSQL URL (default: BENCH_DATABASE_URL if set, else SQLite in a temporary directory)")
    ap.add_argument("--calls", type=int, default=100_000)
    ap.add_argument("--scored", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--child", nargs=5, metavar=("URL", "PORTAL", "FIRST", "LAST", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        url, pid, first, last, out = args.child
        build_child(url, int(pid), first, last, out)
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="cq-excel-"))
    url = args.database_url or os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{tmp / 'bench.db'}"
    if url.startswith("postgresql://"):
        url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        data = fill(url, args.calls, args.scored, args.seed)
        out = tmp / "report.xlsx"
        child = subprocess.run([sys.executable, __file__, "--child", url, str(data["portal_id"]), data["first"],
                                data["last"], str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600)
        if child.returncode != 0:
            log(child.stderr)
            raise SystemExit(f"the build failed ({child.returncode})")
        result = json.loads(child.stdout.strip().splitlines()[-1])
        size_mb = out.stat().st_size / 2 ** 20
        log(f"built {out} ({size_mb:.1f} MB): {result}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    emit({"calls": result["calls"], "seconds": result["seconds"], "peak_rss_mb": result["peak_rss_mb"],
          "scored": data["scored"], "sheets": result["sheets"], "file_mb": round(size_mb, 1),
          "period": [data["first"], data["last"]], "database": url.split(":", 1)[0],
          "fill_s": data["fill_s"], "target_s": TARGET_S, "target_mb": TARGET_MB,
          "ok": result["seconds"] < TARGET_S and result["peak_rss_mb"] < TARGET_MB})
    return 0


if __name__ == "__main__":
    sys.exit(main())
