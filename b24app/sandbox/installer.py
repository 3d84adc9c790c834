"""The app lifecycle from the portal's side: the install POST (fixture install.post), installFinish,
ONAPPINSTALL, and uninstall (ONAPPUNINSTALL, bindings removed, tokens revoked)."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode

import requests

from . import events
from .state import PortalState


class InstallError(ValueError):
    """The install cannot start (no app URL)."""


def install_form(state: PortalState, user_id: int) -> tuple[dict[str, str], dict[str, str]]:
    """Query and form body of the install POST, with fresh tokens for the installing admin."""
    s = state.settings
    pair = state.issue_tokens(user_id)
    query = {"DOMAIN": state.domain, "PROTOCOL": "0", "LANG": s.language, "APP_SID": secrets.token_hex(16)}
    form = {
        "AUTH_ID": pair.access_token,
        "AUTH_EXPIRES": str(pair.expires_in),
        "REFRESH_ID": pair.refresh_token,
        "SERVER_ENDPOINT": state.server_endpoint,
        "APPLICATION_TOKEN": state.app.application_token,
        "APPLICATION_SCOPE": s.app_scope,
        "member_id": s.member_id,
        "status": s.app_status,
        "PLACEMENT": "DEFAULT",
    }
    return query, form


def install(state: PortalState, *, app_url: str | None = None, finish: bool = True,
            new_application_token: bool = False, user_id: int = 1) -> dict[str, Any]:
    """Run the install as the portal does: POST the install page, then (finish) installFinish."""
    s = state.settings
    if app_url:
        s.update({"app_url": app_url})
    if not s.app_url:
        raise InstallError("app_url is not set: pass it here or in the settings")
    if new_application_token or not state.app.application_token:
        state.new_application_token()
    # A (re)install runs the installer again: until installFinish the app counts as not installed.
    state.app.installed = False
    state.app.uninstalled = False
    state.app.install_event_sent = False

    query, form = install_form(state, user_id)
    url = s.app_url + s.install_path
    url += ("&" if "?" in url else "?") + urlencode(query)
    state.count("install_posts")
    out: dict[str, Any] = {"install_url": url, "member_id": s.member_id,
                           "application_token": state.app.application_token,
                           "access_token": form["AUTH_ID"], "refresh_token": form["REFRESH_ID"]}
    try:
        response = requests.post(url, data=form, timeout=s.install_timeout)
        out["install_status"] = response.status_code
        out["install_body"] = response.text[:2000]
    except requests.RequestException as exc:
        out["install_status"] = None
        out["install_error"] = f"{type(exc).__name__}: {exc}"
    if finish:
        out.update(finish_install(state, user_id=user_id))
    else:
        out.update({"installed": False, "deliveries": [], "dropped": 0})
    return out


def finish_install(state: PortalState, user_id: int = 1) -> dict[str, Any]:
    """What BX24.installFinish() causes: the app is installed; ONAPPINSTALL goes to its handlers once."""
    state.app.installed = True
    state.app.ever_installed = True
    state.app.uninstalled = False
    if state.app.install_event_sent:
        return {"installed": True, "deliveries": [], "dropped": 0}
    state.app.install_event_sent = True
    s = state.settings
    data = {"VERSION": str(s.app_version), "ACTIVE": "Y", "INSTALLED": "Y", "LANGUAGE_ID": s.language}
    result = events.deliver(state, "ONAPPINSTALL", data, user_id=user_id, with_tokens=True)
    return {"installed": True, "deliveries": result["deliveries"], "dropped": result["dropped"]}


def uninstall(state: PortalState, clean: bool = False) -> dict[str, Any]:
    """ONAPPUNINSTALL (no tokens), then the app's bindings go and every token stops working."""
    s = state.settings
    result = {"deliveries": [], "dropped": 0}
    if state.app.ever_installed:
        result = events.deliver(state, "ONAPPUNINSTALL", {"LANGUAGE_ID": s.language, "CLEAN": 1 if clean else 0},
                                user_id=None, with_tokens=False, require_installed=False)
    removed_placements = state.remove_placements(lambda b: True)
    removed_events = state.remove_events(lambda b: True)
    revoked = state.tokens.revoke_all()
    state.app.installed = False
    state.app.uninstalled = True
    state.app.install_event_sent = False
    return {"deliveries": result["deliveries"], "dropped": result["dropped"], "revoked_tokens": revoked,
            "removed_placements": removed_placements, "removed_events": removed_events}
