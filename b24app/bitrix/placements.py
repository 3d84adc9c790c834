"""The documented PLACEMENT_OPTIONS of each placement the app serves (REST-FACTS §2.2–2.4)."""

from __future__ import annotations

import re

from .shapes import Digits, ListOf, Obj, Shape, Text

_URI = Text(2000)
_ENTITY_TYPE = Text(16, choices=("", "LEAD", "DEAL", "CONTACT", "COMPANY"))

# CALL_ID is required by the docs; the call card itself says "no call" in its own words when it is missing.
CALL_CARD = Obj({
    "CALL_ID": Text(128),
    "PHONE_NUMBER": Text(64),
    "LINE_NUMBER": Text(128),
    "LINE_NAME": Text(255),
    "CRM_ENTITY_TYPE": _ENTITY_TYPE,
    "CRM_ENTITY_ID": Digits(),
    "CRM_BINDINGS": ListOf(Obj({"ENTITY_TYPE": _ENTITY_TYPE, "ENTITY_ID": Digits()}), max_items=50),
    "CRM_ACTIVITY_ID": Digits(also=("undefined",)),
    "CALL_DIRECTION": Text(16, choices=("incoming", "outgoing", "callback")),
    "CALL_STATE": Text(16, choices=("idle", "connecting", "connected", "ringing")),
    "CALL_LIST_MODE": Text(8, choices=("true", "false")),
    "URI": _URI,
})

DETAIL_TAB = Obj({"ID": Digits(required=True), "URI": _URI}, required=("ID",))
ONLY_URI = Obj({"URI": _URI})

_DETAIL_TAB = re.compile(r"CRM_(DYNAMIC_\d+|DEAL|LEAD|CONTACT|COMPANY)_DETAIL_TAB")


def options_shape(placement: str) -> Shape:
    """The shape of PLACEMENT_OPTIONS for a placement code (every other code carries only URI)."""
    if placement == "CALL_CARD":
        return CALL_CARD
    if _DETAIL_TAB.fullmatch(placement):
        return DETAIL_TAB
    return ONLY_URI
