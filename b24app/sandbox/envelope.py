"""The REST envelope: result/error/time shapes as Bitrix24 prints them, and a JSON writer that splices
pre-serialised rows so a 2,500-row batch is assembled by string joining."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from json.encoder import encode_basestring_ascii
from typing import Any

# Error texts the portal uses (REST-FACTS §8.5, fixtures error.*).
TEXTS = {
    "NO_AUTH_FOUND": "Wrong authorization data",
    "expired_token": "The access token provided has expired.",
    "invalid_token": "Unable to get application by token",
    "QUERY_LIMIT_EXCEEDED": "Too many requests",
    "OPERATION_TIME_LIMIT": "Method is blocked due to operation time limit.",
    "ERROR_METHOD_NOT_FOUND": "Method not found!",
    "ERROR_BATCH_LENGTH_EXCEEDED": "Max batch length exceeded",
    "ERROR_BATCH_METHOD_NOT_ALLOWED": "Method is not allowed for batch usage",
    "INVALID_CREDENTIALS": "Invalid request credentials",
    "insufficient_scope": "The request requires higher privileges than provided by the access token",
    "ACCESS_DENIED": "Access denied!",
    "WRONG_AUTH_TYPE": "Current authorization type is denied for this method",
}


class RestError(Exception):
    """A REST error as the portal returns it: code, text, HTTP status and optional extra keys."""

    def __init__(self, code: str, description: str | None = None, status: int = 400, **extra: Any):
        super().__init__(code)
        self.code = code
        self.description = TEXTS.get(code, "") if description is None else description
        self.status = status
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "error_description": self.description, **self.extra}


def argument_null(name: str) -> RestError:
    # Core turns ArgumentNullException into ERROR_ARGUMENT with the argument's name (restexception.php).
    return RestError("ERROR_ARGUMENT", f"Argument '{name}' is null or empty", 400, argument=name)


def argument_error(name: str, text: str) -> RestError:
    return RestError("ERROR_ARGUMENT", text, 400, argument=name)


class Raw:
    """A value whose JSON text is already known (a statistics row); `data` parses it on demand."""

    __slots__ = ("json",)

    def __init__(self, text: str):
        self.json = text

    @property
    def data(self) -> Any:
        return json.loads(self.json)


@dataclass
class ListResult:
    """A list method's answer: the page, `total` (None = omit) and `next` (None = omit)."""

    items: list
    total: int | None = None
    next: int | None = None
    # What the cost model needs to know about the work done (rows out, rows skipped, rows counted).
    cost: dict[str, int] = field(default_factory=dict)


def php_array(mapping: dict) -> Any:
    """What PHP's json_encode makes of an array: keys 0..n-1 in order → a list (so empty → [])."""
    if all(isinstance(k, int) for k in mapping) and list(mapping) == list(range(len(mapping))):
        return list(mapping.values())
    return {str(k): v for k, v in mapping.items()}


def dumps(value: Any) -> str:
    """JSON text of `value`; `Raw` items are spliced in as they are."""
    parts: list[str] = []
    _write(value, parts.append)
    return "".join(parts)


def _write(value: Any, out) -> None:
    if isinstance(value, str):
        out(encode_basestring_ascii(value))
    elif isinstance(value, Raw):
        out(value.json)
    elif value is None:
        out("null")
    elif value is True:
        out("true")
    elif value is False:
        out("false")
    elif isinstance(value, int):
        out(str(value))
    elif isinstance(value, float):
        out(repr(value) if math.isfinite(value) else "null")
    elif isinstance(value, dict):
        out("{")
        first = True
        for key, item in value.items():
            if not first:
                out(",")
            first = False
            out(encode_basestring_ascii(str(key)))
            out(":")
            _write(item, out)
        out("}")
    elif isinstance(value, (list, tuple)):
        if value and all(isinstance(item, Raw) for item in value):
            out("[" + ",".join(item.json for item in value) + "]")  # the fast path for pages
            return
        out("[")
        for i, item in enumerate(value):
            if i:
                out(",")
            _write(item, out)
        out("]")
    else:
        out(json.dumps(value))


def portal_tz(offset_minutes: int) -> timezone:
    return timezone(timedelta(minutes=offset_minutes))


def iso(ts: float, tz: timezone) -> str:
    """ISO-8601 with offset, seconds precision, as the portal prints dates (`2025-09-09T16:31:11+03:00`)."""
    return datetime.fromtimestamp(ts, tz).isoformat(timespec="seconds")


def time_block(start: float, finish: float, processing: float, tz: timezone,
               operating: float | None = None, reset_at: int | None = None) -> dict[str, Any]:
    """The `time` object in fixture `time.block`'s key order; operating keys only when given."""
    block: dict[str, Any] = {
        "start": start,
        "finish": finish,
        "duration": finish - start,
        "processing": processing,
        "date_start": iso(start, tz),
        "date_finish": iso(finish, tz),
    }
    if reset_at is not None:
        block["operating_reset_at"] = reset_at
    if operating is not None:
        block["operating"] = operating
    return block
