"""The CRM analytics tab in Chromium inside the sandbox portal: a director reads the key figures for a
period against the one before, switches the period, and a manager sees only his own calls."""

from __future__ import annotations

from .conftest import app_frame, shot

FIGURES = '[data-testid="key-figures"]'


def _value(frame, key: str) -> str:
    return frame.inner_text(f'[data-testid="figure-{key}"] td:nth-child(2)').strip()


def test_a_director_reads_the_key_figures_and_switches_the_period(installed, live_app, page):
    page.goto(f"{installed.url}/crm/analytics/?user=1")
    frame = app_frame(page)
    frame.wait_for_selector(FIGURES)
    labels = frame.eval_on_selector_all(f"{FIGURES} td:first-child", "els => els.map(e => e.innerText.trim())")
    assert labels[:5] == ["Входящие", "Принятые", "Пропущенные", "Доля пропущенных, %", "Потерянные"]
    month = int(_value(frame, "incoming").replace("\u00a0", "").replace(" ", ""))
    assert month > 0 and _value(frame, "asa") == "нет данных"  # imported history has no ring times
    shot(page, "key-figures-30")
    frame.click("text=7 дн.")
    frame.wait_for_selector('[data-testid="period"]:has-text("7 дн.")')
    week = int(_value(frame, "incoming").replace("\u00a0", "").replace(" ", ""))
    assert 0 < week < month


def test_a_manager_sees_his_own_figures(installed, live_app, page):
    page.goto(f"{installed.url}/crm/analytics/?user=1")
    frame = app_frame(page)
    frame.wait_for_selector(FIGURES)
    everyone = int(_value(frame, "incoming").replace("\u00a0", "").replace(" ", ""))
    page.goto(f"{installed.url}/crm/analytics/?user=3")
    frame = app_frame(page)
    frame.wait_for_selector(FIGURES)
    assert "Ваши звонки" in frame.inner_text('[data-testid="analytics"]')
    mine = int(_value(frame, "incoming").replace("\u00a0", "").replace(" ", ""))
    assert 0 < mine < everyone
    shot(page, "key-figures-manager")
