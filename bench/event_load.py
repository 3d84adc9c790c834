"""Event intake under load: the production shape (Procfile under honcho: gunicorn + two workers, PostgreSQL,
Redis) receiving bursts of CALLINIT / CALLSTART / CALLEND POSTs exactly as Bitrix24 sends them.

Steps: PostgreSQL and Redis (given by BENCH_/TEST_DATABASE_URL and _REDIS_URL, else started by
scripts/services.sh), a fresh database, the deployment on loopback, a sandbox portal in its own process,
the app installed through the portal's install flow. The portal gets the statistics row of each call
(as the real one writes it before CALLEND), then the load generator POSTs the events straight to
/b24/events: form-encoded, `event`, `event_handler_id`, `data[...]`, `ts`, `auth[...]` with the portal's
application token, from a few threads on keep-alive connections (bodies encoded beforehand, so the
client costs little CPU). Calls go in bursts (the INITs of a burst, then its STARTs, then its ENDs),
and a share of events is delivered a second time, as the portal's queue may. Each request is timed
from send to the end of the answer. Then the bench waits for the workers and checks against the
database and the portal: every event stored once, every call once, each selected call's QA card once.

Human lines go to stderr; the LAST stdout line is one JSON object {"events", "acknowledged_per_s",
"p99_ack_ms", "lost", "duplicated", ..., "target", "met"}. Target: >= 500 events/s acknowledged,
p99 < 100 ms, nothing lost, nothing duplicated.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

import psutil
import requests
from common import ROOT, SandboxProcess, emit

from tests.deploy.harness import Deployment, FreshDatabase, wait_until

TARGET = {"acknowledged_per_s": 500, "p99_ack_ms": 100, "lost": 0, "duplicated": 0}
CLIENT_ID, CLIENT_SECRET = "local.bench.0001", "bench-secret"
EVENTS = ("ONVOXIMPLANTCALLINIT", "ONVOXIMPLANTCALLSTART", "ONVOXIMPLANTCALLEND")


def log(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p / 100 * len(s) + 0.5)) - 1))]


def servers() -> tuple[str, str]:
    """PostgreSQL and Redis URLs: given in the environment, else the ones scripts/services.sh starts."""
    db_url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    redis_url = os.environ.get("BENCH_REDIS_URL") or os.environ.get("TEST_REDIS_URL")
    if db_url and db_url.startswith(("postgres://", "postgresql")) and redis_url:
        return db_url, redis_url
    out = subprocess.run([str(ROOT / "scripts" / "services.sh"), "start"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    found = dict(line.split("=", 1) for line in out.split() if "=" in line)
    return found["TEST_DATABASE_URL"], found["TEST_REDIS_URL"]


def make_calls(n: int, rng: random.Random, now: datetime) -> list[dict]:
    """Statistics rows of `n` answered calls: outgoing and incoming, short and long (some selected, some not)."""
    rows = []
    for i in range(n):
        incoming = rng.random() < 0.25  # the default rules review outgoing calls only
        duration = rng.choice((5, 8)) if rng.random() < 0.15 else rng.randint(12, 600)  # under 10 s: not reviewed
        start = now - timedelta(seconds=duration + rng.randint(5, 60))
        rows.append({
            "CALL_ID": f"externalCall.{secrets.token_hex(16)}.{int(start.timestamp())}",
            "CALL_TYPE": "2" if incoming else "1", "PHONE_NUMBER": f"+7{rng.choice(('495', '916', '812'))}"
            f"{rng.randrange(10 ** 7):07d}", "PORTAL_NUMBER": "+74950000000", "PORTAL_USER_ID": str(rng.randint(2, 7)),
            "CALL_DURATION": str(duration), "CALL_START_DATE": start.isoformat(timespec="seconds"),
            "CALL_FAILED_CODE": "200", "COST": "0.0000", "COST_CURRENCY": "RUR", "CALL_VOTE": rng.randint(1, 5),
            "RECORD_FILE_ID": 900000 + i, "RECORD_DURATION": str(duration),
        })
    return rows


def selected(row: dict) -> bool:
    return row["CALL_TYPE"] == "1" and int(row["CALL_DURATION"]) >= 10


def event_body(name: str, row: dict, handler_id: str, auth: dict, ts: int) -> bytes:
    """The form the portal POSTs (REST-FACTS §3.2-3.3): event, event_handler_id, data[…], ts, auth[…]."""
    if name == "ONVOXIMPLANTCALLINIT":
        data = {"CALL_ID": row["CALL_ID"], "CALL_TYPE": row["CALL_TYPE"], "ACCOUNT_SEARCH_ID": row["PORTAL_NUMBER"],
                "PHONE_NUMBER": row["PHONE_NUMBER"], "CALLER_ID": row["PORTAL_NUMBER"]}
    elif name == "ONVOXIMPLANTCALLSTART":
        data = {"CALL_ID": row["CALL_ID"], "USER_ID": row["PORTAL_USER_ID"]}
    else:
        data = {k: row[k] for k in ("CALL_ID", "CALL_TYPE", "PHONE_NUMBER", "PORTAL_NUMBER", "PORTAL_USER_ID",
                                    "CALL_DURATION", "CALL_START_DATE", "COST", "COST_CURRENCY", "CALL_FAILED_CODE")}
        data.update({"CALL_FAILED_REASON": "Успешный звонок", "CRM_ACTIVITY_ID": "0"})
    pairs = [("event", name), ("event_handler_id", handler_id)]
    pairs += [(f"data[{k}]", v) for k, v in data.items()]
    pairs.append(("ts", str(ts)))
    pairs += [(f"auth[{k}]", v) for k, v in auth.items()]
    return urlencode(pairs).encode()


class LoadGenerator:
    """`threads` keep-alive connections, each taking the next body from one shared list, timing each request."""

    def __init__(self, url: str, bodies: list[bytes], threads: int):
        parts = urlsplit(url)
        self.host, self.port, self.bodies, self.threads = parts.hostname, parts.port, bodies, threads
        self.latency = [0.0] * len(bodies)
        self.status = [0] * len(bodies)
        self.duplicate = [False] * len(bodies)
        self._next = iter(range(len(bodies)))
        self._lock = threading.Lock()
        self.reconnects = 0

    def _take(self) -> int | None:
        with self._lock:
            return next(self._next, None)

    def _run(self) -> None:
        headers = {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "Bitrix24 Webhook Engine",
                   "Connection": "keep-alive"}
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        while (i := self._take()) is not None:
            for attempt in (1, 2):  # a keep-alive connection the server closed is reopened once
                t0 = time.perf_counter()
                try:
                    conn.request("POST", "/b24/events", body=self.bodies[i], headers=headers)
                    resp = conn.getresponse()
                    body = resp.read()
                except (http.client.HTTPException, OSError):
                    conn.close()
                    conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                    with self._lock:
                        self.reconnects += 1
                    if attempt == 2:
                        self.status[i] = -1
                    continue
                self.latency[i] = time.perf_counter() - t0
                self.status[i] = resp.status
                self.duplicate[i] = b'"duplicate":true' in body
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
                break
        conn.close()

    def run(self) -> float:
        workers = [threading.Thread(target=self._run, name=f"load-{k}") for k in range(self.threads)]
        t0 = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        return time.perf_counter() - t0


def cpu_by_pid() -> dict[int, float]:
    out = {}
    for p in psutil.process_iter():
        try:
            t = p.cpu_times()
            out[p.pid] = t.user + t.system
        except psutil.Error:
            pass
    return out


def process_groups(dep: Deployment, portal: SandboxProcess) -> dict[str, list[psutil.Process]]:
    """Who used the CPU: each Procfile process (with its children), PostgreSQL, Redis, the portal, honcho.

    Taken after the burst, so processes started during it (new database connections) count too.
    """
    groups = {name: dep.group(name) for name in dep.pids()}
    named = list(psutil.process_iter(["name"]))
    groups["postgres"] = [p for p in named if p.info["name"] in ("postgres", "postmaster")]
    groups["redis"] = [p for p in named if p.info["name"] == "redis-server"]
    groups["portal"] = [psutil.Process(portal.proc.pid)]
    if dep.honcho_pid is not None:  # honcho and its relaying processes share its session
        groups["honcho"] = [p for p in named if _sid(p) == dep.honcho_pid]
    return groups


def _sid(p: psutil.Process) -> int | None:
    try:
        return os.getsid(p.pid)
    except OSError:
        return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=1000, help="calls; each sends CALLINIT, CALLSTART and CALLEND")
    ap.add_argument("--burst", type=int, default=100, help="calls per burst")
    ap.add_argument("--threads", type=int, default=8, help="load generator connections")
    ap.add_argument("--redeliver", type=float, default=0.02, help="share of events delivered a second time")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the workers")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)

    db_server, redis_server = servers()
    parts = urlsplit(redis_server)
    redis_url = urlunsplit(parts._replace(path=f"/{1 + secrets.randbelow(15)}"))  # not the tests' db 0
    log_dir = Path(tempfile.mkdtemp(prefix="cq-event-load-"))
    database = FreshDatabase(db_server, prefix="cq_bench_events")
    # The REST limit is not what is measured: loose on both sides, so processing waits on the app only.
    dep = Deployment(database.url, redis_url, supervisor="honcho", log_dir=log_dir, env={
        "B24_CLIENT_ID": CLIENT_ID, "B24_CLIENT_SECRET": CLIENT_SECRET, "B24_RATE_LIMIT": "200/400"})
    portal = SandboxProcess(app_url=dep.url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, rate="200/400",
                            handler_path="/b24/app", rows=50, calls_days=30)
    result: dict = {}
    try:
        log(f"deployment on {dep.url} (logs in {log_dir}), portal {portal.url}")
        dep.start()
        dep.install(portal.url)
        dep.wait_import_done()
        history = dep.scalar("SELECT count(*) FROM calls")

        tok = portal.tokens(1)
        auth = {"access_token": tok["access_token"], "expires_in": str(tok["expires_in"]), "scope": tok["scope"],
                "domain": tok["domain"], "server_endpoint": tok["server_endpoint"], "status": "L",
                "client_endpoint": tok["client_endpoint"], "member_id": tok["member_id"],
                "application_token": tok["application_token"]}
        bindings = requests.get(f"{portal.url}/_sandbox/bindings", timeout=10).json()["events"]
        handler = {b["event"]: str(b["id"]) for b in bindings if b["event"] in EVENTS}
        rows = make_calls(args.calls, rng, datetime.now(UTC))
        for k in range(0, len(rows), 250):  # the portal writes each call's statistics row before CALLEND
            requests.post(f"{portal.url}/_sandbox/calls", json={"rows": rows[k:k + 250]},
                          timeout=60).raise_for_status()

        ts = int(time.time())
        bodies, keys = [], []
        for b in range(0, len(rows), args.burst):
            burst = rows[b:b + args.burst]
            for name in EVENTS:
                for row in burst:
                    bodies.append(event_body(name, row, handler[name], auth, ts))
                    keys.append(f"{name}:{row['CALL_ID']}")
        unique = len(bodies)
        # Re-deliveries of events well before the end, so the first delivery has been answered.
        again = sorted(rng.sample(range(int(unique * 0.8)), int(unique * args.redeliver)))
        bodies += [bodies[i] for i in again]

        before = cpu_by_pid()
        cpu_gen0, machine0 = time.process_time(), psutil.cpu_times()
        log(f"sending {unique} events + {len(again)} re-deliveries over {args.threads} connections")
        gen = LoadGenerator(dep.url, bodies, args.threads)
        t_start = time.monotonic()
        elapsed = gen.run()
        cpu = {name: round(sum(cpu_by_pid().get(p.pid, 0.0) - before.get(p.pid, 0.0) for p in procs), 2)
               for name, procs in process_groups(dep, portal).items()}
        cpu_gen = time.process_time() - cpu_gen0
        machine1 = psutil.cpu_times()
        busy = sum(getattr(machine1, f) - getattr(machine0, f) for f in ("user", "system", "nice", "irq", "softirq"))
        total = busy + (machine1.idle - machine0.idle) + (machine1.iowait - machine0.iowait)
        ok = [i for i, s in enumerate(gen.status) if s == 200]
        lat_ms = [gen.latency[i] * 1000 for i in ok]
        log(f"acknowledged {len(ok)}/{len(bodies)} in {elapsed:.2f} s; waiting for the workers")

        call_ids = [r["CALL_ID"] for r in rows]
        want_cards = [r["CALL_ID"] for r in rows if selected(r)]

        def settled():
            stored, pending = dep.query(
                "SELECT count(*), count(*) FILTER (WHERE status <> 'done') FROM event_inbox "
                "WHERE event LIKE 'ONVOXIMPLANTCALL%'")[0]
            carded = dep.scalar("SELECT count(*) FROM calls WHERE qa_item_id > 0")
            return stored >= unique and not pending and carded >= len(want_cards)

        try:
            wait_until(settled, args.timeout, "every event processed and every card made", every=1.0)
            processed_in = time.monotonic() - t_start
        except AssertionError as exc:
            log(str(exc))
            processed_in = None

        stored = dict(dep.query("SELECT dedup_key, count(*) FROM event_inbox WHERE event LIKE 'ONVOXIMPLANTCALL%' "
                                "GROUP BY dedup_key"))
        lost_events = sum(1 for k in keys if k not in stored)
        dup_events = sum(c - 1 for c in stored.values()) + sum(1 for k in stored if k not in set(keys))
        not_done = dep.scalar("SELECT count(*) FROM event_inbox WHERE status <> 'done'")
        per_call = dict(dep.query("SELECT call_id, count(*) FROM calls WHERE call_id = ANY(:ids) GROUP BY call_id",
                                  ids=call_ids))
        lost_calls = sum(1 for c in call_ids if c not in per_call)
        dup_calls = sum(c - 1 for c in per_call.values())
        unended = dep.scalar("SELECT count(*) FROM calls WHERE call_id = ANY(:ids) AND NOT ended", ids=call_ids)
        items = dep.qa_items(portal.info["webhook_url"])
        lost_cards = sum(1 for c in want_cards if not items.get(c))
        dup_cards = sum(len(v) - 1 for v in items.values() if v) + sum(1 for c in items if c not in set(want_cards))
        redelivered_acked_dup = sum(1 for i in range(unique, len(bodies)) if gen.duplicate[i])

        lost = lost_events + lost_calls + lost_cards + (len(bodies) - len(ok))
        duplicated = dup_events + dup_calls + dup_cards
        result = {
            "events": unique, "calls": len(rows), "redelivered": len(again), "posts": len(bodies),
            "threads": args.threads, "burst_calls": args.burst,
            "acknowledged": len(ok), "non_200": len(bodies) - len(ok), "ack_seconds": round(elapsed, 3),
            "acknowledged_per_s": round(len(ok) / elapsed, 1),
            "p50_ack_ms": round(pct(lat_ms, 50), 2), "p90_ack_ms": round(pct(lat_ms, 90), 2),
            "p99_ack_ms": round(pct(lat_ms, 99), 2), "max_ack_ms": round(max(lat_ms), 2),
            "redeliveries_answered_duplicate": redelivered_acked_dup,
            "lost": lost, "duplicated": duplicated,
            "lost_detail": {"events": lost_events, "calls": lost_calls, "cards": lost_cards},
            "duplicated_detail": {"events": dup_events, "calls": dup_calls, "cards": dup_cards},
            "inbox_not_done": not_done, "calls_not_ended": unended,
            "history_calls": history, "cards_expected": len(want_cards), "cards": sum(len(v) for v in items.values()),
            "processed_in_s": round(processed_in, 1) if processed_in is not None else None,
            "cpu_during_burst_s": {**cpu, "load_generator": round(cpu_gen, 2),
                                   "machine_busy_share": round(busy / total, 3) if total else None},
            "cores": psutil.cpu_count(), "reconnects": gen.reconnects,
        }
    finally:
        codes = dep.stop()
        portal.stop()
        orphans = dep.leftovers
        database.drop()
    result.update({"stopped": codes, "orphans": len(orphans), "target": TARGET})
    result["met"] = bool(result.get("events")) and (
        result["acknowledged_per_s"] >= TARGET["acknowledged_per_s"] and result["p99_ack_ms"] < TARGET["p99_ack_ms"]
        and result["lost"] == 0 and result["duplicated"] == 0 and result["processed_in_s"] is not None)
    emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
