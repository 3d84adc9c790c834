"""Small actions the sandbox tests repeat: call REST as a webhook or with a token, drive admin routes."""

from __future__ import annotations

from typing import Any

import requests

TIME_KEYS = {"start", "finish", "duration", "processing", "date_start", "date_finish", "operating_reset_at",
             "operating"}


def hook(sandbox, method: str, params: dict | None = None, **kw) -> requests.Response:
    """Call a method through the incoming webhook (JSON body)."""
    return requests.post(f"{sandbox.webhook_url}{method}", json=params or {}, timeout=30, **kw)


def call(sandbox, method: str, token: str, params: dict | None = None) -> requests.Response:
    """Call a method with an OAuth access token in the JSON body."""
    return requests.post(f"{sandbox.client_endpoint}{method}", json={"auth": token, **(params or {})}, timeout=30)


def tokens(sandbox, user_id: int = 1) -> dict[str, Any]:
    r = requests.post(f"{sandbox.url}/_sandbox/tokens", json={"user_id": user_id}, timeout=10)
    r.raise_for_status()
    return r.json()


def admin(sandbox, path: str, body: dict | None = None) -> dict[str, Any]:
    r = requests.post(f"{sandbox.url}/_sandbox/{path}", json=body or {}, timeout=30)
    r.raise_for_status()
    return r.json()


def stats(sandbox) -> dict[str, Any]:
    return requests.get(f"{sandbox.url}/_sandbox/stats", timeout=10).json()


def settings(sandbox, **changes) -> dict[str, Any]:
    return admin(sandbox, "settings", changes)


def refresh(sandbox, refresh_token: str, **overrides) -> requests.Response:
    params = {"grant_type": "refresh_token", "client_id": sandbox.settings.client_id,
              "client_secret": sandbox.settings.client_secret, "refresh_token": refresh_token, **overrides}
    return requests.get(f"{sandbox.oauth_url}/oauth/token/", params=params, timeout=10)


def error_of(response: requests.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]
