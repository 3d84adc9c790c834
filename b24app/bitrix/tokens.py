"""Portal credentials and the one place they are refreshed."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import requests

from .errors import NetworkError, OAuthError, ServerError


@dataclass(frozen=True)
class Credentials:
    member_id: str
    client_endpoint: str      # e.g. https://portal.bitrix24.ru/rest/
    server_endpoint: str      # the OAuth server's REST URL, e.g. https://oauth.bitrix.info/rest/
    access_token: str
    refresh_token: str
    expires_at: float

    def __repr__(self) -> str:  # tokens never reach logs
        return f"Credentials(member_id={self.member_id!r}, client_endpoint={self.client_endpoint!r})"


class TokenStore(Protocol):
    def load(self, member_id: str) -> Credentials: ...

    def refresh(self, member_id: str, stale_access_token: str,
                refresher) -> Credentials:
        """Refresh under a per-portal lock shared by all processes.

        If another worker already replaced `stale_access_token`, return its credentials without
        calling `refresher`; otherwise call `refresher(credentials) -> dict` (the OAuth answer),
        persist the new pair and return it.
        """

    def mark_needs_reinstall(self, member_id: str, reason: str) -> None: ...


def token_url(server_endpoint: str) -> str:
    """The OAuth server's token URL, on the host the portal named (never a hard-coded one)."""
    parts = urlsplit(server_endpoint)
    if not parts.scheme or not parts.netloc:
        raise OAuthError("invalid_request", "no server endpoint for this portal")
    return f"{parts.scheme}://{parts.netloc}/oauth/token/"


def refresh_grant(session: requests.Session, creds: Credentials, client_id: str, client_secret: str,
                  timeout: float = 30.0) -> dict:
    try:
        resp = session.get(token_url(creds.server_endpoint), timeout=timeout, params={
            "grant_type": "refresh_token", "client_id": client_id,
            "client_secret": client_secret, "refresh_token": creds.refresh_token,
        })
    except requests.RequestException as exc:
        raise NetworkError(description=type(exc).__name__) from None
    try:
        body = resp.json()
    except ValueError:
        body = {}
    if resp.status_code >= 500:
        raise ServerError(description=f"OAuth server answered {resp.status_code}", status=resp.status_code)
    if "error" in body or "access_token" not in body:
        raise OAuthError(str(body.get("error") or "invalid_response"),
                         str(body.get("error_description") or ""), resp.status_code)
    return body


def credentials_from_grant(member_id: str, old: Credentials, body: dict) -> Credentials:
    return Credentials(
        member_id=member_id,
        client_endpoint=body.get("client_endpoint") or old.client_endpoint,
        server_endpoint=body.get("server_endpoint") or old.server_endpoint,
        access_token=body["access_token"],
        refresh_token=body.get("refresh_token") or old.refresh_token,
        expires_at=float(body.get("expires") or time.time() + int(body.get("expires_in") or 3600)),
    )
