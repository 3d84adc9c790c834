"""«Выгрузить в Excel» in Chromium inside the sandbox portal's CRM analytics tab: a director sorts the employees
table and downloads it, then narrows the call list to incoming calls and downloads every one of them; both files
arrive as downloads with their Russian names and open with openpyxl holding what the page showed."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from .conftest import open_analytics_tab, shot

BUTTON = '[data-testid="export-xlsx"]'
HEADER = 5


def _download(page, frame):
    with page.expect_download() as info:
        frame.click(BUTTON)
    d = info.value
    assert d.failure() is None
    with open(d.path(), "rb") as fh:  # the saved download has no extension, which openpyxl insists on
        return d.suggested_filename, load_workbook(io.BytesIO(fh.read()))


def _rows(ws) -> tuple[list, list[list]]:
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    return rows[HEADER - 1], rows[HEADER:]


def test_a_director_downloads_the_sorted_employees_and_every_incoming_call(installed, live_app, page):
    frame = open_analytics_tab(page, installed, "employees")
    frame.click('[data-testid="sort-missed"]')
    frame.wait_for_selector('[data-testid="table-employees"] table[data-sort="-missed"]')
    assert frame.inner_text(BUTTON) == "Выгрузить в Excel"
    shown = frame.eval_on_selector_all(
        '[data-testid="table-employees"] tbody tr',
        "rows => rows.map(r => [r.querySelector('[data-col=name]').innerText.trim(),"
        " Number(r.querySelector('[data-col=missed]').dataset.value)])")
    shot(page, "excel_export_employees")

    name, wb = _download(page, frame)
    assert name.startswith("Сотрудники ") and name.endswith(".xlsx")
    header, rows = _rows(wb["Сотрудники"])
    assert header[:4] == ["Сотрудник", "Входящие", "Принятые", "Пропущенные"]
    assert [[r[0], r[3]] for r in rows[:-1]] == shown and len(shown) >= 5
    assert rows[-1][0] == "Итого"
    assert "сортировка: Пропущенные, по убыванию" in wb["Сотрудники"]["A4"].value

    frame.click('[data-testid="tab-calls"]')
    frame.wait_for_selector('[data-testid="analytics-calls"]')
    with frame.expect_navigation():
        frame.select_option('[data-testid="filter-dir"]', ["incoming"])
    frame.wait_for_selector('[data-testid="calls-count"]')
    total = int(frame.get_attribute('[data-testid="calls-count"]', "data-total"))
    on_page = frame.eval_on_selector_all('[data-testid="call-row"]', "rows => rows.length")
    assert total > on_page  # the list pages; the file holds them all

    name, wb = _download(page, frame)
    assert name.startswith("Звонки ") and name.endswith(".xlsx")
    header, rows = _rows(wb["Звонки"])
    assert header[:3] == ["Дата и время", "Направление", "Сотрудник"]
    assert len(rows) == total
    assert {r[1] for r in rows} <= {"Входящий", "Входящий с переадресацией", "Обратный звонок"}
    starts = [r[0] for r in rows]
    assert starts == sorted(starts, reverse=True)
    assert wb["Звонки"]["A4"].value.startswith("Фильтры: направление: Входящие")
    shot(page, "excel_export_calls")
