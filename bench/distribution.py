"""Call distribution at scale: the bulk alignment of 20 000 deals and 15 000 contacts against a sandbox portal at
a fixed request rate, compared with the bound that rate sets, and the PBX routing answer read from the index.

Scenario: the sandbox portal in its own process at 10 requests/s, burst 10, 50 ms per request (as
bench/rest_throughput.py), seeded with 20 000 deals in three funnels (1–3 contacts each) and 15 000
contacts whose responsibles mostly differ from their deals'. The app (SQLite) runs a dry run and then
the apply run of `flask responsibles` (the same job). For each: wall seconds, the portal requests it made,
and the bound — the seconds those requests need at that rate after the burst: (requests − burst) / rate;
`share` = bound / seconds (1.0 = as fast as the portal allows). Then the index of every contact is built
and 2 000 routing queries go through GET /api/routing/owner (Flask's test client, rate limits off): p50/p99.
Target: share ≥ 0.85 for both runs; routing p99 < 50 ms.

Human lines go to stderr; the LAST stdout line is one JSON object
{"deals", "contacts", "rate", "dry": {"seconds", "requests", "bound_s", "share", "planned"},
 "apply": {…, "applied", "updated_once"}, "routing": {"contacts", "queries", "p50_ms", "p99_ms"}}.
"""

from __future__ import annotations

import random
import statistics
import sys
import time

import requests
from common import SandboxProcess, app_with_portal, emit

DEALS, CONTACTS, RATE, BURST = 20_000, 15_000, 10.0, 10


def log(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


def portal_requests(sandbox: SandboxProcess) -> int:
    s = sandbox.stats()
    return int(s.get("http_requests", 0))


def run(app, sandbox: SandboxProcess, kind: str) -> dict:
    from flask_babel import force_locale

    from b24app.extensions import db
    from b24app.portals.models import Portal
    from b24app.routing import alignment

    with app.app_context(), app.test_request_context():
        portal = db.session.query(Portal).one()
        before = portal_requests(sandbox)
        started = time.perf_counter()
        with force_locale("ru"):
            record = alignment.record(portal.id, kind)
        alignment.execute(record.id, 0)
        seconds = time.perf_counter() - started
        done = alignment._load((portal.id, record.id))
        made = portal_requests(sandbox) - before
        bound = max(0.0, (made - BURST) / RATE)
        out = {"seconds": round(seconds, 2), "requests": made, "bound_s": round(bound, 2),
               "share": round(bound / seconds, 3) if seconds else None, "planned": done.planned,
               "status": done.status}
        if kind == "apply":
            out["applied"] = done.applied
        log(kind, out)
        return out


def main() -> None:
    sandbox = SandboxProcess(rate=f"{RATE:g}/{BURST}", latency=0.05, rows=0)
    try:
        seeded = requests.post(f"{sandbox.url}/_sandbox/crm/seed",
                               json={"deals": DEALS, "contacts": CONTACTS, "companies": 2000, "seed": 7},
                               timeout=120).json()
        log("seeded", seeded)
        app = app_with_portal(sandbox, B24_RATE_LIMIT=(RATE, BURST), RATE_LIMITS_ENABLED=False)
        from b24app.extensions import db
        from b24app.portals.lifecycle import sync_users
        from b24app.portals.models import Portal
        from b24app.portals.rest import client_for
        from b24app.routing import index, pbx

        with app.app_context():
            portal = db.session.query(Portal).one()
            sync_users(portal, client_for(portal.member_id))
        dry = run(app, sandbox, "dry")
        requests.post(f"{sandbox.url}/_sandbox/crm/stats/reset", timeout=10)
        applied = run(app, sandbox, "apply")
        counts = requests.get(f"{sandbox.url}/_sandbox/crm/stats", timeout=10).json()["contact_updates"]
        applied["updated_once"] = all(n == 1 for n in counts.values()) and len(counts) == applied["applied"]

        with app.app_context():
            portal = db.session.query(Portal).one()
            indexed = index.build(portal)
            key = pbx.new_key(portal.id)
            db.session.commit()
            from b24app.routing.models import ContactPhone

            phones = [p for (p,) in db.session.query(ContactPhone.phone).all()]
        rng = random.Random(3)
        client = app.test_client()
        times = []
        for i in range(2000):
            phone = rng.choice(phones) if i % 10 else f"7999{rng.randrange(10 ** 7):07d}"  # a tenth unknown
            t = time.perf_counter()
            r = client.get("/api/routing/owner", query_string={"phone": "+" + phone},
                           headers={"Authorization": f"Bearer {key}"})
            times.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 200, r.get_data(as_text=True)
        times.sort()
        routing = {"contacts": indexed, "queries": len(times), "p50_ms": round(statistics.median(times), 2),
                   "p99_ms": round(times[int(len(times) * 0.99) - 1], 2)}
        log("routing", routing)
        emit({"deals": DEALS, "contacts": CONTACTS, "rate": f"{RATE:g}/{BURST}", "dry": dry, "apply": applied,
              "routing": routing, "target_share": 0.85, "target_routing_p99_ms": 50})
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()
