"""Demo history that looks lived-in: topics managers chose on past calls, and QA cards for the last day.

Only the demo uses this; a real portal's history has no topics until managers pick them.
"""

from __future__ import annotations

import random
import time
from datetime import timedelta

from sqlalchemy import insert, select

from .calls.facts import parse_dt, to_int
from .calls.models import Call, ImportRun
from .calls.rules import REVIEW, SHORT
from .extensions import db
from .models_base import utcnow
from .topics.models import CallTopic, Topic

BASE_WEIGHTS = (40, 25, 15, 12, 8)  # a manager's favourite topic first; shuffled per manager
UNTAGGED_SHARE = 0.15               # calls left without a topic, as in real life


def seed_topics(portal_id: int, rows, seed: int = 7) -> int:
    """Give answered calls longer than 30 s a topic, each manager with his own favourites."""
    topics = list(db.session.scalars(select(Topic.id).where(Topic.portal_id == portal_id, Topic.archived.is_(False))
                                     .order_by(Topic.position)))
    if not topics:
        return 0
    rng = random.Random(seed)
    weights: dict[int, list[int]] = {}
    out = []
    for r in rows:
        user = to_int(r.get("PORTAL_USER_ID"))
        if not user or str(r.get("CALL_FAILED_CODE")) != "200" or (to_int(r.get("CALL_DURATION")) or 0) <= 30:
            continue
        if rng.random() < UNTAGGED_SHARE:
            continue
        if user not in weights:
            w = list(BASE_WEIGHTS[:len(topics)]) + [5] * max(0, len(topics) - len(BASE_WEIGHTS))
            rng.shuffle(w)
            weights[user] = w
        out.append({"portal_id": portal_id, "call_id": str(r["CALL_ID"]), "chosen_by": user, "source": "card",
                    "topic_id": rng.choices(topics, weights=weights[user])[0],
                    "chosen_at": parse_dt(r.get("CALL_START_DATE")) or utcnow()})
    if out:
        db.session.execute(insert(CallTopic), out)
        db.session.commit()
    return len(out)


def cards_for_last_day(portal_id: int, wait_seconds: float = 600, hours: int = 24) -> int:
    """Once the history import is done, queue QA cards for the selected calls of the last `hours`."""
    from .qa.cards import queue_for

    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        run = db.session.scalar(select(ImportRun).where(ImportRun.portal_id == portal_id)
                                .order_by(ImportRun.id.desc()))
        if run is not None and run.status == "done":
            break
        db.session.rollback()  # see the writer's commits
        time.sleep(1)
    else:
        return 0
    ids = db.session.scalars(select(Call.call_id).where(
        Call.portal_id == portal_id, Call.selection.in_((REVIEW, SHORT)), Call.qa_item_id.is_(None),
        Call.call_start_date >= utcnow() - timedelta(hours=hours))).all()
    return queue_for(portal_id, list(ids))
