"""The overview in Chromium inside the sandbox portal's CRM analytics tab: a director sees the tiles and the
calls-by-day chart drawn, switches the period and a filter, and the figures follow; a plan shows its bar."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from b24app.analytics import recount
from b24app.analytics.models import AnalyticsSettings
from b24app.extensions import db
from b24app.portals.models import Portal

from .conftest import app_frame, shot

CHART = "#chart-by-day"


def _number(frame, key: str) -> int:
    return int(frame.inner_text(f'[data-testid="tile-{key}"] .value').replace("\u00a0", "").replace(" ", ""))


def _chart(frame) -> dict:
    return frame.evaluate("""() => {
        const c = Chart.getChart(document.getElementById('chart-by-day'));
        return c ? {sets: c.data.datasets.length, bars: c.data.labels.length,
                    total: c.data.datasets.reduce((s, d) => s + d.data.reduce((a, b) => a + b, 0), 0)} : null;
    }""")


def test_a_director_opens_the_overview_and_switches_period_and_filter(installed, live_app, page):
    with live_app.ctx():
        pid = db.session.scalar(select(Portal.id).where(Portal.member_id == installed.member_id))
        db.session.add(AnalyticsSettings(portal_id=pid, plan={"month": 40, "week": 10}))
        db.session.commit()
        now = datetime.now(recount.portal_tz(pid)).replace(microsecond=0)
    today = now.date()
    installed.state.crm.add_entity("DEAL", {"TITLE": "Сделка", "ASSIGNED_BY_ID": 3,
                                            "DATE_CREATE": (now - timedelta(minutes=1)).isoformat()}, 3)
    page.goto(f"{installed.url}/crm/analytics/?user=1")
    frame = app_frame(page)
    frame.wait_for_selector(f'{CHART}[data-drawn="1"]')
    assert frame.is_visible('[data-testid="tab-reports"].active')
    month = _number(frame, "incoming")
    chart = _chart(frame)
    assert chart["sets"] == 5 and chart["bars"] == 30 and chart["total"] > month  # incoming + outgoing
    assert frame.is_visible('[data-testid="plan-bar"]')
    assert frame.inner_text('[data-testid="plan-value"]').strip() != "нет данных"
    assert frame.inner_text('[data-testid="plan-fact"]').strip() == "1"
    frame.click('[data-testid="how-counted"] summary')
    assert "Потерянный — пропущенный звонок" in frame.inner_text('[data-testid="how-counted"]')
    shot(page, "analytics_overview")

    frame.click('[data-testid="period-week"]')
    frame.wait_for_selector('[data-testid="period-week"].active')
    frame.wait_for_selector(f'{CHART}[data-drawn="1"]')
    week = _number(frame, "incoming")
    assert week < month and _chart(frame)["bars"] == today.weekday() + 1

    frame.click('[data-testid="period-30d"]')
    frame.wait_for_selector('[data-testid="period-30d"].active')
    with frame.expect_navigation():
        frame.select_option('[data-testid="filter-dir"]', "outgoing")
    frame.wait_for_selector(f'{CHART}[data-drawn="1"]')
    assert _number(frame, "incoming") == 0 and _number(frame, "successful_outgoing") > 0
    assert frame.is_visible('[data-testid="reset-filters"]')
    shot(page, "analytics_overview_outgoing")
