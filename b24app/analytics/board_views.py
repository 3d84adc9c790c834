"""The missed-calls board: missed and lost per manager, this week against last, with the target."""

from __future__ import annotations

from flask import g, jsonify, render_template, url_for
from flask_babel import lazy_gettext as _

from ..portals.roles import names_for
from . import access
from . import board as boards
from .blueprint import bp
from .calls_views import local_time, span
from .page import Page, analytics_view, layout, tab, wants_json, wants_xlsx
from .periods import label_for

tab("analytics.missed", _("Пропущенные"), 70)


def board_users(page: Page) -> frozenset[int] | None:
    """Whose rows the board shows: everyone's — it is the team's motivation view, whatever the viewer's
    scope — narrowed only by the departments and employees chosen in the URL (already checked against it)."""
    users = None
    if page.state.departments:
        users = access.department_users(page.viewer.portal_id, page.state.departments)
    if page.state.users:
        chosen = frozenset(page.state.users)
        users = chosen if users is None else users & chosen
    return users


def open_users(page: Page, shown: frozenset[int] | None) -> frozenset[int] | None:
    """The calls themselves are listed only within the viewer's scope (a manager: his own)."""
    if page.scope.users is None:
        return shown
    return page.scope.users if shown is None else page.scope.users & shown


@bp.route("/b24/analytics/missed", methods=["GET", "POST"])
@analytics_view
def missed(page: Page):
    pid = page.viewer.portal_id
    shown = board_users(page)
    b = boards.board(pid, page.today, page.settings, page.now, users=shown)
    waiting, lost = boards.open_calls(pid, b.monday, b.today, page.tz, page.settings, page.now,
                                      users=open_users(page, shown))
    names = names_for(pid, [r.user_id for r in b.rows] + [c.user_id for c in waiting + lost])

    def name(uid):
        return page.user_name(uid) if not uid else names.get(uid) or f"#{uid}"

    from ..routing.callbacks import links as task_links  # the callback task made for a lost call

    tasks = task_links(pid, [c.id for c in lost])

    def call_url(cid):
        return url_for("analytics.call", call_id=cid, ft=g.frame_token, **page.state.to_args())

    if wants_xlsx():
        from ..reports import view_export

        return view_export.board(page, b, waiting, lost, name, label_for(b.monday, b.today, page.viewer.lang),
                                 label_for(b.last_monday, b.last_sunday, page.viewer.lang))
    if wants_json():
        def row(r):
            return {"user_id": r.user_id, "name": name(r.user_id) if r.user_id is not None else None,
                    "missed": r.missed, "lost": r.lost, "awaiting": r.awaiting, "recovered": r.recovered,
                    "incoming": r.incoming, "missed_last_week": r.missed_last_week,
                    "lost_last_week": r.lost_last_week, "missed_same_days_last_week": r.missed_same_days,
                    "trend": r.trend, "verdict": r.verdict or None}

        def call(c):
            return {"id": c.id, "start": c.start.astimezone(page.tz).isoformat(), "user_id": c.user_id,
                    "manager": name(c.user_id), "phone": c.phone, "awaiting": c.awaiting,
                    "window_left_seconds": c.left_seconds, "url": call_url(c.id),
                    "task_url": tasks.get(c.id)}

        return jsonify(week={"first": b.monday.isoformat(), "last": b.today.isoformat()},
                       last_week={"first": b.last_monday.isoformat(), "last": b.last_sunday.isoformat()},
                       target=b.target, rows=[row(r) for r in b.rows], total=row(b.total),
                       awaiting=[call(c) for c in waiting], lost=[call(c) for c in lost])
    return render_template("analytics/board.html", **layout(page), board=b, waiting=waiting, lost=lost, name=name,
                           call_url=call_url, tasks=tasks, span=span, local_time=lambda m: local_time(page, m),
                           settings_url=url_for("portals.settings", ft=g.frame_token),
                           limit=boards.OPEN_LIMIT, this_week=label_for(b.monday, b.today, page.viewer.lang),
                           last_week=label_for(b.last_monday, b.last_sunday, page.viewer.lang))
