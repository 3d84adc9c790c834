"""«Отчёт» in the CRM tab: the full report for the filter bar's period and people, built by a job with a
progress bar, then downloaded in the browser and, when asked, saved to the report folder on Disk."""

from __future__ import annotations

from urllib.parse import quote

from flask import Response, g, jsonify, render_template, request, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _
from sqlalchemy import select

from ..analytics.blueprint import bp
from ..analytics.page import analytics_view, layout, open_page, refuse, tab
from ..analytics.view import ViewError
from ..extensions import db
from ..messages import message, register
from ..portals.frame import frame_api
from .models import ReportFile, ReportRun, ReportSettings

tab("analytics.report", _("Отчёт"), 95)

register({
    "report_run.not_found": _("Отчёт не найден. Сформируйте его заново."),
    "report_run.not_ready": _("Отчёт ещё не готов: дождитесь конца построения."),
    "report_run.busy": _("Отчёт уже строится. Дождитесь его конца и запустите следующий."),
    "report_run.no_disk": _("Папка для отчётов на Диске не выбрана. Администратор выбирает её в настройках "
                            "приложения, в разделе «Отчёты»."),
})

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
RECENT = 10
# Who may open any report of the portal (the schedule's, another user's); everyone else only his own.
ALL_REPORTS = ("admin", "director")
_STAGES = {"queued": _("В очереди"), "running": _("Строится"), "done": _("Готов"), "failed": _("Ошибка")}


def _disk_ready(portal_id: int) -> bool:
    return bool(db.session.scalar(select(ReportSettings.storage_id).where(ReportSettings.portal_id == portal_id)))


def _visible(viewer, run: ReportRun | None) -> bool:
    if run is None or run.portal_id != viewer.portal_id:
        return False
    return run.requested_by == viewer.user_id or any(viewer.has(r) for r in ALL_REPORTS)


def _own_runs(viewer) -> list[ReportRun]:
    return list(db.session.scalars(
        select(ReportRun).where(ReportRun.portal_id == viewer.portal_id, ReportRun.kind == "manual",
                                ReportRun.requested_by == viewer.user_id)
        .order_by(ReportRun.id.desc()).limit(RECENT)))


def run_json(run: ReportRun) -> dict:
    done = run.status == "done"
    return {
        "id": run.id, "status": run.status, "status_text": str(_STAGES.get(run.status, run.status)),
        "progress": 100 if done else run.progress, "stage": run.stage,
        "first": run.first.isoformat(), "last": run.last.isoformat(), "calls": run.calls,
        "seconds": run.seconds, "error": run.error if run.status == "failed" else "",
        "file_url": run.file_url or None,
        "download": url_for("analytics.report_file", run_id=run.id, ft=g.frame_token) if done else None,
        "status_url": url_for("analytics.report_status", run_id=run.id, ft=g.frame_token),
    }


@bp.route("/b24/analytics/report", methods=["GET", "POST"])
@analytics_view
def report(page):
    runs = _own_runs(page.viewer)
    return render_template("reports/on_demand.html", **layout(page), runs=[run_json(r) for r in runs],
                           disk_ready=_disk_ready(page.viewer.portal_id),
                           start_url=page.url("analytics.report_start"))


@bp.post("/b24/analytics/report/start")
@frame_api
def report_start():
    """Start a report for the state in the URL (period, employees, departments) within the viewer's scope."""
    from . import runs

    try:
        page = open_page()
    except ViewError as exc:
        return refuse(exc)
    v = page.viewer
    to_disk = request.form.get("to_disk") in ("1", "on", "true")
    if to_disk and not _disk_ready(v.portal_id):
        return jsonify(error=message("report_run.no_disk")), 409
    busy = db.session.scalar(select(ReportRun.id).where(
        ReportRun.portal_id == v.portal_id, ReportRun.requested_by == v.user_id, ReportRun.kind == "manual",
        ReportRun.status.in_(("queued", "running"))).limit(1))
    if busy is not None:
        return jsonify(error=message("report_run.busy")), 409
    users = None if page.query.users is None else sorted(page.query.users)
    run = runs.start(v.portal_id, "manual", page.query.first, page.query.last, users=users,
                     to_disk=to_disk, to_chat=False, requested_by=v.user_id)
    db.session.refresh(run)
    return jsonify(run_json(run)), 202


def _run_or_404(run_id: int) -> ReportRun | None:
    run = db.session.get(ReportRun, run_id)
    return run if _visible(g.viewer, run) else None


@bp.get("/b24/analytics/report/runs/<int:run_id>")
@frame_api
def report_status(run_id: int):
    run = _run_or_404(run_id)
    if run is None:
        return jsonify(error=message("report_run.not_found")), 404
    return jsonify(run_json(run))


@bp.get("/b24/analytics/report/runs/<int:run_id>/file")
@frame_api
def report_file(run_id: int):
    run = _run_or_404(run_id)
    if run is None:
        return render_template("analytics/error.html", text=message("report_run.not_found")), 404
    content = db.session.scalar(select(ReportFile.content).where(ReportFile.run_id == run.id,
                                                                 ReportFile.portal_id == run.portal_id))
    if run.status != "done" or content is None:
        key = "report_run.not_ready" if run.status in ("queued", "running") else "report_run.not_found"
        return render_template("analytics/error.html", text=message(key)), 409 if key.endswith("ready") else 404
    name = run.file_name or gettext("Отчёт по звонкам.xlsx")
    resp = Response(content, mimetype=XLSX)
    # RFC 6266/5987: the Russian name for browsers, an ASCII one for the rest
    resp.headers["Content-Disposition"] = (f"attachment; filename=\"report-{run.first}-{run.last}.xlsx\"; "
                                           f"filename*=UTF-8''{quote(name)}")
    resp.headers["Cache-Control"] = "no-store"
    return resp
