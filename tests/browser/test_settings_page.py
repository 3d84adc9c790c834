"""The settings page (LEFT_MENU) inside the sandbox portal's iframe, in Chromium."""

from __future__ import annotations

from b24app.extensions import db
from b24app.portals.models import RoleGrant

from .conftest import app_frame, shot


def test_settings_page_in_the_portal_iframe_shows_import_done_and_grants_a_role(installed, live_app, page):
    page.goto(f"{installed.url}/?user=1&open=app")
    frame = app_frame(page)
    frame.wait_for_selector('[data-testid="import-progress"][data-status="done"]')
    width = frame.eval_on_selector('[data-testid="import-progress"] .bar', "e => e.style.width")
    assert width == "100%"
    assert "Готово: загружено звонков" in frame.inner_text('[data-testid="import-text"]')
    shot(page, "settings-page")
    frame.select_option('[data-testid="grant-form"] select[name="user_id"]', "2")
    frame.select_option('[data-testid="grant-form"] select[name="role"]', "qa")
    frame.click('[data-testid="grant-form"] button[type="submit"]')
    frame.wait_for_selector('[data-testid="notice"]')
    assert "Роль назначена" in frame.inner_text('[data-testid="notice"]')
    with live_app.ctx():
        assert [(g.user_id, g.role) for g in db.session.query(RoleGrant).all()] == [(2, "qa")]
    shot(page, "settings-page-role-granted")


def test_the_iframe_resizes_to_its_content(installed, live_app, page):
    page.goto(f"{installed.url}/?user=1&open=app")
    frame = app_frame(page)
    frame.wait_for_selector('[data-testid="grants"]')
    page.wait_for_timeout(500)
    content = frame.evaluate("() => document.documentElement.scrollHeight")
    box = page.eval_on_selector("iframe", "e => e.getBoundingClientRect().height")
    assert abs(box - content) < 40  # resizeWindow from the page reached the portal and was applied
