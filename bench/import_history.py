"""Import 250 000 calls from the sandbox portal into the app's database end to end (the history-import
job in a worker process), on SQLite and on PostgreSQL; compare with the rate-bound export bound. The
import marks the days it writes for the analytics recount; the recount it kicks at its end (a job of
another worker in production) is timed on its own afterwards (`recount_after_s`).

Last line: {"sqlite": {"rows_per_s", "share_of_bound", "peak_rss_mb", ...}, "postgresql": {...}}
PostgreSQL is taken from BENCH_DATABASE_URL, else started with scripts/services.sh.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

from common import ROOT, SandboxProcess, emit

WORKER = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from bench.common import SandboxProcess, app_with_portal
info = json.loads(sys.argv[3])
class Known(SandboxProcess):
    def __init__(self, info):
        self.info, self.url, self.proc = info, info["url"], None
sandbox = Known(info)
app = app_with_portal(sandbox, sys.argv[2], B24_RATE_LIMIT=(10.0, 10))
from b24app.calls.history import start_import
from b24app.calls.models import Call, ImportRun
from b24app.extensions import db
from b24app.portals.models import Portal
from b24app.analytics import recount
from b24app.analytics.models import CallStat, StatsDirty
from b24app.calls import store
# In production the recount the import's end kicks is a job another worker runs; here jobs run inline,
# so the kick is held and the recount timed on its own after the import.
kicked = []
store.COMMITTED[:] = [kicked.append]
with app.app_context():
    portal = db.session.query(Portal).one()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    run = start_import(portal, 3650)
    secs = time.perf_counter() - t0
    marked = db.session.query(StatsDirty).count()
    t1 = time.perf_counter()
    for pid in set(kicked):
        recount.refresh(pid, rounds=1000)
    recount_s = time.perf_counter() - t1
    cells = db.session.query(CallStat).count()
    run = db.session.get(ImportRun, run.id)
    n = db.session.query(Call).count()
    distinct = db.session.query(Call.call_id).distinct().count()
print(json.dumps({"seconds": secs, "rows": n, "distinct": distinct, "status": run.status,
                  "days_marked": marked, "recount_s": recount_s, "cells": cells, "kicked": len(kicked),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "rss_before_import_mb": rss0 / 1024}))
"""


def pg_url() -> str:
    url = os.environ.get("BENCH_DATABASE_URL")
    if url:
        return url
    out = subprocess.run(["scripts/services.sh", "start"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    base = dict(line.split("=", 1) for line in out.strip().splitlines())["TEST_DATABASE_URL"]
    server, _ = base.rsplit("/", 1)
    subprocess.run(["psql", f"{server}/postgres", "-c", "CREATE DATABASE cq_bench"], capture_output=True)
    return f"{server}/cq_bench".replace("postgresql://", "postgresql+psycopg://", 1)


def run(db_url: str, sandbox: SandboxProcess, rows: int, bound_rps: float) -> dict:
    sandbox.reset()
    proc = subprocess.run([sys.executable, "-c", WORKER, str(ROOT), db_url, json.dumps(sandbox.info)],
                          cwd=ROOT, capture_output=True, text=True, timeout=1800)
    try:
        out = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": (proc.stderr or "no output").strip().splitlines()[-1][:300]}
    rps = out["rows"] / out["seconds"]
    return {"rows_per_s": round(rps, 1), "share_of_bound": round(rps / bound_rps, 3),
            "peak_rss_mb": round(out["peak_rss_mb"], 1), "rows": out["rows"], "seconds": round(out["seconds"], 2),
            "complete": out["rows"] == rows == out["distinct"] and out["status"] == "done",
            "requests": sandbox.stats().get("http_requests"), "days_marked": out["days_marked"],
            "recount_after_s": round(out["recount_s"], 2), "cells": out["cells"], "kicked": out["kicked"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=250_000)
    args = ap.parse_args()
    rate, burst, latency = 10.0, 10, 0.05
    batches = math.ceil(math.ceil(args.rows / 50) / 50)
    bound_s = max((batches - burst) / rate, latency)
    bound_rps = args.rows / bound_s
    sandbox = SandboxProcess(rows=args.rows, rate=f"{rate:g}/{burst}", latency=latency, call_cost=0.0,
                             calls_days=3000)
    try:
        sqlite_url = f"sqlite:///{tempfile.mkdtemp(prefix='cq-import-')}/bench.db"
        result = {"sqlite": run(sqlite_url, sandbox, args.rows, bound_rps),
                  "postgresql": run(pg_url(), sandbox, args.rows, bound_rps),
                  "bound_rows_per_s": round(bound_rps, 1), "rows": args.rows}
    finally:
        sandbox.stop()
    print(json.dumps(result, ensure_ascii=False), file=sys.stderr)
    emit(result)


if __name__ == "__main__":
    main()
