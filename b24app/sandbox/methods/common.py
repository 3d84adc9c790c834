"""Helpers method handlers share: access checks in core's words, and list paging."""

from __future__ import annotations

from typing import Any

from ..dispatch import Call
from ..envelope import ListResult, RestError

PAGE = 50  # IRestService::LIST_LIMIT


def require_app(call: Call, detail: str = "") -> None:
    """Core's AuthTypeException: the method works in application context only."""
    if not call.caller.is_app:
        text = "Current authorization type is denied for this method" + (f" {detail}" if detail else "")
        raise RestError("WRONG_AUTH_TYPE", text, 403)


def require_admin(call: Call) -> None:
    if not call.caller.is_admin:
        raise RestError("ACCESS_DENIED", status=403)


def page(items: list, start: int) -> ListResult:
    """Offset paging as core's getNavData/setNavData: `start=-1` skips COUNT (total 0, no next)."""
    if start < 0:
        return ListResult(items[:PAGE], total=0, cost={"rows": min(PAGE, len(items))})
    chunk = items[start:start + PAGE]
    nxt = start + PAGE if start + PAGE < len(items) else None
    return ListResult(chunk, total=len(items), next=nxt,
                      cost={"rows": len(chunk), "offset": start, "counted": len(items)})


def upper(params: dict[str, Any]) -> dict[str, Any]:
    """array_change_key_case(CASE_UPPER): the later duplicate wins."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        out[str(key).upper()] = value
    return out


def text(value: Any) -> str:
    return "" if value is None or isinstance(value, (dict, list)) else str(value).strip()
