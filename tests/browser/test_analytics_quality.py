"""The «Качество» and «Сводная» tabs in Chromium inside the sandbox portal's CRM analytics: a director reads the
scores per manager, sorts a table, prints the meeting agenda alone, and builds a pivot by department."""

from __future__ import annotations

from ..analytics.test_qa_figures import World
from .conftest import open_analytics_tab, shot


def test_a_director_reads_quality_and_prints_the_agenda(installed, live_app, page):
    World(live_app, installed)
    frame = open_analytics_tab(page, installed, "quality")
    frame.wait_for_selector('[data-testid="quality-by-manager"]')
    assert frame.inner_text('[data-testid="quality-scored"] .value').strip() == "3"
    assert frame.inner_text('[data-testid="stage-done"] .value').strip() == "3"
    names = frame.eval_on_selector_all('[data-testid="quality-manager-row"] td:first-child',
                                       "els => els.map(e => e.innerText.trim())")
    assert len(names) == 2
    frame.click('[data-testid="sort-manager-mean"]')
    frame.wait_for_selector('[data-testid="sort-manager-mean"]:has-text("▼")')
    keys = frame.eval_on_selector_all('[data-testid="quality-manager-row"]', "els => els.map(e => e.dataset.key)")
    assert keys == ["3", "4"]  # 86,8 % before 0 %
    assert frame.locator('[data-testid="agenda-row"]').count() == 2
    assert "Не выяснил задачу клиента" in frame.inner_text('[data-testid="quality-agenda"]')
    assert frame.locator('[data-testid="calibration-row"]').count() == 1
    shot(page, "analytics_quality")
    page.emulate_media(media="print")
    assert frame.is_visible('[data-testid="quality-agenda"]')
    assert not frame.is_visible('[data-testid="quality-by-manager"]')
    assert not frame.is_visible('[data-testid="filters"]') and not frame.is_visible('[data-testid="agenda-print"]')
    page.emulate_media(media="screen")


def test_a_director_builds_a_pivot_by_department(installed, live_app, page):
    frame = open_analytics_tab(page, installed, "pivot")
    frame.wait_for_selector('[data-testid="pivot-table"]')
    assert frame.locator('[data-testid="pivot-row"]').count() > 3
    cols = frame.eval_on_selector_all('[data-testid="pivot-col"]', "els => els.map(e => e.innerText.trim())")
    assert cols[:2] == ["Входящие", "Исходящие"]
    frame.select_option('[data-testid="pivot-rows"]', "department")  # the form submits itself
    frame.wait_for_selector('[data-testid="pivot-row"]:has-text("Отдел продаж")')
    frame.select_option('[data-testid="pivot-measure"]', "talk_minutes")
    frame.wait_for_selector('h2:has-text("Время разговоров, мин")')
    rows = frame.eval_on_selector_all('[data-testid="pivot-row"] th', "els => els.map(e => e.innerText.trim())")
    assert "Колл-центр" in rows and "Отдел продаж" in rows
    total = frame.inner_text('[data-testid="pivot-totals"] td.p-total').strip()
    assert total and total != "нет данных"
    assert "group=rows:department.cols:direction.measure:talk_minutes" in frame.url
    shot(page, "analytics_pivot")
