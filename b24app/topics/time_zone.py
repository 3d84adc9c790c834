"""The portal's UTC offset read again every hour, so local days and report hours follow a DST change.

The offset is what a REST answer's `time.date_start` carries (REST-FACTS §8.4); the bot first stores it at
registration. A portal in a zone with daylight saving moves by an hour twice a year, and every local
day (analytics, the QA deadlines) and the hour a scheduled report is sent would stay on the old offset
until something re-read it. One cheap call (`app.info`) per active portal per hour keeps it within the hour.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from ..bitrix import errors as E
from ..bitrix.payloads import portal_timezone
from ..extensions import db
from ..jobs import app_periodic_task, every_minutes
from ..models_base import row_for_portal
from ..portals.models import STATUS_ACTIVE, Portal
from ..portals.rest import client_for
from .models import TopicBot

log = logging.getLogger(__name__)


def refresh(portal: Portal) -> int | None:
    """Read the portal's offset now and store it; the offset in minutes, None when the answer had none."""
    res = client_for(portal.member_id, max_attempts=2).call("app.info")
    tz = portal_timezone(res.time)
    if tz is None:
        return None
    minutes = int(tz.utcoffset(None).total_seconds() // 60)
    row = row_for_portal(TopicBot, portal.id)
    if row.tz_offset_minutes != minutes:
        log.info("portal=%s UTC offset %s → %s min", portal.member_id, row.tz_offset_minutes, minutes)
        row.tz_offset_minutes = minutes
    db.session.commit()
    return minutes


def refresh_all() -> int:
    """Every active portal's offset; a portal that does not answer keeps the last one. Returns those read."""
    read = 0
    for portal in db.session.scalars(select(Portal).where(Portal.status == STATUS_ACTIVE)).all():
        try:
            read += refresh(portal) is not None
        except E.BitrixError as exc:
            db.session.rollback()
            log.warning("portal=%s UTC offset not read: %s", portal.member_id, E.root_code(exc))
    return read


@app_periodic_task(every_minutes("TZ_REFRESH_MINUTES", 60))
def refresh_time_zones() -> int:
    return refresh_all()
