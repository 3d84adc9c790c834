"""«Мои звонки на оценку» in the settings page inside the sandbox portal, in Chromium: a reviewer sees his open
cards oldest first and opens one in the portal (the QA card with its scoring tab); an admin switches to
another reviewer's queue and hands its cards over."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from b24app.extensions import db
from b24app.models_base import utcnow
from b24app.portals.models import Portal
from b24app.qa.models import QaSetup
from b24app.qa.workload import QaAssignment

from ..qa.test_workload import _assignment, _card, _grant
from .conftest import app_frame, shot

pytestmark = pytest.mark.timeout(180)
ROWS = '[data-testid="queue-list"] [data-testid="queue-row"]'


def test_a_reviewer_opens_a_card_from_his_queue_and_an_admin_hands_a_queue_over(installed, live_app, page):
    with live_app.ctx():
        pid = db.session.scalar(select(Portal.id).where(Portal.member_id == installed.member_id))
        etid = db.session.scalar(select(QaSetup.entity_type_id).where(QaSetup.portal_id == pid))
    _grant(live_app, pid, 5, 6)
    now = utcnow()
    hours = (2, 30, 6, 50)
    items = [_card(installed, live_app, start=now - timedelta(hours=h), phone=f"+7912000{h:04d}") for h in hours]
    age = dict(zip(items, hours, strict=True))
    mine = [i for i in items if _assignment(live_app, pid, i).reviewer_id == 5]
    oldest = max(mine, key=age.get)

    page.goto(f"{installed.url}/?user=5&open=app")
    frame = app_frame(page)
    frame.wait_for_selector('[data-testid="queue"]')
    assert "Мои звонки на оценку" in frame.inner_text('[data-testid="queue"] h2')
    shown = [int(x) for x in frame.eval_on_selector_all(ROWS, "els => els.map(e => e.dataset.item)")]
    assert sorted(shown) == sorted(mine) and shown[0] == oldest
    assert frame.get_attribute('[data-testid="queue-open"]', "data-n") == str(len(mine))
    # The queue is the first section of the page
    first = frame.eval_on_selector("main", "m => [...m.querySelectorAll('.card')].map(c => c.id)")
    assert first.index("queue") < first.index("topics")
    shot(page, "queue-reviewer")

    frame.click(f'{ROWS}[data-item="{oldest}"] [data-testid="queue-open-card"]')
    page.wait_for_url(f"**/crm/type/{etid}/details/{oldest}/**")
    page.wait_for_selector(f'iframe[data-placement="CRM_DYNAMIC_{etid}_DETAIL_TAB"]', state="attached")
    shot(page, "queue-opened-card")

    page.goto(f"{installed.url}/?user=1&open=app")
    frame = app_frame(page)
    frame.wait_for_selector('[data-testid="queue-switch"]')
    frame.select_option('[data-testid="queue-switch"] select', "6")
    frame.click('[data-testid="queue-switch"] button')
    frame.wait_for_selector('[data-testid="queue"][data-reviewer="6"]')
    theirs = sorted(set(items) - set(mine))
    assert sorted(int(x) for x in frame.eval_on_selector_all(ROWS, "els => els.map(e => e.dataset.item)")) == theirs
    shot(page, "queue-admin-switch")

    frame.click('[data-testid="queue-reassign"] summary')
    frame.click('[data-testid="queue-reassign"] button[type="submit"]')
    frame.wait_for_selector('[data-testid="notice"]')
    assert "Открытые карточки переданы другим контролёрам" in frame.inner_text('[data-testid="notice"]')
    frame.wait_for_selector('[data-testid="queue"][data-reviewer="6"] [data-testid="queue-empty"]')
    with live_app.ctx():
        moved = db.session.scalars(select(QaAssignment.reviewer_id).where(
            QaAssignment.portal_id == pid, QaAssignment.qa_item_id.in_(theirs))).all()
    assert set(moved) == {5}
    shot(page, "queue-handed-over")
