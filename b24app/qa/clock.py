"""The portal's time zone for QA pages and messages, and how their times are written."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from ..bitrix.payloads import DEFAULT_TZ_MINUTES
from ..extensions import db


def portal_tz(portal_id: int) -> timezone:
    """The portal's UTC offset as the topic bot last read it from a REST answer, else Moscow time.

    The offset lives on the bot's row (topics sit above qa, so the model is imported here, late).
    """
    from ..topics.models import TopicBot

    minutes = db.session.scalar(select(TopicBot.tz_offset_minutes).where(TopicBot.portal_id == portal_id))
    return timezone(timedelta(minutes=minutes if minutes is not None else DEFAULT_TZ_MINUTES))


def local(when: datetime | None, tz) -> str:
    return when.astimezone(tz).strftime("%d.%m.%Y %H:%M") if when else ""
