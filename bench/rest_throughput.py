"""Export `voximplant.statistic.get` from the sandbox portal with our client and with fast_bitrix24, in a
rate-bound and an operating-time-bound scenario; compare both against the computed bound.

Last line: {"rate_bound": {...}, "operating_bound": {...}} (see the platform issue for the keys).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time

from common import ROOT, SandboxProcess, app_with_portal, emit

FAST_B24 = r"""
import asyncio, json, sys, time
from fast_bitrix24 import BitrixAsync
url, rate, pool, slow = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
async def main():
    bx = BitrixAsync(url, verbose=False, requests_per_second=rate, request_pool_size=pool)
    t0 = time.perf_counter()
    if slow:
        with bx.slow(slow):
            rows = await bx.get_all("voximplant.statistic.get")
    else:
        rows = await bx.get_all("voximplant.statistic.get")
    return rows, time.perf_counter() - t0
try:
    rows, secs = asyncio.run(main())
    ids = [int(r["ID"]) for r in rows]
    print(json.dumps({"rows": len(ids), "unique": len(set(ids)), "seconds": secs}))
except Exception as exc:
    print(json.dumps({"error": f"{type(exc).__name__}: {str(exc)[:200]}"}))
"""


def run_ours(sandbox: SandboxProcess, rate: float, burst: int, **config) -> dict:
    from b24app.portals.rest import client_for

    app = app_with_portal(sandbox, B24_RATE_LIMIT=(rate, burst), **config)
    seen: set[int] = set()
    dup = 0

    def on_rows(rows):
        nonlocal dup
        for r in rows:
            i = int(r["ID"])
            dup += i in seen
            seen.add(i)

    sandbox.reset()
    with app.app_context():
        client = client_for(sandbox.info["member_id"])
        t0 = time.perf_counter()
        error = None
        try:
            client.export("voximplant.statistic.get", on_rows=on_rows)
        except Exception as exc:  # recorded, not hidden
            error = f"{type(exc).__name__}: {exc}"[:200]
        secs = time.perf_counter() - t0
    st = sandbox.stats()
    return {"rows": len(seen), "seconds": round(secs, 2), "requests": st.get("http_requests"),
            "duplicates": dup, "http_503": st.get("http_503"), "error": error}


def run_fast_bitrix24(sandbox: SandboxProcess, rate: float, burst: int, slow: int = 0) -> dict:
    sandbox.reset()
    proc = subprocess.run([sys.executable, "-c", FAST_B24, sandbox.info["webhook_url"], str(rate), str(burst),
                           str(slow)],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    try:
        out = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        out = {"error": (proc.stderr or "no output").strip().splitlines()[-1][:200]}
    out["requests"] = sandbox.stats().get("http_requests")
    return out


def scenario(name: str, rows: int, rate: float, burst: int, latency: float, cost: float,
             op_limit: float, op_window: float) -> dict:
    pages = math.ceil(rows / 50)
    batches = math.ceil(pages / 50)
    d = latency + 50 * cost
    t_bucket = max(0.0, (batches - burst) / rate)
    billed = pages * cost
    t_op = op_window * (math.ceil(billed / op_limit) - 1) + d if billed > op_limit else 0.0
    t_min = max(t_bucket, t_op, d)
    sandbox = SandboxProcess(rows=rows, rate=f"{rate:g}/{burst}", latency=latency, call_cost=cost,
                             operating_limit=op_limit, operating_window=op_window)
    try:
        ours = run_ours(sandbox, rate, burst, B24_OPERATING_LIMIT=op_limit, B24_OPERATING_WINDOW=op_window)
        fb = run_fast_bitrix24(sandbox, rate, burst)
        # Its README's advice when the defaults hit the limit: fewer concurrent requests.
        fb_slow = run_fast_bitrix24(sandbox, rate, burst, slow=5)
    finally:
        sandbox.stop()
    ours_rps = ours["rows"] / ours["seconds"] if ours["seconds"] else 0.0
    result = {
        "rows": rows,
        "bound_rows_per_s": round(rows / t_min, 1),
        "bound": {"seconds": round(t_min, 2), "bucket_s": round(t_bucket, 2), "operating_s": round(t_op, 2),
                  "rate": rate, "burst": burst, "latency": latency, "cost_per_page": cost,
                  "operating_limit": op_limit, "operating_window": op_window},
        "ours": {"rows_per_s": round(ours_rps, 1), "requests": ours["requests"],
                 "share_of_bound": round(ours_rps / (rows / t_min), 3),
                 "complete": ours["rows"] == rows and ours["duplicates"] == 0 and not ours["error"],
                 "seconds": ours["seconds"], "http_503": ours["http_503"], "error": ours["error"]},
    }
    if "error" in fb:
        result["fast_bitrix24"] = {"error": fb["error"], "requests": fb.get("requests")}
    else:
        result["fast_bitrix24"] = {"rows_per_s": round(fb["rows"] / fb["seconds"], 1), "requests": fb["requests"],
                                   "complete": fb["rows"] == rows and fb["unique"] == rows,
                                   "seconds": round(fb["seconds"], 2)}
    if "error" in fb_slow:
        result["fast_bitrix24_slow5"] = {"error": fb_slow["error"], "requests": fb_slow.get("requests")}
    else:
        result["fast_bitrix24_slow5"] = {"rows_per_s": round(fb_slow["rows"] / fb_slow["seconds"], 1),
                                         "requests": fb_slow["requests"], "seconds": round(fb_slow["seconds"], 2),
                                         "complete": fb_slow["rows"] == rows and fb_slow["unique"] == rows}
    print(name, json.dumps(result, ensure_ascii=False), file=sys.stderr)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rate-rows", type=int, default=250_000)
    ap.add_argument("--op-rows", type=int, default=50_000)
    ap.add_argument("--only", choices=["rate_bound", "operating_bound"])
    args = ap.parse_args()
    out = {}
    if args.only in (None, "rate_bound"):
        out["rate_bound"] = scenario("rate_bound", args.rate_rows, 10.0, 10, 0.05, 0.0, 480.0, 600.0)
    if args.only in (None, "operating_bound"):
        out["operating_bound"] = scenario("operating_bound", args.op_rows, 10.0, 10, 0.05, 0.02, 5.0, 20.0)
    emit(out)


if __name__ == "__main__":
    main()
