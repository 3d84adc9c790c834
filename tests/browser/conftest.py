"""A real Chromium (Debian's, driven by Playwright) for pages inside the sandbox portal's iframes."""

from __future__ import annotations

from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def app_frame(page):
    """The app's iframe inside the sandbox page (Bitrix24 names it DOMAIN|PROTOCOL|APP_SID)."""
    page.wait_for_function("() => document.querySelector('iframe') !== null")
    for _ in range(100):
        for f in page.frames:
            if "|" in (f.name or "") and f.url.startswith("http"):
                return f
        page.wait_for_timeout(100)
    raise AssertionError("the app's iframe did not load")


def open_analytics_tab(page, installed, name: str, user: int = 1):
    """The sandbox shell's CRM analytics as `user`, then the app's tab `name` clicked inside its iframe."""
    page.goto(f"{installed.url}/crm/analytics/?user={user}")
    frame = app_frame(page)
    frame.wait_for_selector(f'[data-testid="tab-{name}"]')
    frame.click(f'[data-testid="tab-{name}"]')
    frame.wait_for_selector(f'[data-testid="analytics-{name}"]')
    return frame
