"""Access by role in Chromium inside the sandbox portal's CRM analytics tab: the head of «Колл-центр» sees
his department's people only, a manager only himself — in the filter bar, the tables and the figures."""

from __future__ import annotations

from .conftest import open_analytics_tab, shot

CALL_CENTRE = {5, 6, 7, 9}  # b24app/sandbox/directory.py: department 3 and its head, user 5


def _open(page, installed, user: int, tab: str):
    frame = open_analytics_tab(page, installed, tab, user=user)
    frame.wait_for_selector('[data-testid="table-employees"] table')
    return frame


def _rows(frame) -> set[int]:
    keys = frame.eval_on_selector_all('[data-testid="table-employees"] tbody tr[data-testid^="row-"]',
                                      "els => els.map(e => e.dataset.testid.slice(4))")
    return {int(k) for k in keys if k.isdigit()}


def test_a_head_of_department_sees_his_department_and_a_manager_himself(installed, live_app, page):
    frame = _open(page, installed, 5, "employees")
    assert "своих отделов" in frame.inner_text('[data-testid="scope"]')
    rows = _rows(frame)
    assert rows and rows <= CALL_CENTRE, rows
    offered = frame.eval_on_selector_all('[data-testid="filter-user"] option', "els => els.map(e => +e.value)")
    assert set(offered) <= CALL_CENTRE and 3 not in offered
    depts = frame.eval_on_selector_all('[data-testid="filter-dept"] option', "els => els.map(e => e.textContent)")
    assert "Отдел продаж" not in depts
    shot(page, "analytics_head_of_department")

    frame = _open(page, installed, 3, "employees")
    assert "только свои звонки" in frame.inner_text('[data-testid="scope"]')
    assert _rows(frame) <= {3}
    assert frame.query_selector('[data-testid="filter-user"]') is None  # nobody else to choose
    frame.click('[data-testid="tab-reports"]')
    frame.wait_for_selector('[data-testid="tile-incoming"]')
    shot(page, "analytics_manager_overview")
