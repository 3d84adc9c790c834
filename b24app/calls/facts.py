"""Call facts from the portal's shapes (statistics rows, CALLEND events) into `calls` columns."""

from __future__ import annotations

from datetime import UTC, datetime

STAT_COLUMNS = ("stat_id", "call_type", "phone_number", "portal_number", "portal_user_id", "call_start_date",
                "duration", "failed_code", "failed_reason", "vote", "cost", "record_file_id", "crm_entity_type",
                "crm_entity_id", "crm_activity_id", "rest_app_id")


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


def parse_dt(value) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(str(value))  # Python 3.11 reads "Z" and "+03:00" alike
    except ValueError:
        return None
    # Stored in UTC: SQLite keeps only the wall-clock digits, so a +03:00 time must not reach it as is.
    return dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)


def from_ts(value) -> datetime | None:
    ts = _float(value)
    return datetime.fromtimestamp(ts, UTC) if ts else None


def from_callend(data: dict) -> dict:
    """ONVOXIMPLANTCALLEND data → column values (no vote, recording or CRM entity: see REST-FACTS §3.3).

    A statistics row carries the same keys under the same names, so `from_statistic` starts here.
    """
    g = data.get
    return {
        "call_id": str(g("CALL_ID") or "")[:128],
        "call_type": to_int(g("CALL_TYPE")),
        "phone_number": str(g("PHONE_NUMBER") or "")[:64],
        "portal_number": str(g("PORTAL_NUMBER") or "")[:128],
        "portal_user_id": to_int(g("PORTAL_USER_ID")),
        "call_start_date": parse_dt(g("CALL_START_DATE")),
        "duration": to_int(g("CALL_DURATION")) or 0,
        "failed_code": str(g("CALL_FAILED_CODE") or "")[:16],
        "failed_reason": str(g("CALL_FAILED_REASON") or "")[:255],
        "cost": _float(g("COST")),
        "crm_activity_id": to_int(g("CRM_ACTIVITY_ID")),
    }


def from_statistic(row: dict) -> dict:
    """One voximplant.statistic.get row → column values (the row is the authority for these)."""
    g = row.get
    v = from_callend(row)
    vote = to_int(g("CALL_VOTE"))
    v["stat_id"] = to_int(g("ID"))
    v["vote"] = vote if vote and 1 <= vote <= 5 else None
    v["record_file_id"] = to_int(g("RECORD_FILE_ID"))
    v["crm_entity_type"] = str(g("CRM_ENTITY_TYPE") or "")[:16]
    v["crm_entity_id"] = to_int(g("CRM_ENTITY_ID"))
    v["rest_app_id"] = str(g("REST_APP_ID") or "")[:64]
    return v
