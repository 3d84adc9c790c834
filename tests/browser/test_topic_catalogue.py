"""The topic catalogue in the settings page inside the sandbox portal's iframe, in Chromium: add a topic,
drag it to the top of its group in manual order, and find the order kept after a reload."""

from __future__ import annotations

from sqlalchemy import select

from b24app.extensions import db
from b24app.portals.models import Portal
from b24app.topics.service import ranked_for

from .conftest import app_frame, shot

ROWS = '[data-testid="topic-list"] [data-testid="topic-row"]'


def _names(frame) -> list[str]:
    return frame.eval_on_selector_all(ROWS, "els => els.map(e => e.dataset.name)")


def test_an_admin_adds_a_topic_and_drags_it_to_the_top(installed, live_app, page):
    page.goto(f"{installed.url}/?user=1&open=app")
    frame = app_frame(page)
    frame.wait_for_selector('[data-testid="topic-catalogue"]')
    assert _names(frame) == ["Новый клиент", "Повторная продажа", "Претензия", "Консультация", "Другое"]
    shot(page, "topic-catalogue")

    frame.check('[data-testid="topic-settings-form"] input[name="order_by"][value="manual"]')
    frame.click('[data-testid="topic-settings-form"] button[type="submit"]')
    frame.wait_for_selector('[data-testid="topic-catalogue"][data-order="manual"]')
    assert "Настройки тем сохранены" in frame.inner_text('[data-testid="notice"]')

    add = '[data-testid="topic-add-form"]'
    frame.fill(f'{add} input[name="name"]', "Срочный заказ")
    frame.fill(f'{add} input[name="group"]', "Продажи")
    frame.click(f'{add} button[type="submit"]')
    frame.wait_for_selector(f'{ROWS}[data-name="Срочный заказ"]')
    assert "Тема добавлена" in frame.inner_text('[data-testid="notice"]')
    assert _names(frame)[:3] == ["Новый клиент", "Повторная продажа", "Срочный заказ"]

    frame.drag_and_drop(f'{ROWS}[data-name="Срочный заказ"] [data-drag="topic"]',
                        f'{ROWS}[data-name="Новый клиент"]', target_position={"x": 200, "y": 3})
    frame.wait_for_selector('[data-testid="order-status"][data-state="saved"]')
    assert _names(frame)[:3] == ["Срочный заказ", "Новый клиент", "Повторная продажа"]
    shot(page, "topic-catalogue-dragged")

    page.reload()
    frame = app_frame(page)
    frame.wait_for_selector('[data-testid="topic-catalogue"][data-order="manual"]')
    assert _names(frame) == ["Срочный заказ", "Новый клиент", "Повторная продажа", "Претензия", "Консультация",
                             "Другое"]
    # the ↑/↓ buttons follow the new order
    assert frame.is_disabled(f'{ROWS}[data-name="Срочный заказ"] [data-move="up"]')
    assert frame.is_enabled(f'{ROWS}[data-name="Повторная продажа"] [data-move="up"]')
    with live_app.ctx():
        pid = db.session.scalar(select(Portal.id).where(Portal.member_id == installed.member_id))
        assert [t.name for t in ranked_for(pid, 2)][:2] == ["Срочный заказ", "Новый клиент"]
    shot(page, "topic-catalogue-reloaded")
