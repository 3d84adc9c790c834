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
