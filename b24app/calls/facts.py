"""Call facts from the portal's shapes (statistics rows, CALLEND events) into `calls` columns."""

from __future__ import annotations

from datetime import UTC, datetime

STAT_COLUMNS = ("stat_id", "call_type", "phone_number", "portal_number", "portal_user_id", "call_start_date",
                "duration", "failed_code", "failed_reason", "vote", "cost", "record_file_id", "crm_entity_type",
                "crm_entity_id", "crm_activity_id", "rest_app_id")


def _int(value) -> int | None:
    try:
        return int(str(value).strip()) if value not in (None, "", "undefined") else None
    except ValueError:
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
        dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def from_ts(value) -> datetime | None:
    ts = _float(value)
    return datetime.fromtimestamp(ts, UTC) if ts else None


def from_statistic(row: dict) -> dict:
    """One voximplant.statistic.get row → column values (the row is the authority for these)."""
    vote = _int(row.get("CALL_VOTE"))
    return {
        "call_id": str(row.get("CALL_ID") or "")[:128],
        "stat_id": _int(row.get("ID")),
        "call_type": _int(row.get("CALL_TYPE")),
        "phone_number": str(row.get("PHONE_NUMBER") or "")[:64],
        "portal_number": str(row.get("PORTAL_NUMBER") or "")[:128],
        "portal_user_id": _int(row.get("PORTAL_USER_ID")),
        "call_start_date": parse_dt(row.get("CALL_START_DATE")),
        "duration": _int(row.get("CALL_DURATION")) or 0,
        "failed_code": str(row.get("CALL_FAILED_CODE") or "")[:16],
        "failed_reason": str(row.get("CALL_FAILED_REASON") or "")[:255],
        "vote": vote if vote and 1 <= vote <= 5 else None,
        "cost": _float(row.get("COST")),
        "record_file_id": _int(row.get("RECORD_FILE_ID")),
        "crm_entity_type": str(row.get("CRM_ENTITY_TYPE") or "")[:16],
        "crm_entity_id": _int(row.get("CRM_ENTITY_ID")),
        "crm_activity_id": _int(row.get("CRM_ACTIVITY_ID")),
        "rest_app_id": str(row.get("REST_APP_ID") or "")[:64],
    }


def from_callend(data: dict) -> dict:
    """ONVOXIMPLANTCALLEND data → column values (no vote, recording or CRM entity: see REST-FACTS §3.3)."""
    return {
        "call_id": str(data.get("CALL_ID") or "")[:128],
        "call_type": _int(data.get("CALL_TYPE")),
        "phone_number": str(data.get("PHONE_NUMBER") or "")[:64],
        "portal_number": str(data.get("PORTAL_NUMBER") or "")[:128],
        "portal_user_id": _int(data.get("PORTAL_USER_ID")),
        "call_start_date": parse_dt(data.get("CALL_START_DATE")),
        "duration": _int(data.get("CALL_DURATION")) or 0,
        "failed_code": str(data.get("CALL_FAILED_CODE") or "")[:16],
        "failed_reason": str(data.get("CALL_FAILED_REASON") or "")[:255],
        "cost": _float(data.get("COST")),
        "crm_activity_id": _int(data.get("CRM_ACTIVITY_ID")),
    }
