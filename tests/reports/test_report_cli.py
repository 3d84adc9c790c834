"""`flask --app wsgi report`: the workbook for a period from the app's database, and every bad input refused with
a clear message, a non-zero exit and no file written."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from b24app.analytics import access, cube
from b24app.analytics.recount import portal_tz
from b24app.extensions import db
from b24app.models_base import utcnow
from b24app.portals.models import Portal

from .test_workbook import SHEETS, figures_of

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _week(live_app, member_id):
    with live_app.ctx():
        pid = db.session.scalar(select(Portal.id).where(Portal.member_id == member_id))
        today = utcnow().astimezone(portal_tz(pid)).date()
    monday = today - timedelta(days=today.weekday() + 7)
    return pid, monday, monday + timedelta(days=6)


def _run(live_app, *args):
    return live_app.app.test_cli_runner().invoke(args=["report", *args])


def test_report_writes_the_workbook(installed, live_app, tmp_path):
    pid, first, last = _week(live_app, installed.member_id)
    out = tmp_path / "week.xlsx"
    r = _run(live_app, "--member-id", installed.member_id, "--from", first.isoformat(), "--to", last.isoformat(),
             "--out", str(out))
    assert r.exit_code == 0, r.output
    wb = load_workbook(out)
    assert wb.sheetnames == SHEETS
    with live_app.ctx():
        f = cube.total(cube.Query(pid, first, last))
    assert figures_of(wb["Сводка"])["Входящие"][0] == f.incoming > 0
    calls = wb["Звонки"].max_row - 5
    lines = r.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0] == lines[0].strip() and f"звонков {calls}," in lines[0] and "листов 10" in lines[0]
    assert str(out) in lines[0]
    assert stat.S_IMODE(os.stat(out).st_mode) & 0o044  # readable by others, as a plainly created file
    assert [p.name for p in tmp_path.iterdir()] == ["week.xlsx"]  # no temporary file left beside it

    # one department (with its sub-departments): only its managers' calls
    dep = tmp_path / "dep.xlsx"
    r = _run(live_app, "--member-id", installed.member_id, "--from", first.isoformat(), "--to", last.isoformat(),
             "--out", str(dep), "--departments", "3")
    assert r.exit_code == 0, r.output
    with live_app.ctx():
        users = access.department_users(pid, (3,))
        f3 = cube.total(cube.Query(pid, first, last, users=users))
    got = figures_of(load_workbook(dep)["Сводка"])
    assert got["Входящие"][0] == f3.incoming < f.incoming
    assert got["Охват"][0] == "Отделы: Колл-центр"


@pytest.mark.parametrize("change, message", [
    ({"--member-id": "no-such-portal"}, "портал с member_id «no-such-portal» не найден"),
    ({"--from": "2026-13-01"}, "дата «2026-13-01» указана неверно"),
    ({"--to": "30.11.2026x"}, "дата «30.11.2026x» указана неверно"),
    ({"--from": "LAST"}, "нужна дата в виде ГГГГ-ММ-ДД"),
    ({"swap": True}, "период задан задом наперёд"),
    ({"--from": "2022-01-01"}, "период не может быть длиннее двух лет"),
    ({"--out": "{tmp}/missing/report.xlsx"}, "папки {tmp}/missing нет"),
    ({"--out": "{tmp}"}, "это папка"),
    ({"--out": "/proc/report.xlsx"}, "в /proc/report.xlsx нельзя записать"),
    ({"--departments": "2,x"}, "«x» — не номер отдела"),
    ({"--departments": "2,99"}, "на портале нет отделов с ID 99"),
])
def test_bad_input_is_refused_and_writes_nothing(installed, live_app, tmp_path, change, message):
    _pid, first, last = _week(live_app, installed.member_id)
    opts = {"--member-id": installed.member_id, "--from": first.isoformat(), "--to": last.isoformat(),
            "--out": str(tmp_path / "report.xlsx")}
    if change.pop("swap", False):
        opts["--from"], opts["--to"] = opts["--to"], (first - timedelta(days=1)).isoformat()
    opts.update({k: v.replace("{tmp}", str(tmp_path)) for k, v in change.items()})
    args = [x for kv in opts.items() for x in kv]
    r = _run(live_app, *args)
    assert r.exit_code != 0, r.output
    assert message.replace("{tmp}", str(tmp_path)) in r.output, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception  # a message, not a traceback
    assert list(tmp_path.iterdir()) == []


def test_the_command_runs_as_operators_start_it(tmp_path):
    """`flask --app wsgi report` as a process: registered in the app's CLI, an unknown portal exits non-zero."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}", "SECRET_KEY": "x"}
    out = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "report", "--help"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "--member-id" in out.stdout and "--departments" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "report", "--member-id", "x", "--from",
                          "2026-12-07", "--to", "2026-12-01", "--out", str(tmp_path / "r.xlsx")], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "задом наперёд" in bad.stderr
    assert not (tmp_path / "r.xlsx").exists()
