"""Opening a placement the way Bitrix24 does it: `frame_for` gives the hidden form POSTed into a frame
named "<DOMAIN>|<PROTOCOL>|<APP_SID>" and the getInitData answer. The pages themselves (and the parent
side of the postMessage protocol) are the portal shell in b24app/sandbox/shell."""

from __future__ import annotations

import json
import secrets
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Blueprint

from .state import PortalState


def php_json(value: Any) -> str:
    """json_encode as PHP writes it (slashes escaped), the way PLACEMENT_OPTIONS arrives."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("/", "\\/")


def frame_for(state: PortalState, user_id: int, handler: str, placement: str, options: dict[str, Any],
              install: bool = False) -> dict[str, Any]:
    """Everything the page needs to open one placement for one user."""
    s = state.settings
    user = state.directory.user(user_id)
    pair = state.issue_tokens(user_id)
    app_sid = secrets.token_hex(16)
    query = {"DOMAIN": state.domain, "PROTOCOL": "0", "LANG": s.language, "APP_SID": app_sid}
    action = handler + ("&" if "?" in handler else "?") + urlencode(query)
    placement_options = php_json(options)
    form = {
        "AUTH_ID": pair.access_token, "AUTH_EXPIRES": str(pair.expires_in), "REFRESH_ID": pair.refresh_token,
        "SERVER_ENDPOINT": state.server_endpoint, "APPLICATION_TOKEN": state.app.application_token,
        "APPLICATION_SCOPE": s.app_scope, "member_id": s.member_id, "status": s.app_status,
        "PLACEMENT": placement,
    }
    if placement != "DEFAULT":
        form["PLACEMENT_OPTIONS"] = placement_options
    parts = urlsplit(handler)
    init = {
        "AUTH_ID": pair.access_token, "REFRESH_ID": pair.refresh_token, "AUTH_EXPIRES": pair.expires_in,
        "DOMAIN": state.domain, "PROTOCOL": 0, "PATH": "/marketplace/app/1/", "LANG": s.language,
        "MEMBER_ID": s.member_id, "IS_ADMIN": bool(user and user.admin), "APP_OPTIONS": {}, "USER_OPTIONS": {},
        "PLACEMENT": placement, "PLACEMENT_OPTIONS": options, "INSTALL": install, "FIRST_RUN": install,
    }
    return {"action": action, "form": form, "name": f"{state.domain}|0|{app_sid}", "app_sid": app_sid,
            "origin": f"{parts.scheme}://{parts.netloc}", "init": init, "user_id": user_id,
            "placement": placement}


def page_blueprint(state: PortalState) -> Blueprint:
    """The portal pages: the shell (b24app/sandbox/shell). `/?open=<binding id|app>` still opens a placement."""
    from .shell import shell_blueprint

    return shell_blueprint(state)
