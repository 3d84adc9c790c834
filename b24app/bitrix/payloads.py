"""Bitrix24 wire formats: PHP-style bracketed forms in and out, placement and event POSTs parsed once."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import quote

from .events import AUTH
from .events import DATA as EVENT_DATA
from .placements import options_shape
from .shapes import PayloadError

__all__ = ["DEFAULT_TZ_MINUTES", "PayloadError", "PortalEvent", "PortalFrameRequest", "http_build_query", "parse_bracketed",
           "parse_event", "parse_frame_request", "portal_timezone", "single_values"]

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


MAX_FIELDS = 1000
MAX_DEPTH = 6
_KEY = re.compile(r"[A-Za-z0-9_.\-]{1,64}(\[[A-Za-z0-9_.\-]{0,64}\]){0,6}")  # MAX_DEPTH brackets


def parse_bracketed(items: Iterable[tuple[str, str]]) -> dict:
    """Turn `data[FIELDS][ID]=5` style pairs into nested dicts (lists stay dicts keyed by index).

    Only the shapes PHP's http_build_query writes are read: each key once, a key either a value or a
    branch, a bounded depth. Anything else (`a=1&a=2`, `a=1&a[b]=2`, `a[`) is refused, not guessed.
    """
    out: dict = {}
    for n, (raw_key, value) in enumerate(items):
        if n >= MAX_FIELDS or not isinstance(raw_key, str) or not _KEY.fullmatch(raw_key):
            raise PayloadError(str(raw_key)[:80] if n < MAX_FIELDS else "body")
        head = raw_key.split("[", 1)[0]
        parts = [head] + _KEY_PARTS.findall(raw_key[len(head):])
        node = out
        for i, part in enumerate(parts[:-1]):
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise PayloadError(head + "".join(f"[{p}]" for p in parts[1:i + 1]))
            node = nxt
        if parts[-1] in node or parts[-1] == "":
            raise PayloadError(raw_key)  # a repeated key, a value where a branch is, or a PHP `[]` list
        node[parts[-1]] = value
    return out


def single_values(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """A plain form or query (a placement POST) as one string per key; a key sent twice is refused."""
    out: dict[str, str] = {}
    for n, (key, value) in enumerate(pairs):
        if n >= MAX_FIELDS or key in out:
            raise PayloadError(key if n < MAX_FIELDS else "body")
        out[key] = value
    return out


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


def parse_frame_request(args: Iterable[tuple[str, str]], form: Iterable[tuple[str, str]]) -> PortalFrameRequest:
    """The portal's POST into a page or placement: query and form pairs (each key once) → typed request.

    PLACEMENT_OPTIONS must fit the documented shape of its placement (`placements.options_shape`).
    """
    args, form = single_values(args), single_values(form)

    def need(name: str) -> str:
        value = (form.get(name) or "").strip()
        if not value:
            raise PayloadError(name)
        return value

    domain = (args.get("DOMAIN") or form.get("DOMAIN") or "").strip()
    if not domain or not re.fullmatch(r"[A-Za-z0-9.\-]{1,253}(:\d{1,5})?", domain):
        raise PayloadError("DOMAIN")
    protocol_raw = (args.get("PROTOCOL") or form.get("PROTOCOL") or "1").strip()
    if protocol_raw not in ("0", "1"):
        raise PayloadError("PROTOCOL")
    expires_raw = (form.get("AUTH_EXPIRES") or "3600").strip()
    if not expires_raw.isdigit() or len(expires_raw) > 9:
        raise PayloadError("AUTH_EXPIRES")
    placement = (form.get("PLACEMENT") or "DEFAULT").strip().upper()
    if not re.fullmatch(r"[A-Z0-9_]{1,100}", placement):
        raise PayloadError("PLACEMENT")
    options_raw = form.get("PLACEMENT_OPTIONS") or ""
    options: dict = {}
    if options_raw:
        try:
            decoded = json.loads(options_raw)
        except ValueError as exc:
            raise PayloadError("PLACEMENT_OPTIONS") from exc
        options = options_shape(placement).parse(decoded, "PLACEMENT_OPTIONS")
    elif placement != "DEFAULT":
        options = options_shape(placement).parse({}, "PLACEMENT_OPTIONS")
    scope_raw = form.get("APPLICATION_SCOPE") or ""
    for name in ("member_id", "AUTH_ID", "REFRESH_ID", "SERVER_ENDPOINT", "APPLICATION_TOKEN"):
        if len(form.get(name) or "") > 512:
            raise PayloadError(name)
    return PortalFrameRequest(
        domain=domain,
        protocol=int(protocol_raw),
        lang=(args.get("LANG") or "ru").strip()[:5],
        app_sid=(args.get("APP_SID") or "").strip()[:64],
        member_id=need("member_id"),
        auth_id=need("AUTH_ID"),
        refresh_id=(form.get("REFRESH_ID") or "").strip(),
        auth_expires=int(expires_raw),
        server_endpoint=(form.get("SERVER_ENDPOINT") or "").strip(),
        application_token=(form.get("APPLICATION_TOKEN") or "").strip(),
        scopes=tuple(s for s in re.split(r"[,\s]+", scope_raw[:2000]) if s),
        status=(form.get("status") or "").strip()[:8],
        placement=placement,
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
    """An event POST → typed event: a handled event name, an `auth` block and data of the declared shape."""
    tree = parse_bracketed(form_items)
    event = tree.get("event")
    if not isinstance(event, str) or not event.strip():
        raise PayloadError("event")
    name = event.strip().upper()
    if name not in EVENT_DATA:
        raise PayloadError("event")
    auth = AUTH.parse(tree.get("auth"), "auth")
    data = EVENT_DATA[name].parse(tree.get("data") if "data" in tree else {}, "data")
    ts, handler_id = tree.get("ts", ""), tree.get("event_handler_id", "")
    if not isinstance(ts, str) or not re.fullmatch(r"\d{0,12}", ts):
        raise PayloadError("ts")
    if not isinstance(handler_id, str) or not re.fullmatch(r"\d{0,20}", handler_id):
        raise PayloadError("event_handler_id")
    return PortalEvent(event=name, data=data, ts=ts, auth=auth, handler_id=handler_id)


DEFAULT_TZ_MINUTES = 180  # Moscow time, until a REST answer has told the portal's own offset


def portal_timezone(time_block: Mapping | None):
    """The portal's UTC offset as a `timezone`, from the `time.date_start` every REST answer carries (§8.4)."""
    raw = str((time_block or {}).get("date_start") or "")
    try:
        off = datetime.fromisoformat(raw).utcoffset()
    except ValueError:
        return None
    return timezone(off) if off is not None else None
