"""One definition per figure: the overview's tiles, the employees table's totals row and the summary lines
the chat summary and the workbook print (`summary.lines`) show the same values for the same view."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import select

from b24app.analytics import cube, metrics, recount, summary
from b24app.extensions import db
from b24app.models_base import utcnow
from b24app.portals.models import Portal

from ..platform.helpers import frame_token_from, open_placement

SHARED = ("incoming", "accepted", "missed", "lost", "recovered", "outgoing", "successful_incoming",
          "successful_outgoing", "talk_minutes", "aht", "asa", "service_level", "csat")


def _same(a, b) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and a == pytest.approx(b, rel=1e-9))


@pytest.mark.parametrize("period", ["30d", "week"])
def test_overview_table_and_summary_agree(installed, live_app, period):
    r = open_placement(installed, live_app, "/b24/reports", user_id=1, placement="CRM_ANALYTICS_MENU")
    ft = frame_token_from(r.text)
    args = {"ft": ft, "period": period, "format": "json"}
    overview = requests.get(f"{live_app.url}/b24/reports", params=args, timeout=30).json()
    table = requests.get(f"{live_app.url}/b24/analytics/employees", params=args, timeout=30).json()
    tiles = {t["key"]: t["now"] for t in overview["tiles"]}
    total = table["total"]["values"]
    with live_app.ctx():
        pid = db.session.scalar(select(Portal.id).where(Portal.member_id == installed.member_id))
        tz = recount.portal_tz(pid)
        today = utcnow().astimezone(tz).date()
        from b24app.analytics.periods import resolve

        p = resolve(period, today)
        q = cube.Query(pid, p.first, p.last)
        now, before = cube.total(q), cube.total(q.previous())
        raw = metrics.total(pid, metrics.Period(recount.day_bounds(p.first, tz)[0], recount.day_bounds(p.last, tz)[1]))
    lines = {line.figure.key: line.now for line in summary.lines(now, before)}
    assert now.incoming > 0, "the sandbox's history is in the period"
    compared = 0
    for key in SHARED:
        if key in tiles:
            assert _same(tiles[key], lines[key]), (key, tiles[key], lines[key])
            compared += 1
        if key in total:
            assert _same(total[key], lines[key]), (key, total[key], lines[key])
            compared += 1
        value = next(k for k in summary.KEY_FIGURES if k.key == key).value(raw)
        assert _same(value, lines[key]), ("raw", key, value, lines[key])
    assert compared >= 15
