"""Shared fixtures of the call-distribution tests: a seeded sandbox CRM, the portal's routing settings, and
the expected responsibles computed straight from the sandbox's own store (not through the app)."""

from __future__ import annotations

import os
from collections import defaultdict

import pytest
import requests

from b24app.extensions import db
from b24app.models_base import row_for_portal
from b24app.portals.models import Portal
from b24app.routing.models import RoutingSettings
from b24app.routing.portal_crm import to_deal
from b24app.routing.rules import Rules, plan

# The sandbox posts every contact event from a thread of its own, 50 at once after a batch of updates; the app
# under test serves them from the same engine as the job, so the tests give it a pool for such a burst (in a
# deployment the web process and the worker each have their own).
_POOL = {"pool_size": 20, "max_overflow": 100, "pool_timeout": 60}
EVENT_BURST_POOL = {"SQLALCHEMY_ENGINE_OPTIONS": (
    {"pool_pre_ping": True, **_POOL} if os.environ.get("TEST_DATABASE_URL")
    else {"connect_args": {"timeout": 30, "check_same_thread": False}, **_POOL})}


def seed_crm(sandbox, deals: int, contacts: int, companies: int = 0, seed: int = 7) -> dict:
    """POST /_sandbox/crm/seed: deterministic deals in three funnels with 1–3 contacts each, no events."""
    r = requests.post(f"{sandbox.url}/_sandbox/crm/seed", timeout=120,
                      json={"deals": deals, "contacts": contacts, "companies": companies, "seed": seed})
    assert r.status_code == 200, r.text
    return r.json()


def crm_updates(sandbox) -> dict[str, dict[int, int]]:
    """crm.contact.update / crm.company.update per entity since the last reset: {"contact": {id: n}, ...}."""
    body = requests.get(f"{sandbox.url}/_sandbox/crm/stats", timeout=10).json()
    return {"contact": {int(k): v for k, v in body.get("contact_updates", {}).items()},
            "company": {int(k): v for k, v in body.get("company_updates", {}).items()}}


def reset_crm_updates(sandbox) -> None:
    requests.post(f"{sandbox.url}/_sandbox/crm/stats/reset", timeout=10).raise_for_status()


def rest_calls(sandbox, method: str) -> int:
    return int(requests.get(f"{sandbox.url}/_sandbox/stats", timeout=10).json()["rest_calls"].get(method, 0))


def owners(sandbox, kind: str = "CONTACT") -> dict[int, int]:
    """Every contact's (company's) ASSIGNED_BY_ID as the sandbox holds it."""
    crm = sandbox.state.crm
    with crm._lock:
        return {int(i): int(row.get("ASSIGNED_BY_ID") or 0) for i, row in crm.entities[kind].items()}


def expected_owners(sandbox, rules: Rules, head_of=None, entity: str = "contact") -> dict[int, int]:
    """What every contact (company) should end up with, by rules.plan over the sandbox's deals and links."""
    crm = sandbox.state.crm
    with crm._lock:
        deals = [to_deal(row, crm.deal_contacts.get(did) or []) for did, row in crm.entities["DEAL"].items()]
    deals_of = defaultdict(list)
    for d in deals:
        if entity == "contact":
            for c in d.contact_ids:
                deals_of[c].append(d)
        elif d.company_id:
            deals_of[d.company_id].append(d)
    current = owners(sandbox, "CONTACT" if entity == "contact" else "COMPANY")
    out = dict(current)
    for change in plan(deals_of, current, rules, head_of, entity):
        out[change.entity_id] = change.new_user_id
    return out


def sandbox_rules(sandbox, **settings) -> Rules:
    """The rules as the app should derive them: the settings, and the sandbox directory's inactive users."""
    fields = {"categories": [], "stages": [], "winner": "modified", "companies": False, "excluded_users": [],
              "on_excluded": "keep", **settings}
    inactive = [u.id for u in sandbox.state.directory.all_users() if not u.active]
    return Rules.of(type("S", (), fields)(), inactive)


@pytest.fixture
def routing_settings(live_app, installed):
    """set(**fields): write the installed portal's RoutingSettings; returns the portal's ID."""

    def set_fields(**fields) -> int:
        with live_app.ctx():
            pid = db.session.query(Portal.id).filter_by(member_id=installed.member_id).scalar()
            row = row_for_portal(RoutingSettings, pid)
            for k, v in fields.items():
                setattr(row, k, v)
            db.session.commit()
            return pid

    return set_fields


def unbind_contact_events(sandbox) -> int:
    """Take the app's ONCRMCONTACT* bindings off the sandbox: a bulk test that counts the alignment's own
    requests must not share the portal's rate with the index re-reading every contact the run wrote (the
    index's echo handling has tests of its own)."""
    return sandbox.state.remove_events(lambda e: e.event.startswith("ONCRMCONTACT"))
