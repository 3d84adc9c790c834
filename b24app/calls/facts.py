"""Call facts from the portal's shapes (statistics rows, CALLEND events) into `calls` columns."""

from __future__ import annotations

from datetime import UTC, datetime

STAT_COLUMNS = ("stat_id", "call_type", "phone_number", "portal_number", "portal_user_id", "call_start_date",
                "duration", "failed_code", "failed_reason", "vote", "cost", "record_file_id", "crm_entity_type",
                "crm_entity_id", "crm_activity_id", "rest_app_id")
# What one statistics row gives, in the order `statistic_row` returns it.
STAT_ROW = ("call_id",) + STAT_COLUMNS


def to_int(value) -> int | None:
    if value is None or value == "" or value == "undefined":
        return None
    try:
        return int(value)  # int() itself ignores surrounding spaces
    except (TypeError, ValueError):
        return None


def _float(value) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _text(value, limit: int) -> str:
    return str(value or "")[:limit]


def parse_dt(value) -> datetime | None:
    """A portal time as an aware datetime (its own offset kept; a time without one is taken as UTC)."""
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value if type(value) is str else str(value))  # reads "Z" and "+03:00" alike
    except ValueError:
        return None
    # The offset is kept as sent: the columns store UTC (models_base.UtcDateTime), and converting
    # every imported row here would cost more than the rest of its conversion.
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def from_ts(value) -> datetime | None:
    ts = _float(value)
    return datetime.fromtimestamp(ts, UTC) if ts else None


def from_callend(data: dict) -> dict:
    """ONVOXIMPLANTCALLEND data → column values (no vote, recording or CRM entity: see REST-FACTS §3.3)."""
    g = data.get
    return {
        "call_id": _text(g("CALL_ID"), 128),
        "call_type": to_int(g("CALL_TYPE")),
        "phone_number": _text(g("PHONE_NUMBER"), 64),
        "portal_number": _text(g("PORTAL_NUMBER"), 128),
        "portal_user_id": to_int(g("PORTAL_USER_ID")),
        "call_start_date": parse_dt(g("CALL_START_DATE")),
        "duration": to_int(g("CALL_DURATION")) or 0,
        "failed_code": _text(g("CALL_FAILED_CODE"), 16),
        "failed_reason": _text(g("CALL_FAILED_REASON"), 255),
        "cost": _float(g("COST")),
        "crm_activity_id": to_int(g("CRM_ACTIVITY_ID")),
    }


def statistic_row(row: dict) -> tuple:
    """One voximplant.statistic.get row → its column values in `STAT_ROW` order (the row is the authority).

    `from_callend` reads the same keys the same way. The history import runs this for hundreds of
    thousands of rows, so the usual shape (every value a string or null) takes one straight pass,
    and anything else (a number, "undefined", a list) is read again field by field.
    """
    try:
        return _statistic_row_fast(row)
    except (TypeError, ValueError):
        return _statistic_row(row)


def _statistic_row(row: dict) -> tuple:
    g = row.get
    vote = to_int(g("CALL_VOTE"))
    return (
        _text(g("CALL_ID"), 128),
        to_int(g("ID")),
        to_int(g("CALL_TYPE")),
        _text(g("PHONE_NUMBER"), 64),
        _text(g("PORTAL_NUMBER"), 128),
        to_int(g("PORTAL_USER_ID")),
        parse_dt(g("CALL_START_DATE")),
        to_int(g("CALL_DURATION")) or 0,
        _text(g("CALL_FAILED_CODE"), 16),
        _text(g("CALL_FAILED_REASON"), 255),
        vote if vote is not None and 1 <= vote <= 5 else None,
        _float(g("COST")),
        to_int(g("RECORD_FILE_ID")),
        _text(g("CRM_ENTITY_TYPE"), 16),
        to_int(g("CRM_ENTITY_ID")),
        to_int(g("CRM_ACTIVITY_ID")),
        _text(g("REST_APP_ID"), 64),
    )


def _falsy(value):
    """A falsy value the fast path cannot vouch for (0, 0.0, False, [] …): read the row carefully."""
    raise TypeError(type(value).__name__)


def _statistic_row_fast(row: dict) -> tuple:
    # Equal to `_statistic_row` whenever every value is a str or None: `int(v) if v else None` is
    # to_int(v) for those (a bad number raises and takes the careful path), and any other falsy value,
    # where the two could differ, raises too.
    g = row.get
    v = g("ID")
    sid = int(v) if v else (None if v is None or v == "" else _falsy(v))
    v = g("CALL_TYPE")
    ctype = int(v) if v else (None if v is None or v == "" else _falsy(v))
    v = g("PORTAL_USER_ID")
    user = int(v) if v else (None if v is None or v == "" else _falsy(v))
    v = g("CALL_DURATION")
    dur = int(v) if v else (0 if v is None or v == "" else _falsy(v))
    v = g("CALL_VOTE")
    vote = int(v) if v else (None if v is None or v == "" else _falsy(v))
    v = g("COST")
    cost = float(v) if v else (None if v is None or v == "" else _falsy(v))
    v = g("RECORD_FILE_ID")
    rec = int(v) if v else (None if v is None or v == "" else _falsy(v))
    v = g("CRM_ENTITY_ID")
    ent = int(v) if v else (None if v is None or v == "" else _falsy(v))
    v = g("CRM_ACTIVITY_ID")
    act = int(v) if v else (None if v is None or v == "" else _falsy(v))
    return (
        str(g("CALL_ID") or "")[:128],
        sid,
        ctype,
        str(g("PHONE_NUMBER") or "")[:64],
        str(g("PORTAL_NUMBER") or "")[:128],
        user,
        parse_dt(g("CALL_START_DATE")),
        dur,
        str(g("CALL_FAILED_CODE") or "")[:16],
        str(g("CALL_FAILED_REASON") or "")[:255],
        vote if vote is not None and 1 <= vote <= 5 else None,
        cost,
        rec,
        str(g("CRM_ENTITY_TYPE") or "")[:16],
        ent,
        act,
        str(g("REST_APP_ID") or "")[:64],
    )


def from_statistic(row: dict) -> dict:
    """One voximplant.statistic.get row → column values by name."""
    return dict(zip(STAT_ROW, statistic_row(row), strict=True))
