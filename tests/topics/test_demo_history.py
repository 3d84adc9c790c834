"""The demo's lived-in history: topics on past answered calls (per-manager favourites) and recent QA cards."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from b24app.calls.models import Call
from b24app.demo_history import cards_for_last_day, seed_topics
from b24app.extensions import db
from b24app.portals.models import Portal
from b24app.topics.models import CallTopic


def test_seeded_topics_go_to_long_answered_calls_with_each_managers_favourites(installed, live_app):
    rows = [installed.state.calls.get(i) for i in installed.state.calls.ids()]
    long_answered = {r["CALL_ID"] for r in rows if r["CALL_FAILED_CODE"] == "200" and int(r["CALL_DURATION"]) > 30}
    with live_app.ctx():
        pid = db.session.scalar(select(Portal.id).where(Portal.member_id == installed.member_id))
        made = seed_topics(pid, rows)
        got = db.session.execute(select(CallTopic.call_id, CallTopic.chosen_by, CallTopic.topic_id)
                                 .where(CallTopic.portal_id == pid)).all()
    assert made == len(got) > 0
    assert {c for c, _, _ in got} <= long_answered
    assert 0.7 * len(long_answered) <= made < len(long_answered)  # most, not all, are tagged
    favourites = {}
    for user in {u for _, u, _ in got}:
        counts = Counter(t for _, u, t in got if u == user)
        if sum(counts.values()) >= 30:
            favourites[user] = counts.most_common(1)[0][0]
    assert len(set(favourites.values())) > 1  # managers differ in what they talk about most


def test_recent_selected_calls_get_cards_once_the_import_is_done(installed, live_app):
    with live_app.ctx():
        pid = db.session.scalar(select(Portal.id).where(Portal.member_id == installed.member_id))
        queued = cards_for_last_day(pid, wait_seconds=30, hours=24 * 90)
        with_cards = db.session.scalar(select(func.count()).select_from(Call).where(
            Call.portal_id == pid, Call.qa_item_id > 0))
        again = cards_for_last_day(pid, wait_seconds=30, hours=24 * 90)
    assert queued > 0 and with_cards == queued
    assert again == 0
