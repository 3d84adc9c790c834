"""app.info (portal side), scope and methods."""

from __future__ import annotations

from ..catalog import scopes
from ..dispatch import Call, MethodSpec
from .common import text, upper

ALL_SCOPES = ("basic", "crm", "telephony", "call", "placement", "im", "imbot", "disk", "user", "user_basic",
              "user_brief", "department", "userfieldconfig", "entity", "task", "bizproc")


def license_info(call: Call) -> dict:
    lic = call.state.settings.license
    kind = lic.split("_", 1)[-1]
    return {"LICENSE": lic, "LICENSE_TYPE": kind, "LICENSE_FAMILY": kind}


def info(call: Call) -> dict:
    """Fixture app.info.response; INSTALLED turns true only after installFinish."""
    s = call.state.settings
    if not call.caller.is_app:
        # A webhook has no application behind it; only the portal's licence is known (UNCONFIRMED shape).
        return {"SCOPE": sorted(ALL_SCOPES), **license_info(call)}
    return {
        "ID": 1,
        "CODE": s.client_id,
        "VERSION": s.app_version,
        "STATUS": s.app_status,
        "INSTALLED": call.state.app.installed,
        "PAYMENT_EXPIRED": "N",
        "DAYS": None,
        "LANGUAGE_ID": s.language,
        **license_info(call),
    }


def scope(call: Call) -> list:
    p = upper(call.params)
    if not call.caller.is_app or text(p.get("FULL")).lower() in ("1", "true", "y"):
        return list(ALL_SCOPES)
    return sorted(scopes(call.state.settings.app_scope))


def methods(call: Call) -> list:
    from . import registry

    granted = scopes(call.state.settings.app_scope) | {"basic"}
    if call.caller.is_app:
        return sorted(name for name, spec in registry().items() if spec.scope in granted or spec.scope == "user")
    return sorted(registry())


METHODS = [
    MethodSpec("app.info", info),
    MethodSpec("scope", scope),
    MethodSpec("methods", methods),
]
