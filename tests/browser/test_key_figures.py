"""The CRM analytics tab's KPI tiles in Chromium inside the sandbox portal: the director reads the period's
figures (the same as the page's JSON), the week has fewer calls than 30 days, a manager sees only his own."""

from __future__ import annotations

import requests

from .conftest import app_frame, shot

TILES = '[data-testid="tiles"]'


def _value(frame, key: str) -> str:
    return frame.inner_text(f'[data-testid="tile-{key}"] .value').strip()


def _number(frame, key: str) -> int:
    return int(_value(frame, key).replace("\u00a0", "").replace(" ", ""))


def _json(frame, live_app, **args) -> dict:
    token = frame.get_attribute('meta[name="frame-token"]', "content")
    return requests.get(f"{live_app.url}/b24/reports", params={"ft": token, "format": "json", **args},
                        timeout=30).json()


def test_a_director_reads_the_tiles_and_switches_the_period(installed, live_app, page):
    page.goto(f"{installed.url}/crm/analytics/?user=1")
    frame = app_frame(page)
    frame.wait_for_selector(TILES)
    labels = frame.eval_on_selector_all(f"{TILES} .tile .label", "els => els.map(e => e.innerText.trim())")
    assert labels[:5] == ["Входящие", "Принятые", "Пропущенные", "Потерянные", "Перезвонили"]
    month = _number(frame, "incoming")
    tiles = {t["key"]: t for t in _json(frame, live_app)["tiles"]}
    assert month == tiles["incoming"]["now"] > 0 and _number(frame, "accepted") == tiles["accepted"]["now"]
    assert _value(frame, "asa") == "нет данных"  # imported history has no ring times
    assert "было" in frame.inner_text('[data-testid="tile-incoming"] .change')
    shot(page, "key-figures-30")
    frame.click('[data-testid="period-week"]')
    frame.wait_for_selector('[data-testid="period-week"].active')
    week = _number(frame, "incoming")
    assert week == {t["key"]: t for t in _json(frame, live_app, period="week")["tiles"]}["incoming"]["now"]
    assert week < month


def test_a_manager_sees_his_own_figures(installed, live_app, page):
    page.goto(f"{installed.url}/crm/analytics/?user=1")
    frame = app_frame(page)
    frame.wait_for_selector(TILES)
    everyone = _number(frame, "incoming")
    page.goto(f"{installed.url}/crm/analytics/?user=3")
    frame = app_frame(page)
    frame.wait_for_selector(TILES)
    assert "Вы видите только свои звонки" in frame.inner_text('[data-testid="scope"]')
    mine = _number(frame, "incoming")
    assert 0 < mine < everyone
    assert frame.query_selector('[data-testid="filter-user"]') is None  # nobody else to pick
    shot(page, "key-figures-manager")
