"""Key figures, this period and the one before, for 7, 30 and 90 days, for the whole portal and for one
manager, on 100 000 calls over 90 days (the demo's size: 55 % incoming, 8.5 % of them missed, half of
those called back), on SQLite and on PostgreSQL — read two ways in the same run: from the aggregates
the pages read (`cube.with_previous`, `ms`) and from the calls themselves by the reference definitions
(`metrics.with_previous`, `raw_ms`), with a check that both give the same figures. Each time is the
median of 5 runs after one warm-up. Target: under 200 ms for 90 days from the aggregates.

Human lines go to stderr; the LAST stdout line is one JSON object
{"sqlite": {"calls", "ms": {"7": …, "30": …, "90": …}, "manager_ms": {…}, "raw_ms": {…}, "raw_manager_ms": {…},
 "same": true, "lost_90"}, "postgresql": {…}, "target_ms": 200}. PostgreSQL is taken from
BENCH_DATABASE_URL, else started with scripts/services.sh.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta

from common import SandboxProcess, app_with_portal, emit
from import_history import pg_url


def log(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


def fill(app, calls: int, users: int, seed: int) -> int:
    from sqlalchemy import insert, text

    from b24app.calls.models import Call
    from b24app.extensions import db
    from b24app.models_base import utcnow
    from b24app.portals.models import Portal

    rng = random.Random(seed)
    with app.app_context():
        pid = db.session.query(Portal.id).scalar()
        now = utcnow()
        clients = [f"+79{rng.randrange(10 ** 9):09d}" for _ in range(20_000)]
        rows: list[dict] = []

        def add(at, call_type, code, duration, phone, user):
            rows.append({"portal_id": pid, "call_id": f"bench.{len(rows)}.{rng.getrandbits(48):012x}",
                         "call_type": call_type, "phone_number": phone, "portal_number": "+74950000000",
                         "portal_user_id": user, "call_start_date": at, "duration": duration,
                         "conversation": duration, "failed_code": code, "failed_reason": "", "crm_entity_type": "",
                         "rest_app_id": "", "ended": True, "enriched": True, "source": "import", "selection": "",
                         "vote": rng.randint(1, 5) if code == "200" and rng.random() < 0.2 else None,
                         "ring_at": None, "answered_at": None, "created_at": at, "updated_at": at})
            if call_type == 2 and rng.random() < 0.3:  # rung live (CALLINIT/CALLSTART), not imported
                rows[-1]["ring_at"] = at
                rows[-1]["answered_at"] = at + timedelta(seconds=rng.randint(2, 40)) if code == "200" else None

        while len(rows) < calls:
            at = now - timedelta(seconds=rng.randrange(90 * 86400))
            user, phone = rng.randint(1, users), rng.choice(clients)
            if rng.random() < 0.55:
                if rng.random() < 0.085:
                    add(at, 2, "304", 0, phone, user)
                    if rng.random() < 0.55:
                        add(at + timedelta(seconds=600 + rng.randrange(4 * 3600)), 1, "200", rng.randint(5, 600),
                            phone, user)
                    continue
                add(at, 2, "200", rng.randint(3, 1200), phone, user)
            else:
                add(at, 1, "486" if rng.random() < 0.12 else "200", rng.randint(3, 1200), phone, user)
        for start in range(0, len(rows), 10_000):
            db.session.execute(insert(Call.__table__), rows[start:start + 10_000])
        db.session.commit()
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        return pid


def measure(app, pid: int) -> dict:
    from b24app.analytics import cube, metrics, recount
    from b24app.analytics.metrics import ADDITIVE
    from b24app.extensions import db
    from b24app.models_base import utcnow

    out: dict = {"ms": {}, "manager_ms": {}, "raw_ms": {}, "raw_manager_ms": {}, "same": True}
    with app.app_context():
        t0 = time.perf_counter()
        recount.mark_all(pid)
        db.session.commit()
        while recount.refresh(pid, rounds=1000):
            pass
        out["recount_s"] = round(time.perf_counter() - t0, 1)
        tz = recount.portal_tz(pid)
        end = utcnow()
        today = end.astimezone(tz).date()
        for days in (7, 30, 90):
            first = today - timedelta(days=days - 1)
            period = metrics.Period(recount.day_bounds(first, tz)[0], recount.day_bounds(today, tz)[1])
            for key, scope in (("ms", None), ("manager_ms", [3])):
                results = {}
                for way in ("cube", "raw"):
                    times = []
                    for i in range(6):
                        t0 = time.perf_counter()
                        if way == "cube":
                            now, before = cube.with_previous(
                                cube.Query(pid, first, today, users=frozenset(scope) if scope else None), now=end)
                        else:
                            now, before = metrics.with_previous(pid, period, user_ids=scope, now=end)
                        if i:
                            times.append((time.perf_counter() - t0) * 1000)
                        db.session.rollback()
                    out[key if way == "cube" else "raw_" + key][str(days)] = round(statistics.median(times), 1)
                    results[way] = (now, before)
                for a, b in zip(results["cube"], results["raw"], strict=True):
                    out["same"] &= all(abs(getattr(a, n) - getattr(b, n)) < 1e-3 for n in ADDITIVE)
                if days == 90 and scope is None:
                    out["lost_90"], out["recovered_90"], out["incoming_90"] = now.lost, now.recovered, now.incoming
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--calls", type=int, default=100_000)
    ap.add_argument("--users", type=int, default=25)
    args = ap.parse_args()
    sandbox = SandboxProcess()
    result: dict = {"target_ms": 200}
    try:
        for name, url in (("sqlite", f"sqlite:///{tempfile.mkdtemp(prefix='cq-kpi-')}/bench.db"),
                          ("postgresql", pg_url())):
            app = app_with_portal(sandbox, url)
            t0 = time.perf_counter()
            pid = fill(app, args.calls, args.users, seed=11)
            log(f"{name}: {args.calls} calls in {time.perf_counter() - t0:.1f} s")
            result[name] = {"calls": args.calls, **measure(app, pid)}
            log(f"{name}: {result[name]}")
            with app.app_context():
                from b24app.extensions import db
                db.engine.dispose()
    finally:
        sandbox.stop()
    emit(result)


if __name__ == "__main__":
    main()
