"""Event delivery to the app, as the portal's queue does it: one form-encoded POST per bound handler
with bracketed keys (REST-FACTS §3.2), synchronously, never retried; a share may be dropped."""

from __future__ import annotations

import time
from typing import Any

import requests

from .catalog import SENDS_REFRESH_TOKEN
from .state import EventBinding, PortalState


def flatten(prefix: str, value: Any) -> list[tuple[str, str]]:
    """PHP http_build_query: nested keys in brackets, true → 1, false → 0, null left out."""
    if value is None:
        return []
    if isinstance(value, dict):
        pairs: list[tuple[str, str]] = []
        for key, item in value.items():
            pairs.extend(flatten(f"{prefix}[{key}]", item))
        return pairs
    if isinstance(value, (list, tuple)):
        pairs = []
        for i, item in enumerate(value):
            pairs.extend(flatten(f"{prefix}[{i}]", item))
        return pairs
    if value is True:
        return [(prefix, "1")]
    if value is False:
        return [(prefix, "0")]
    return [(prefix, str(value))]


def auth_block(state: PortalState, event: str, user_id: int | None, with_tokens: bool) -> dict[str, Any]:
    """`auth[...]` of an event. Tokens only when the action has a user; refresh token only for
    ONAPPINSTALL / ONOFFLINEEVENT; ONAPPUNINSTALL never has tokens (fixture event.ONAPPUNINSTALL)."""
    s = state.settings
    common = {"domain": state.domain, "server_endpoint": state.server_endpoint,
              "client_endpoint": state.client_endpoint, "member_id": s.member_id,
              "application_token": state.app.application_token}
    if event == "ONAPPUNINSTALL":
        return common
    if event == "ONAPPINSTALL" and with_tokens and user_id:
        pair = state.issue_tokens(user_id)
        return {"domain": state.domain, "scope": s.app_scope, "access_token": pair.access_token,
                "refresh_token": pair.refresh_token, "expires_in": pair.expires_in,
                "server_endpoint": state.server_endpoint, "status": s.app_status,
                "client_endpoint": state.client_endpoint, "member_id": s.member_id,
                "application_token": state.app.application_token}
    out: dict[str, Any] = {}
    if with_tokens and user_id:
        pair = state.issue_tokens(user_id)
        out["access_token"] = pair.access_token
        out["expires_in"] = str(pair.expires_in)
        if event in SENDS_REFRESH_TOKEN:
            out["refresh_token"] = pair.refresh_token
    out.update({"scope": s.app_scope, "domain": state.domain, "server_endpoint": state.server_endpoint,
                "status": s.app_status, "client_endpoint": state.client_endpoint, "member_id": s.member_id,
                "application_token": state.app.application_token})
    return out


def payload(state: PortalState, binding: EventBinding, data: Any, user_id: int | None,
            with_tokens: bool) -> list[tuple[str, str]]:
    """The form body: event, event_handler_id, data[...], ts, auth[...] (fixture event.ONVOXIMPLANTCALLEND)."""
    token_user = binding.auth_type or user_id
    pairs = [("event", binding.event), ("event_handler_id", str(binding.id))]
    pairs += flatten("data", data if data is not None else [])
    pairs.append(("ts", str(int(time.time()))))
    pairs += flatten("auth", auth_block(state, binding.event, token_user, with_tokens))
    return pairs


def deliver(state: PortalState, event: str, data: Any, *, user_id: int | None = 1, with_tokens: bool = True,
            times: int = 1, require_installed: bool = True) -> dict[str, Any]:
    """Send `event` to every handler bound for it; returns what happened to each POST."""
    event = event.upper()
    deliveries: list[dict[str, Any]] = []
    dropped = 0
    if require_installed and not state.app.installed:
        return {"deliveries": deliveries, "dropped": 0, "installed": False}
    bindings = state.event_bindings(event)
    for _ in range(max(1, times)):
        for binding in bindings:
            if binding.offline:
                state.offline_queue.append({"event": event, "data": data, "ts": int(time.time())})
                state.count("offline_events")
                continue
            if state.chance(state.settings.drop_events_share):
                dropped += 1
                state.count("events_dropped")
                continue
            deliveries.append(_post(state, binding, payload(state, binding, data, user_id, with_tokens)))
    return {"deliveries": deliveries, "dropped": dropped, "installed": state.app.installed}


def _post(state: PortalState, binding: EventBinding, body: list[tuple[str, str]]) -> dict[str, Any]:
    result: dict[str, Any] = {"handler": binding.handler, "event": binding.event,
                              "event_handler_id": str(binding.id)}
    try:
        response = requests.post(binding.handler, data=body, timeout=state.settings.event_timeout,
                                 headers={"User-Agent": "Bitrix24 Webhook Engine"})
        result["status"] = response.status_code
        ok = 200 <= response.status_code < 300
    except requests.RequestException as exc:
        # A handler that is down loses the event: online events are not re-sent (REST-FACTS §3.2).
        result["status"] = None
        result["error"] = type(exc).__name__
        ok = False
    state.count("events_delivered" if ok else "events_failed")
    return result
