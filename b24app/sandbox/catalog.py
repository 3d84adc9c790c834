"""What the sandbox portal offers an app: placement codes and event names, with the scope each needs.
One place, so placement.bind, event.bind, `events` and the portal page agree."""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class PlacementKind:
    scope: str
    options: dict[str, str] = field(default_factory=dict)  # option → type kept by placement.bind
    max_count: int = 0  # 0 = unlimited
    user_mode: bool = False  # USER_ID allowed


PLACEMENTS: dict[str, PlacementKind] = {
    "CALL_CARD": PlacementKind("telephony"),
    "TELEPHONY_ANALYTICS_MENU": PlacementKind("telephony"),
    "LEFT_MENU": PlacementKind("placement"),
    "PAGE_BACKGROUND_WORKER": PlacementKind("placement", {"errorHandlerUrl": "string"}, max_count=1,
                                            user_mode=True),
    "IM_CONTEXT_MENU": PlacementKind("im", {"extranet": "string", "context": "string", "role": "string"}),
    "CRM_ANALYTICS_MENU": PlacementKind("crm"),
    "CRM_ANALYTICS_TOOLBAR": PlacementKind("crm"),
    "CRM_DEAL_DETAIL_TAB": PlacementKind("crm"),
    "CRM_DEAL_DETAIL_ACTIVITY": PlacementKind("crm"),
    "CRM_DEAL_DETAIL_TOOLBAR": PlacementKind("crm"),
    "CRM_DEAL_LIST_MENU": PlacementKind("crm"),
    "CRM_DEAL_LIST_TOOLBAR": PlacementKind("crm"),
    "CRM_CONTACT_DETAIL_TAB": PlacementKind("crm"),
    "CRM_COMPANY_DETAIL_TAB": PlacementKind("crm"),
    "CRM_LEAD_DETAIL_TAB": PlacementKind("crm"),
}

# Smart-process placements carry the entityTypeId in the code (REST-FACTS §2.2).
_DYNAMIC = re.compile(
    r"^CRM_DYNAMIC_(\d+)_(DETAIL_TAB|DETAIL_ACTIVITY|DETAIL_TOOLBAR|LIST_MENU|LIST_TOOLBAR|"
    r"ACTIVITY_TIMELINE_MENU|ROBOT_DESIGNER_TOOLBAR|DOCUMENTGENERATOR_BUTTON)$")

# Placements the portal page shows as menu entries (the rest open elsewhere in a real portal).
MENU_PLACEMENTS = ("LEFT_MENU", "CRM_ANALYTICS_MENU", "TELEPHONY_ANALYTICS_MENU")


def placement_kind(code: str) -> PlacementKind | None:
    if code in PLACEMENTS:
        return PLACEMENTS[code]
    if _DYNAMIC.match(code):
        return PlacementKind("crm")
    return None


# Event name → scope the app needs to bind it ("basic" = always available).
EVENTS: dict[str, str] = {
    "ONAPPINSTALL": "basic",
    "ONAPPUNINSTALL": "basic",
    "ONAPPUPDATE": "basic",
    "ONAPPMETHODCONFIRM": "basic",
    "ONOFFLINEEVENT": "basic",
    "ONVOXIMPLANTCALLINIT": "telephony",
    "ONVOXIMPLANTCALLSTART": "telephony",
    "ONVOXIMPLANTCALLEND": "telephony",
    "ONEXTERNALCALLSTART": "telephony",
    "ONEXTERNALCALLBACKSTART": "telephony",
    "ONCRMDEALADD": "crm",
    "ONCRMDEALUPDATE": "crm",
    "ONCRMDEALDELETE": "crm",
    "ONCRMCONTACTADD": "crm",
    "ONCRMCONTACTUPDATE": "crm",
    "ONCRMCONTACTDELETE": "crm",
    "ONCRMCOMPANYADD": "crm",
    "ONCRMCOMPANYUPDATE": "crm",
    "ONCRMLEADADD": "crm",
    "ONCRMLEADUPDATE": "crm",
    "ONCRMACTIVITYADD": "crm",
    "ONCRMACTIVITYUPDATE": "crm",
    "ONCRMACTIVITYDELETE": "crm",
    "ONCRMDYNAMICITEMADD": "crm",
    "ONCRMDYNAMICITEMUPDATE": "crm",
    "ONCRMDYNAMICITEMDELETE": "crm",
    "ONCRMTYPEADD": "crm",
    "ONCRMTYPEUPDATE": "crm",
    "ONIMBOTMESSAGEADD": "imbot",
    "ONIMBOTMESSAGEUPDATE": "imbot",
    "ONIMBOTMESSAGEDELETE": "imbot",
    "ONIMBOTJOINCHAT": "imbot",
    "ONIMBOTDELETE": "imbot",
    "ONIMCOMMANDADD": "imbot",
    "ONUSERADD": "user",
}

# Events whose `auth` carries a refresh token (REST-FACTS §3.2).
SENDS_REFRESH_TOKEN = frozenset({"ONAPPINSTALL", "ONOFFLINEEVENT"})
# Events that cannot be bound offline (core: disableOffline).
NO_OFFLINE = frozenset({"ONOFFLINEEVENT"})


def scopes(text: str) -> set[str]:
    return {s.strip() for s in (text or "").split(",") if s.strip()}
