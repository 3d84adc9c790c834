"""Small actions the platform tests repeat: open a placement as a user, fire an event, read stats."""

from __future__ import annotations

import json
import secrets

import requests

from b24app.extensions import db
from b24app.portals.models import Portal


def user_tokens(sandbox, user_id: int) -> dict:
    r = requests.post(f"{sandbox.url}/_sandbox/tokens", json={"user_id": user_id}, timeout=10)
    r.raise_for_status()
    return r.json()


def open_placement(sandbox, live_app, path: str, *, user_id: int = 1, placement: str = "LEFT_MENU",
                   options: dict | None = None, lang: str = "ru", member_id: str | None = None,
                   auth_id: str | None = None) -> requests.Response:
    """POST into a placement handler exactly as the portal's iframe form does."""
    tok = user_tokens(sandbox, user_id)
    form = {
        "AUTH_ID": auth_id or tok["access_token"], "AUTH_EXPIRES": "3600", "REFRESH_ID": tok["refresh_token"],
        "SERVER_ENDPOINT": sandbox.server_endpoint, "member_id": member_id or sandbox.member_id,
        "status": "L", "PLACEMENT": placement, "PLACEMENT_OPTIONS": json.dumps(options or {"URI": "/"}),
        "APPLICATION_TOKEN": "",
    }
    params = {"DOMAIN": sandbox.domain, "PROTOCOL": "0", "LANG": lang, "APP_SID": secrets.token_hex(16)}
    return requests.post(f"{live_app.url}{path}", params=params, data=form, timeout=30)


def fire(sandbox, event: str, data: dict, **kw) -> dict:
    r = requests.post(f"{sandbox.url}/_sandbox/events/fire", json={"event": event, "data": data, **kw}, timeout=30)
    r.raise_for_status()
    return r.json()


def stats(sandbox) -> dict:
    return requests.get(f"{sandbox.url}/_sandbox/stats", timeout=10).json()


def set_sandbox(sandbox, **settings) -> dict:
    r = requests.post(f"{sandbox.url}/_sandbox/settings", json=settings, timeout=10)
    r.raise_for_status()
    return r.json()


def portal_row(live_app, member_id: str) -> Portal | None:
    with live_app.ctx():
        p = db.session.query(Portal).filter_by(member_id=member_id).one_or_none()
        if p is not None:
            db.session.expunge(p)
        return p


def frame_token_from(html: str) -> str:
    marker = 'name="frame-token" content="'
    start = html.index(marker) + len(marker)
    return html[start:html.index('"', start)]


def portal_id(live_app, sandbox) -> int:
    """The app's id of the sandbox's portal."""
    return portal_row(live_app, sandbox.member_id).id


def analytics_token(sandbox, live_app, user_id: int = 1) -> str:
    """A frame token for the CRM analytics tab, opened by `user_id` as the portal opens it."""
    r = open_placement(sandbox, live_app, "/b24/reports", user_id=user_id, placement="CRM_ANALYTICS_MENU")
    assert r.status_code == 200, r.text[:500]
    return frame_token_from(r.text)
