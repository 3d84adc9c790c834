"""The employees table in Chromium inside the sandbox portal's CRM analytics tab: a director opens the tab,
sorts by talk time, switches to hours, clicks a manager's row and lands on that manager's call list; the
by-day chart and the hour × weekday heat map draw."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from .conftest import app_frame, shot

TABLE = '[data-testid="table-employees"] table'


def _talk(frame) -> list[float]:
    return frame.eval_on_selector_all(
        f'{TABLE} tbody tr td[data-col="talk_minutes"]',
        "els => els.map(e => e.dataset.value === undefined ? null : Number(e.dataset.value))")


def test_a_director_sorts_employees_switches_to_hours_and_drills_to_a_managers_calls(installed, live_app, page):
    page.goto(f"{installed.url}/crm/analytics/?user=1")
    frame = app_frame(page)
    frame.wait_for_selector('[data-testid="tab-employees"]')
    frame.click('[data-testid="tab-employees"]')
    frame.wait_for_selector(TABLE)
    assert frame.inner_text('[data-testid="tab-employees"]') == "Сотрудники"
    assert frame.get_attribute(TABLE, "data-sort") == "name"

    frame.click('[data-testid="sort-talk_minutes"]')
    frame.wait_for_selector(f'{TABLE}[data-sort="-talk_minutes"]')
    talk = _talk(frame)
    assert len(talk) >= 5 and talk == sorted(talk, reverse=True) and talk[0] > talk[-1]
    assert frame.inner_text('th[data-col="talk_minutes"]').strip() == "Время разговоров, мин\u00a0↓"

    frame.click('[data-testid="unit-h"]')
    frame.wait_for_selector('[data-testid="unit-h"].active')
    assert frame.inner_text('th[data-col="talk_minutes"]').strip() == "Время разговоров, ч\u00a0↓"
    assert frame.get_attribute(TABLE, "data-sort") == "-talk_minutes"  # the order survives the switch
    assert _talk(frame) == talk  # the raw minutes behind the cells did not change, only their reading
    first_row = frame.query_selector(f"{TABLE} tbody tr")
    minutes = float(first_row.query_selector('td[data-col="talk_minutes"]').get_attribute("data-value"))
    shown = first_row.inner_text().split("\t")
    assert f"{minutes / 60:.1f}".replace(".", ",") in shown
    assert frame.query_selector_all(f"{TABLE} td.worst") and frame.query_selector_all(f"{TABLE} td.best")
    # The frame is narrower than sixteen figures: the names stay put while the table scrolls to talk time.
    frame.eval_on_selector('th[data-col="talk_minutes"]', "el => el.scrollIntoView({inline: 'center', block: 'nearest'})")
    shot(page, "analytics_employees")

    # A click anywhere on a manager's row (here, a figure, not the name's link) opens his calls.
    uid = first_row.get_attribute("data-testid").removeprefix("row-")
    with frame.expect_navigation() as nav:
        first_row.query_selector('td[data-col="incoming"]').click()
    assert nav.value.status < 500
    url = urlsplit(frame.url)
    assert url.path == "/b24/analytics/calls"
    args = parse_qs(url.query)
    assert args["user"] == [uid] and args["unit"] == ["h"] and "sort" not in args
    frame.wait_for_selector('[data-testid="analytics-tabs"]')

    frame.click('[data-testid="tab-hours"]')
    frame.wait_for_selector('[data-testid="heat"]')
    frame.wait_for_function("() => !!Chart.getChart(document.getElementById('analytics-days-chart'))")
    assert "Самый загруженный час" in frame.inner_text('[data-testid="busiest"]')
    busiest = frame.eval_on_selector_all('[data-testid="heat"] td', "els => Math.max(...els.map(e => +e.dataset.calls))")
    assert busiest > 0
    shot(page, "analytics_hours")
