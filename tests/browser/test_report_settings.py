"""«Отчёты» in the settings page inside the sandbox portal's iframe, in Chromium: the admin saves a weekly
schedule to the workgroup's Disk folder and the management chat, presses «Отправить сейчас», and finds the
workbook in the portal's Disk page and the summary with its link in the portal's chat."""

from __future__ import annotations

from sqlalchemy import select

from b24app.extensions import db
from b24app.reports.models import ReportRun, ReportSettings

from ..reports.schedule_helpers import FOLDER, group_storage
from .conftest import app_frame, shot

SECTION = '[data-testid="reports-section"]'


def test_an_admin_saves_a_schedule_sends_a_report_now_and_finds_it_on_disk_and_in_chat(installed, live_app, page):
    page.goto(f"{installed.url}/?user=1&open=app")
    frame = app_frame(page)
    frame.wait_for_selector(SECTION)
    assert "UTC+03:00" in frame.inner_text('[data-testid="rs-tz"]')
    frame.check('[data-testid="rs-weekly"]')
    frame.select_option('[data-testid="rs-hour"]', "9")
    frame.select_option('[data-testid="rs-storage"]', group_storage(installed)["ID"])
    frame.fill('[data-testid="rs-folder"]', FOLDER)
    frame.check('[data-testid="rs-chat-existing"]')
    frame.select_option('[data-testid="rs-chat"]', "chat1")
    frame.check('[data-testid="rs-scope-company"]')
    frame.locator(SECTION).scroll_into_view_if_needed()
    shot(page, "report-settings-filled")
    frame.click('[data-testid="report-settings-save"]')
    frame.wait_for_selector('[data-testid="notice"]')
    assert "Настройки отчётов сохранены" in frame.inner_text('[data-testid="notice"]')
    with live_app.ctx():
        s = db.session.scalar(select(ReportSettings))
        assert (s.weekly, s.monthly, s.hour, s.dialog_id, s.folder_name) == (True, False, 9, "chat1", FOLDER)

    frame.select_option('[data-testid="rs-send-period"]', "weekly")
    frame.click('[data-testid="report-send-now"]')
    frame.wait_for_selector('[data-testid="report-run"][data-status="done"]')
    assert "Отчёт отправляется" in frame.inner_text('[data-testid="notice"]')
    frame.locator('[data-testid="report-runs"]').scroll_into_view_if_needed()
    shot(page, "report-settings-sent")
    with live_app.ctx():
        run = db.session.scalar(select(ReportRun))
        name, first = f"Отчёт по звонкам {run.first:%d.%m.%Y}–{run.last:%d.%m.%Y} (№{run.id}).xlsx", run.first
    assert frame.inner_text('[data-testid="report-run-file"]') == name.replace(f" (№{run.id})", "")

    page.goto(f"{installed.url}/disk/?user=1")
    page.click(f'[data-testid="folders"] a:text-is("📁 {first.year}")')
    page.wait_for_selector(f'[data-testid="files"] td:has-text("{name}")')
    shot(page, "report-on-disk")

    page.goto(f"{installed.url}/chat/?user=2")  # a member of «Руководство», not the one who posted
    text = page.inner_text('[data-testid="chat"]')
    assert f"Отчёт по звонкам за {run.first:%d.%m.%Y}–{run.last:%d.%m.%Y}" in text and "Вся компания" in text
    link = page.locator('[data-testid="message-text"] a:has-text("Полный отчёт в Excel")')
    assert link.count() == 1 and "/_sandbox/disk/public/" in link.get_attribute("href")
    shot(page, "report-summary-in-chat")
