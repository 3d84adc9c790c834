"""`flask --app wsgi responsibles --member-id ID [--dry-run]` (issue 14, D1): the bulk alignment run in place by
the same job the settings page enqueues, with the per-manager counts «было → станет» printed at the end."""

from __future__ import annotations

import time

import click
from flask import Flask


def table(counts) -> list[str]:
    """The per-manager lines: name, before → after, the change."""
    if not counts:
        return ["Контактов по правилам не нашлось."]
    width = max(len("Сотрудник"), *(len(m.name) for m in counts))
    lines = [f"{'Сотрудник'.ljust(width)}  было → станет"]
    for m in counts:
        delta = m.after - m.before
        lines.append(f"{m.name.ljust(width)}  {m.before:>4} → {m.after:<6} ({delta:+d})")
    return lines


def init_app(app: Flask) -> None:
    @app.cli.command("responsibles")
    @click.option("--member-id", required=True, help="The portal's member_id.")
    @click.option("--dry-run", is_flag=True, help="Only count what would change; write nothing to the portal.")
    def responsibles(member_id: str, dry_run: bool) -> None:
        """Set each contact's responsible to its winning deal's, by the portal's distribution rules."""
        from flask_babel import force_locale
        from sqlalchemy import select

        from ..extensions import db
        from ..portals.models import Portal
        from . import alignment

        portal = db.session.scalar(select(Portal).where(Portal.member_id == member_id.strip()))
        if portal is None:
            raise click.ClickException(f"портал с member_id «{member_id}» не найден: приложение на нём не "
                                       f"установлено")
        if not portal.is_active:
            raise click.ClickException(f"портал {portal.domain} не активен ({portal.status}): приложение удалено "
                                       f"или его нужно переустановить")
        started = time.perf_counter()
        try:
            with force_locale("ru"):
                run = alignment.record(portal.id, "dry" if dry_run else "apply")
        except alignment.Busy:
            raise click.ClickException(f"на портале {portal.domain} выравнивание уже идёт: дождитесь его "
                                       f"окончания (страница «Распределение звонков»)") from None
        key = (run.portal_id, run.id)
        alignment.execute(run.id, 0)
        run = alignment._load(key)
        with force_locale("ru"):
            counts = alignment.manager_counts(run)
        for line in table(counts):
            click.echo(line)
        considered = sum(m.before for m in counts)
        seconds = time.perf_counter() - started
        if dry_run:
            click.echo(f"Пробный запуск №{run.id}: контактов по правилам {considered}, сменят ответственного "
                       f"{run.planned}; на портале ничего не изменено ({seconds:.1f} с)")
        else:
            click.echo(f"Запуск №{run.id}: контактов по правилам {considered}, запланировано {run.planned}, "
                       f"изменено {run.applied} ({seconds:.1f} с)")
        if run.status != "done":
            tail = " — будет повторён фоновой задачей" if run.status == "queued" else ""
            raise click.ClickException(f"запуск №{run.id} не завершён ({run.status}): {run.error or '—'}{tail}")
