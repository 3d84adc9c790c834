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
    return {
        "call_id": str(data.get("CALL_ID") or "")[:128],
        "call_type": to_int(data.get("CALL_TYPE")),
        "phone_number": str(data.get("PHONE_NUMBER") or "")[:64],
        "portal_number": str(data.get("PORTAL_NUMBER") or "")[:128],
        "portal_user_id": to_int(data.get("PORTAL_USER_ID")),
        "call_start_date": parse_dt(data.get("CALL_START_DATE")),
        "duration": to_int(data.get("CALL_DURATION")) or 0,
        "failed_code": str(data.get("CALL_FAILED_CODE") or "")[:16],
        "failed_reason": str(data.get("CALL_FAILED_REASON") or "")[:255],
        "cost": _float(data.get("COST")),
        "crm_activity_id": to_int(data.get("CRM_ACTIVITY_ID")),
    }


def from_statistic(row: dict) -> dict:
    """One voximplant.statistic.get row → column values (the row is the authority for these)."""
    vote = to_int(row.get("CALL_VOTE"))
    return {
        **from_callend(row),
        "stat_id": to_int(row.get("ID")),
        "vote": vote if vote and 1 <= vote <= 5 else None,
        "record_file_id": to_int(row.get("RECORD_FILE_ID")),
        "crm_entity_type": str(row.get("CRM_ENTITY_TYPE") or "")[:16],
        "crm_entity_id": to_int(row.get("CRM_ENTITY_ID")),
        "rest_app_id": str(row.get("REST_APP_ID") or "")[:64],
    }
