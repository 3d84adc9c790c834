"""The history import running in a real job consumer: its progress bar moves to 100 % in the settings page."""

from __future__ import annotations

import tempfile

import pytest

from .conftest import app_frame, shot

QUEUE = {"JOBS_IMMEDIATE": False, "HUEY_SQLITE_PATH": f"{tempfile.mkdtemp(prefix='cq-jobs-')}/jobs.db",
         "B24_RATE_LIMIT": (2.0, 2)}


@pytest.fixture
def consumer(live_app):
    from b24app.jobs import huey

    huey.flush()
    c = huey.create_consumer(workers=2, worker_type="thread", periodic=False, check_worker_health=False)
    c.start()
    yield c
    c.stop(graceful=True)


@pytest.mark.parametrize("live_app", [QUEUE], indirect=True)
def test_import_progress_moves_to_100_percent(live_app, consumer, make_sandbox, page):
    # 60 days of calls, all inside the 90-day import window whatever the hour the test runs at. Each
    # statistics window costs the portal 0.2 s, so a batch answer (50 windows) takes 10 s: the import runs
    # for several seconds after the page is up however fast the machine is (the install itself reads no
    # statistics and stays quick).
    portal = make_sandbox(install=True, rows=20_000, rate=2.0, burst=2, latency=0.05, calls_days=60,
                          method_cost={"voximplant.statistic.get": 0.2})
    page.goto(f"{portal.url}/?user=1&open=app")
    frame = app_frame(page)
    frame.wait_for_selector('[data-testid="import-progress"]')
    seen = []
    for _ in range(600):
        status = frame.get_attribute('[data-testid="import-progress"]', "data-status")
        width = frame.eval_on_selector('[data-testid="import-progress"] .bar', "e => parseFloat(e.style.width) || 0")
        seen.append((status, width))
        if status == "done":
            break
        page.wait_for_timeout(200)
    shot(page, "import-progress-done")
    assert seen[-1] == ("done", 100.0)
    assert any(0 < w < 100 for s, w in seen if s == "running"), seen[:10]
    assert "20000" in frame.inner_text('[data-testid="import-text"]').replace(" ", "").replace("\u00a0", "")
