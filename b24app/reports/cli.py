"""`flask --app wsgi report --member-id ID --from YYYY-MM-DD --to YYYY-MM-DD --out FILE.xlsx` (DESIGN §7): the full
report for a period from the app's database, built by the same code as the scheduled one (reports/workbook.py)."""

from __future__ import annotations

import os
import tempfile
import time
from datetime import date

import click
from flask import Flask


def _day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(f"дата «{value}» указана неверно: нужна дата в виде ГГГГ-ММ-ДД, "
                                 f"например 2026-11-30", param_hint=option) from None


def _departments(raw: str | None) -> tuple[int, ...]:
    if not raw or not raw.strip():
        return ()
    out = []
    for part in raw.split(","):
        part = part.strip()
        if not part.isdigit() or not part.isascii() or int(part) <= 0:
            raise click.BadParameter(f"«{part}» — не номер отдела: перечислите ID отделов через запятую, "
                                     f"например 2,3", param_hint="--departments")
        out.append(int(part))
    return tuple(dict.fromkeys(out))


def _writable_target(out: str) -> str:
    """The absolute path of --out, refused before any work when it cannot be written."""
    path = os.path.abspath(out)
    folder = os.path.dirname(path)
    if os.path.isdir(path):
        raise click.BadParameter(f"{out} — это папка; укажите имя файла, например report.xlsx", param_hint="--out")
    if not os.path.isdir(folder):
        raise click.BadParameter(f"папки {folder} нет", param_hint="--out")
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise click.BadParameter(f"в {path} нельзя записать: нет прав", param_hint="--out")
    return path


def init_app(app: Flask) -> None:
    @app.cli.command("report")
    @click.option("--member-id", required=True, help="The portal's member_id.")
    @click.option("--from", "date_from", required=True, metavar="YYYY-MM-DD", help="First day (inclusive).")
    @click.option("--to", "date_to", required=True, metavar="YYYY-MM-DD", help="Last day (inclusive).")
    @click.option("--out", required=True, metavar="FILE.xlsx", help="Where to write the workbook.")
    @click.option("--departments", default=None, metavar="2,3",
                  help="Only these departments (with their sub-departments); default: the whole company.")
    def report(member_id: str, date_from: str, date_to: str, out: str, departments: str | None) -> None:
        """Build the full report workbook for a period, in the portal's time zone."""
        from sqlalchemy import select

        from ..analytics.periods import MAX_DAYS
        from ..extensions import db
        from ..portals.models import Portal, PortalDepartment
        from . import workbook

        first, last = _day(date_from, "--from"), _day(date_to, "--to")
        if last < first:
            raise click.UsageError(f"период задан задом наперёд: --to {last} раньше, чем --from {first}")
        if (last - first).days + 1 > MAX_DAYS:
            raise click.UsageError(f"период не может быть длиннее двух лет ({MAX_DAYS} дней): "
                                   f"задано {(last - first).days + 1}")
        wanted = _departments(departments)
        path = _writable_target(out)
        portal = db.session.scalar(select(Portal).where(Portal.member_id == member_id.strip()))
        if portal is None:
            raise click.ClickException(f"портал с member_id «{member_id}» не найден: приложение на нём не "
                                       f"установлено")
        if wanted:
            known = set(db.session.scalars(select(PortalDepartment.department_id).where(
                PortalDepartment.portal_id == portal.id, PortalDepartment.department_id.in_(wanted))))
            missing = [d for d in wanted if d not in known]
            if missing:
                raise click.UsageError("на портале нет отделов с ID " + ", ".join(map(str, missing)))
        started = time.perf_counter()
        # Written beside the target and renamed over it: a failed build leaves no half-written file.
        try:
            fd, tmp = tempfile.mkstemp(prefix=".report-", suffix=".xlsx", dir=os.path.dirname(path))
        except OSError as exc:
            raise click.BadParameter(f"в {path} нельзя записать: {exc.strerror or exc}", param_hint="--out") from None
        try:
            with os.fdopen(fd, "wb") as fh:
                built = workbook.build(portal.id, first, last, fh, scope=workbook.Scope(departments=wanted))
            mask = os.umask(0)
            os.umask(mask)
            os.chmod(tmp, 0o666 & ~mask)  # as a plainly created file would be, not mkstemp's 0600
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        click.echo(f"Отчёт готов: звонков {built.calls}, листов {len(built.sheets)}, "
                   f"{time.perf_counter() - started:.1f} с, файл {path}")
