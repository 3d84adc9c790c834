"""What the deployment tests share: the sandbox portal and the deployment they bring up, and the checks
that every live call is stored once, completed, and carded once."""

from __future__ import annotations

import requests

from b24app.sandbox.server import SandboxServer
from b24app.sandbox.settings import SandboxSettings

from .harness import Deployment

CLIENT_ID, CLIENT_SECRET = "local.deploy.0001", "deploy-secret"
HISTORY_ROWS = 300


def make_portal(app_url: str, **settings) -> SandboxServer:
    # History inside the app's 90-day import window; limits loose enough that the test waits on the app.
    opts = {"rate": 50.0, "burst": 100, "handler_path": "/b24/app", "rows": HISTORY_ROWS, "calls_days": 60, **settings}
    return SandboxServer(SandboxSettings(app_url=app_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                                         **opts)).start()


def make_deployment(database_url, redis_url, tmp_path, *, env: dict[str, str] | None = None, **kw) -> Deployment:
    return Deployment(database_url, redis_url, log_dir=tmp_path / "logs", env={
        "B24_CLIENT_ID": CLIENT_ID, "B24_CLIENT_SECRET": CLIENT_SECRET, "B24_RATE_LIMIT": "50/100",
        **(env or {})}, **kw)


def sandbox_settings(portal: SandboxServer, **changes) -> dict:
    r = requests.post(f"{portal.url}/_sandbox/settings", json=changes, timeout=10)
    r.raise_for_status()
    return r.json()


def sandbox_stats(portal: SandboxServer) -> dict:
    r = requests.get(f"{portal.url}/_sandbox/stats", timeout=10)
    r.raise_for_status()
    return r.json()


def events_delivered(portal: SandboxServer) -> int:
    return sandbox_stats(portal)["events"]["delivered"]


def settled(dep: Deployment, portal: SandboxServer, events: int, carded: list[str]):
    """Every event delivered, stored and processed; every selected call has its card ID saved."""
    if events_delivered(portal) < events:
        return False
    stored, pending = dep.query("SELECT count(*), count(*) FILTER (WHERE status <> 'done') FROM event_inbox "
                                "WHERE event LIKE 'ONVOXIMPLANTCALL%'")[0]
    if stored < events or pending:
        return False
    with_card = dep.scalar("SELECT count(*) FROM calls WHERE call_id = ANY(:ids) AND qa_item_id > 0", ids=carded)
    return with_card == len(carded)


def calls_settled(dep: Deployment, answered: list[str], missed: list[str]) -> bool:
    """From the database alone (events may have been lost): every live call there, completed with its
    statistics, every answered one with its card ID saved, and no inbox row left unprocessed."""
    live = answered + missed
    done = dep.scalar("SELECT count(*) FROM calls WHERE call_id = ANY(:ids) AND ended AND enriched", ids=live)
    carded = dep.scalar("SELECT count(*) FROM calls WHERE call_id = ANY(:ids) AND qa_item_id > 0", ids=answered)
    pending = dep.scalar("SELECT count(*) FROM event_inbox WHERE status <> 'done'")
    return done == len(live) and carded == len(answered) and pending == 0


def check_calls_and_cards(dep: Deployment, portal: SandboxServer, answered: list[str], missed: list[str],
                          imported: int, *, events: dict[str, int] | None = None) -> None:
    """Each live call once, completed; one card per answered call, none for a missed one, none twice.

    `events`: the CALLINIT/START/END count each stored (default: every event of every live call, once).
    """
    live = answered + missed
    rows = dep.query("SELECT call_id, count(*), bool_and(ended), min(qa_item_id) FROM calls "
                     "WHERE call_id = ANY(:ids) GROUP BY call_id", ids=live)
    assert sorted(r[0] for r in rows) == sorted(live)
    assert all(r[1] == 1 and r[2] for r in rows), rows  # once each, and completed
    assert dep.scalar("SELECT count(*) FROM calls") == imported + len(live)
    if events is None:
        events = {"ONVOXIMPLANTCALLEND": len(live), "ONVOXIMPLANTCALLINIT": len(live),
                  "ONVOXIMPLANTCALLSTART": len(answered)}
    per_event = dep.query("SELECT event, count(*) FROM event_inbox WHERE event LIKE 'ONVOXIMPLANTCALL%' "
                          "GROUP BY event ORDER BY event")
    assert per_event == sorted((k, v) for k, v in events.items() if v)  # each delivered event stored once
    items = dep.qa_items(portal.webhook_url)
    assert {c: len(items.get(c, [])) for c in answered} == dict.fromkeys(answered, 1)  # one card each
    assert not set(items) & set(missed)  # a missed call is not reviewed
    saved = dict(dep.query("SELECT call_id, qa_item_id FROM calls WHERE call_id = ANY(:ids)", ids=answered))
    assert saved == {c: items[c][0] for c in answered}
    # No card anywhere twice, and none the app does not know about.
    assert all(len(v) == 1 for v in items.values())
    assert dep.scalar("SELECT count(*) FROM calls WHERE qa_item_id > 0") == len(items)
