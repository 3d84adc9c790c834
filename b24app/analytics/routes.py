"""The overview (CRM_ANALYTICS_MENU, the analytics' first tab): the period's figures against the previous period."""

from __future__ import annotations

from flask import current_app, jsonify, render_template
from flask_babel import lazy_gettext as _l

from . import overview_views, summary
from .blueprint import bp
from .page import Page, analytics_view, layout, tab, wants_json, wants_xlsx

tab("analytics.reports", _l("Обзор"), 10)


@bp.route("/b24/reports", methods=["GET", "POST"])
@analytics_view
def reports(page: Page):
    o = overview_views.build(page)
    if wants_xlsx():
        from ..reports import view_export

        return view_export.overview(page, o)
    if wants_json():
        return jsonify(overview_views.as_json(o, page))

    def link(endpoint: str, **changes) -> str | None:
        """A drill-down to another analytics page, when that page exists in this build."""
        if endpoint not in current_app.view_functions:
            return None
        return page.url(endpoint, page=1, sort="", group="", **changes)

    return render_template("analytics/overview.html", **layout(page), o=o, show=summary.display,
                           chart=overview_views.chart_data(o), shares=overview_views.shares_of_missed(o.now),
                           duration=overview_views.duration_text, link=link,
                           previous=page.state.period.previous())
