"""Bitrix24 wire formats: PHP-style bracketed forms in and out, placement and event POSTs parsed once."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import quote

_KEY_PARTS = re.compile(r"\[([^\]]*)\]")


def http_build_query(params: Mapping, prefix: str | None = None) -> str:
    """PHP's http_build_query: nested dicts/lists become `a[b][0]=…` pairs (used in batch commands)."""
    pairs: list[str] = []

    def walk(value, key: str) -> None:
        if isinstance(value, Mapping):
            if not value:
                return
            for k, v in value.items():
                walk(v, f"{key}[{k}]")
        elif isinstance(value, list | tuple):
            for i, v in enumerate(value):
                walk(v, f"{key}[{i}]")
        else:
            if value is None:
                value = ""
            elif isinstance(value, bool):
                value = "Y" if value else "N"
            pairs.append(f"{quote(key, safe='[]')}={quote(str(value), safe='')}")

    for k, v in params.items():
        walk(v, f"{prefix}[{k}]" if prefix else str(k))
    return "&".join(pairs)


def parse_bracketed(items: Iterable[tuple[str, str]]) -> dict:
    """Turn `data[FIELDS][ID]=5` style pairs into nested dicts (lists stay dicts keyed by index)."""
    out: dict = {}
    for raw_key, value in items:
        head = raw_key.split("[", 1)[0]
        rest = raw_key[len(head):]
        parts = [head] + _KEY_PARTS.findall(rest) if rest.startswith("[") else [raw_key]
        node = out
        for part in parts[:-1]:
            nxt = node.get(part)
            if not isinstance(nxt, dict):
                nxt = {}
                node[part] = nxt
            node = nxt
        node[parts[-1]] = value
    return out


class PayloadError(ValueError):
    """A portal POST lacks a field or carries a malformed one; the message names it."""


@dataclass(frozen=True)
class PortalFrameRequest:
    """What the portal POSTs when it opens the app, its install page or a placement iframe."""

    domain: str
    protocol: int
    lang: str
    app_sid: str
    member_id: str
    auth_id: str
    refresh_id: str
    auth_expires: int
    server_endpoint: str
    application_token: str
    scopes: tuple[str, ...]
    status: str
    placement: str
    options: dict = field(default_factory=dict)

    @property
    def origin(self) -> str:
        return f"{'https' if self.protocol else 'http'}://{self.domain}"


def parse_frame_request(args: Mapping, form: Mapping) -> PortalFrameRequest:
    def need(source: Mapping, name: str) -> str:
        value = (source.get(name) or "").strip()
        if not value:
            raise PayloadError(name)
        return value

    domain = (args.get("DOMAIN") or form.get("DOMAIN") or "").strip()
    if not domain or not re.fullmatch(r"[A-Za-z0-9.\-]+(:\d{1,5})?", domain):
        raise PayloadError("DOMAIN")
    protocol_raw = (args.get("PROTOCOL") or form.get("PROTOCOL") or "1").strip()
    if protocol_raw not in ("0", "1"):
        raise PayloadError("PROTOCOL")
    try:
        expires = int(form.get("AUTH_EXPIRES") or 3600)
    except ValueError as exc:
        raise PayloadError("AUTH_EXPIRES") from exc
    options_raw = form.get("PLACEMENT_OPTIONS") or ""
    options: dict = {}
    if options_raw:
        try:
            options = json.loads(options_raw)
        except ValueError as exc:
            raise PayloadError("PLACEMENT_OPTIONS") from exc
        if not isinstance(options, dict):
            raise PayloadError("PLACEMENT_OPTIONS")
    scope_raw = form.get("APPLICATION_SCOPE") or ""
    return PortalFrameRequest(
        domain=domain,
        protocol=int(protocol_raw),
        lang=(args.get("LANG") or "ru").strip()[:5],
        app_sid=(args.get("APP_SID") or "").strip(),
        member_id=need(form, "member_id"),
        auth_id=need(form, "AUTH_ID"),
        refresh_id=(form.get("REFRESH_ID") or "").strip(),
        auth_expires=expires,
        server_endpoint=(form.get("SERVER_ENDPOINT") or "").strip(),
        application_token=(form.get("APPLICATION_TOKEN") or "").strip(),
        scopes=tuple(s for s in re.split(r"[,\s]+", scope_raw) if s),
        status=(form.get("status") or "").strip(),
        placement=(form.get("PLACEMENT") or "DEFAULT").strip(),
        options=options,
    )


@dataclass(frozen=True)
class PortalEvent:
    """An event POST: `event`, `data[...]`, `ts`, `auth[...]`."""

    event: str
    data: dict
    ts: str
    auth: dict
    handler_id: str

    @property
    def member_id(self) -> str:
        return self.auth.get("member_id", "")

    @property
    def application_token(self) -> str:
        return self.auth.get("application_token", "")


def parse_event(form_items: Iterable[tuple[str, str]]) -> PortalEvent:
    tree = parse_bracketed(form_items)
    event = tree.get("event")
    if not isinstance(event, str) or not event.strip():
        raise PayloadError("event")
    auth = tree.get("auth")
    if not isinstance(auth, dict):
        raise PayloadError("auth")
    data = tree.get("data")
    return PortalEvent(
        event=event.strip().upper(),
        data=data if isinstance(data, dict) else {},
        ts=str(tree.get("ts") or ""),
        auth=auth,
        handler_id=str(tree.get("event_handler_id") or ""),
    )


def portal_timezone(time_block: Mapping | None):
    """The portal's UTC offset as a `timezone`, from the `time.date_start` every REST answer carries (§8.4)."""
    raw = str((time_block or {}).get("date_start") or "")
    try:
        off = datetime.fromisoformat(raw).utcoffset()
    except ValueError:
        return None
    return timezone(off) if off is not None else None
