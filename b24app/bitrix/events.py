"""The documented data of each portal event the app handles (REST-FACTS §1.4, §3.3, §3.4).

An event the app does not handle, or whose data does not fit its shape here, is refused at the edge.
"""

from __future__ import annotations

from .shapes import Digits, Obj, Text

# Every event's `auth` block; the tokens in it are never kept (DESIGN §7: the stored ones are used).
# An empty member_id or application_token fits the shape: the inbox refuses it as unauthenticated (401).
AUTH = Obj({
    "member_id": Text(64),
    "application_token": Text(128),
    "domain": Text(255),
    "client_endpoint": Text(255),
    "server_endpoint": Text(255),
    "scope": Text(1000),
    "status": Text(8),
    "access_token": Text(512),
    "refresh_token": Text(512),
    "expires_in": Digits(),
})

_CALL_ID = Text(128, required=True)

DATA: dict[str, Obj] = {
    "ONAPPINSTALL": Obj({"VERSION": Text(32), "ACTIVE": Text(8), "INSTALLED": Text(8), "LANGUAGE_ID": Text(8)}),
    "ONAPPUNINSTALL": Obj({"LANGUAGE_ID": Text(8), "CLEAN": Text(1, choices=("0", "1"))}),
    "ONVOXIMPLANTCALLINIT": Obj({
        "CALL_ID": _CALL_ID, "CALL_TYPE": Digits(2), "ACCOUNT_SEARCH_ID": Text(128), "PHONE_NUMBER": Text(64),
        "CALLER_ID": Text(128), "REST_APP_ID": Text(64),
    }, required=("CALL_ID",)),
    "ONVOXIMPLANTCALLSTART": Obj({"CALL_ID": _CALL_ID, "USER_ID": Digits()}, required=("CALL_ID",)),
    "ONVOXIMPLANTCALLEND": Obj({
        "CALL_ID": _CALL_ID, "CALL_TYPE": Digits(2), "PHONE_NUMBER": Text(64), "PORTAL_NUMBER": Text(128),
        "PORTAL_USER_ID": Digits(), "CALL_DURATION": Digits(), "CALL_START_DATE": Text(40),
        "COST": Text(32, pattern=r"-?\d+(\.\d+)?"), "COST_CURRENCY": Text(8), "CALL_FAILED_CODE": Text(16),
        "CALL_FAILED_REASON": Text(255), "CRM_ACTIVITY_ID": Digits(also=("undefined",)),
    }, required=("CALL_ID",)),
    "ONCRMDEALADD": Obj({"FIELDS": Obj({"ID": Digits(required=True)}, required=("ID",))}, required=("FIELDS",)),
    "ONCRMDEALUPDATE": Obj({"FIELDS": Obj({"ID": Digits(required=True)}, required=("ID",))}, required=("FIELDS",)),
    "ONCRMCONTACTADD": Obj({"FIELDS": Obj({"ID": Digits(required=True)}, required=("ID",))}, required=("FIELDS",)),
    "ONCRMCONTACTUPDATE": Obj({"FIELDS": Obj({"ID": Digits(required=True)}, required=("ID",))}, required=("FIELDS",)),
    "ONCRMCONTACTDELETE": Obj({"FIELDS": Obj({"ID": Digits(required=True)}, required=("ID",))}, required=("FIELDS",)),
}
