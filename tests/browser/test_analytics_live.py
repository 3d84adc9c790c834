"""Live figures in Chromium (A9): a director keeps the CRM analytics tab open in the sandbox portal; a call
made in the telephony simulator shows up on the overview's incoming tile within 5 s, without a reload."""

from __future__ import annotations

import re

from sqlalchemy import select

from b24app.extensions import db
from b24app.portals import roles
from b24app.portals.models import Portal

from ..qa.review_helpers import phone_call
from .conftest import app_frame, shot

DIRECTOR, MANAGER = 2, 3
TILE = "[data-testid=tile-incoming] .value"


def _count(frame) -> int:
    return int(re.sub(r"\D", "", frame.inner_text(TILE)))


def test_a_call_appears_on_an_open_overview_without_a_reload(installed, live_app, page):
    with live_app.ctx():
        pid = db.session.scalar(select(Portal.id).where(Portal.member_id == installed.member_id))
        roles.grant(pid, DIRECTOR, "director", 1)
    page.goto(f"{installed.url}/crm/analytics/?user={DIRECTOR}")
    frame = app_frame(page)
    frame.wait_for_selector(TILE)
    before = _count(frame)
    # The page has learnt the version it was drawn at; the marker would vanish with a reload.
    frame.wait_for_function("() => window.AnalyticsLive && window.AnalyticsLive.version() !== null")
    frame.evaluate("() => { window.__notReloaded = 'yes'; window.__refreshed = 0;"
                   " document.addEventListener('analytics:refreshed', () => { window.__refreshed += 1; }); }")
    url = frame.url

    phone_call(installed, MANAGER, phone="+79990005566", talk=50, direction="incoming")
    frame.wait_for_function("([sel, n]) => { const el = document.querySelector(sel);"
                            " return el && parseInt(el.innerText.replace(/\\D/g, ''), 10) === n; }",
                            arg=[TILE, before + 1], timeout=5000)

    assert _count(frame) == before + 1
    assert frame.evaluate("() => window.__notReloaded") == "yes" and frame.url == url
    assert frame.evaluate("() => window.__refreshed") >= 1  # page scripts were told to redraw
    assert frame.evaluate("() => document.querySelector('[data-testid=filters]') !== null")  # the frame stayed
    shot(page, "analytics_live")
