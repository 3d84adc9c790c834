"""A real Chromium (Debian's, driven by Playwright) for pages inside the sandbox portal's iframes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (scripts/setup.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="ru-RU")
    pg = ctx.new_page()
    yield pg
    ctx.close()


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
