"""The CRM analytics tab (CRM_ANALYTICS_MENU): figures for a period against the previous one of the same length."""

from __future__ import annotations

from datetime import timedelta

from flask import g, render_template, request

from ..models_base import utcnow
from ..portals.frame import placement_view
from . import metrics, summary  # noqa: F401  (tables)
from .blueprint import bp
from .topics import top_topics

PERIODS = (7, 30, 90)
DEFAULT_DAYS = 30
SEES_EVERYONE = ("admin", "director", "qa")


def _days(raw: str | None) -> int | None:
    if raw in (None, ""):
        return DEFAULT_DAYS
    return int(raw) if raw.isdigit() and int(raw) in PERIODS else None


@bp.route("/b24/reports", methods=["GET", "POST"])
@placement_view
def reports():
    v = g.viewer
    days = _days(request.args.get("days"))
    if days is None:
        return render_template("error.html", text=_bad_period()), 400
    # A manager sees his own calls; the people who steer the team see everyone's.
    own = None if any(v.has(r) for r in SEES_EVERYONE) else [v.user_id]
    end = utcnow()
    start, prev_start = end - timedelta(days=days), end - timedelta(days=2 * days)
    current, total = top_topics(v.portal_id, start, end, user_ids=own)
    previous, prev_total = top_topics(v.portal_id, prev_start, start, limit=1000, user_ids=own)
    before = {t.topic_id: t.calls for t in previous}
    rows = [(t, before.get(t.topic_id)) for t in current]
    now, then = metrics.with_previous(v.portal_id, metrics.Period(start, end), user_ids=own, now=end)
    return render_template("analytics/reports.html", viewer=v, days=days, periods=PERIODS, rows=rows,
                           total=total, prev_total=prev_total, own=own is not None,
                           key_lines=summary.lines(now, then), show=summary.display)


def _bad_period() -> str:
    from ..messages import message

    return message("analytics.bad_period")
