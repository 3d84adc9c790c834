"""`flask --app wsgi responsibles --member-id ID [--dry-run]`: the bulk alignment run in place with its
per-manager counts printed, and a clear refusal with a non-zero exit for a portal it cannot run on."""

from __future__ import annotations

import re

from b24app.extensions import db
from b24app.routing.models import AlignmentRun

from .conftest import (
    crm_updates,
    expected_owners,
    owners,
    reset_crm_updates,
    sandbox_rules,
    seed_crm,
    unbind_contact_events,
)


def _cli(live_app, *args):
    return live_app.app.test_cli_runner().invoke(args=["responsibles", *args])


def _seeded(installed, routing_settings) -> int:
    seed_crm(installed, 400, 300)
    unbind_contact_events(installed)
    pid = routing_settings(notify=False)
    reset_crm_updates(installed)
    return pid


def _rows(output: str) -> dict[str, tuple[int, int]]:
    out = {}
    for line in output.splitlines():
        m = re.match(r"^(.*\S)\s+(\d+) → (\d+)\s+\(([+-]\d+)\)$", line)
        if m:
            out[m.group(1)] = (int(m.group(2)), int(m.group(3)))
            assert int(m.group(4)) == int(m.group(3)) - int(m.group(2))
    return out


def test_dry_run_prints_the_counts_and_changes_nothing(installed, live_app, routing_settings):
    _seeded(installed, routing_settings)
    before = owners(installed)
    want = expected_owners(installed, sandbox_rules(installed))
    r = _cli(live_app, "--member-id", installed.member_id, "--dry-run")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert re.match(r"^Сотрудник\s+было → станет$", lines[0])
    rows = _rows(r.output)
    assert len(rows) == len(lines) - 2 > 1
    changing = sum(1 for c in want if want[c] != before[c])
    assert f"сменят ответственного {changing};" in lines[-1] and "ничего не изменено" in lines[-1]
    assert f"контактов по правилам {sum(b for b, _ in rows.values())}," in lines[-1]
    assert sum(b for b, _ in rows.values()) == sum(a for _, a in rows.values())
    assert crm_updates(installed)["contact"] == {} and owners(installed) == before


def test_the_run_sets_the_contacts_and_prints_what_it_changed(installed, live_app, routing_settings):
    pid = _seeded(installed, routing_settings)
    before = owners(installed)
    want = expected_owners(installed, sandbox_rules(installed))
    changing = sum(1 for c in want if want[c] != before[c])
    r = _cli(live_app, "--member-id", installed.member_id)
    assert r.exit_code == 0, r.output
    assert f"запланировано {changing}, изменено {changing}" in r.output.splitlines()[-1]
    assert owners(installed) == want
    assert set(crm_updates(installed)["contact"].values()) == {1}
    with live_app.ctx():
        run = db.session.query(AlignmentRun).filter_by(portal_id=pid).one()
        assert (run.kind, run.status, run.applied) == ("apply", "done", changing)


def test_refuses_an_unknown_portal_and_a_portal_with_a_run_going(installed, live_app, routing_settings):
    r = _cli(live_app, "--member-id", "no-such-portal")
    assert r.exit_code == 1 and "портал с member_id «no-such-portal» не найден" in r.output
    r = _cli(live_app)
    assert r.exit_code == 2 and "--member-id" in r.output
    pid = routing_settings()
    with live_app.ctx():
        db.session.add(AlignmentRun(portal_id=pid, kind="dry", status="running"))
        db.session.commit()
    reset_crm_updates(installed)
    r = _cli(live_app, "--member-id", installed.member_id)
    assert r.exit_code == 1 and "выравнивание уже идёт" in r.output
    with live_app.ctx():
        assert db.session.query(AlignmentRun).filter_by(portal_id=pid).count() == 1
    assert crm_updates(installed)["contact"] == {}
