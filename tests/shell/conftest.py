"""Playwright with Debian's Chromium (browser downloads are not available here). The browser tests are
skipped, with the reason, only when /usr/bin/chromium is absent (CI installs it via scripts/setup.sh)."""

from __future__ import annotations

from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def shot(page):
    ARTIFACTS.mkdir(exist_ok=True)

    def take(name: str) -> Path:
        path = ARTIFACTS / f"shell-{name}.png"
        page.screenshot(path=str(path), full_page=False)
        return path

    return take
