"""user.current / user.admin / user.get / department.get / profile over the portal directory."""

from __future__ import annotations

import re
from typing import Any

from ..dispatch import Call, MethodSpec
from ..envelope import ListResult
from .common import page, text, upper

_OP = re.compile(r"^([^A-Za-z_]*)(.*)$")
_CONTROL = {"SORT", "ORDER", "FILTER", "ADMIN_MODE", "SELECT", "IMAGE_RESIZE", "START"}


def current(call: Call) -> dict:
    user = call.state.directory.user(call.caller.user_id)
    return user.as_rest() if user else {}


def admin(call: Call) -> bool:
    return call.caller.is_admin


def profile(call: Call) -> dict | list:
    user = call.state.directory.user(call.caller.user_id)
    return (user.profile() or []) if user else []


def _flag(value: Any) -> bool:
    return text(value).lower() in ("y", "1", "true")


def _matcher(field: str, op: str, value: Any):
    """One user.get condition: `ID`, `ACTIVE`, `UF_DEPARTMENT`, names… with CRM-style prefixes."""
    values = value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else [value]
    wanted = [text(v).lower() for v in values]
    negate = op in ("!", "!=", "!@")

    def get(row: dict) -> list[str]:
        if field == "NAME_SEARCH":
            return [f"{row['NAME']} {row['LAST_NAME']} {row['EMAIL']}".lower()]
        raw = row.get(field)
        if isinstance(raw, list):
            return [str(v).lower() for v in raw]
        if isinstance(raw, bool):
            return ["y" if raw else "n"]
        return [] if raw is None else [str(raw).lower()]

    def numeric(a: str, b: str):
        try:
            return float(a), float(b)
        except ValueError:
            return a, b

    def test(row: dict) -> bool:
        have = get(row)
        if field == "ACTIVE":
            have = ["y" if row["ACTIVE"] else "n"]
            targets = ["y" if _flag(w) else "n" for w in wanted]
        else:
            targets = wanted
        if op in ("%", "?") or field == "NAME_SEARCH":
            hit = any(t in h for t in targets for h in have)
        elif op in (">", ">=", "<", "<="):
            def cmp(h, t):
                a, b = numeric(h, t)
                return {">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b}[op]
            hit = any(cmp(h, t) for t in targets for h in have)
        else:
            hit = any(h == t for t in targets for h in have)
        return not hit if negate else hit

    return test


def get(call: Call) -> ListResult:
    p = upper(call.params)
    raw = p.get("FILTER")
    conditions = raw if isinstance(raw, dict) else {k: v for k, v in p.items() if k not in _CONTROL}
    tests = []
    for key, value in upper(conditions).items():
        op, field = _OP.match(key).groups()
        tests.append(_matcher(field, op, value))
    rows = [u.as_rest() for u in call.state.directory.all_users()]
    rows = [r for r in rows if all(t(r) for t in tests)]
    sort_field = text(p.get("SORT")).upper() or "ID"
    desc = text(p.get("ORDER")).upper() == "DESC"

    def key(r: dict):
        v = r.get(sort_field)
        try:
            return (0, float(v), "")
        except (TypeError, ValueError):
            return (1, 0.0, str(v).lower())

    rows.sort(key=key, reverse=desc)
    start = call.start if "START" not in p else int(float(text(p.get("START")) or 0))
    return page(rows, start)


def department_get(call: Call) -> ListResult:
    # `sort`/`order` are lower case here: upper-case SORT is the department's own sort field.
    params = call.params
    rows = [d.as_rest() for d in call.state.directory.all_departments()]
    for field in ("ID", "NAME", "SORT", "PARENT", "UF_HEAD"):
        if field in params and text(params[field]) != "":
            values = params[field] if isinstance(params[field], list) else [params[field]]
            wanted = {text(v) for v in values}
            rows = [r for r in rows if text(r.get(field)) in wanted]
    sort_field = text(params.get("sort")).upper()
    if sort_field not in ("ID", "NAME", "SORT", "PARENT", "UF_HEAD"):
        sort_field = "SORT"
    desc = text(params.get("order")).upper() == "DESC"

    def key(r: dict):
        value = r.get(sort_field, "")
        number = text(value)
        return (0, float(number), "") if number.isdigit() else (1, 0.0, number.lower())

    rows.sort(key=lambda r: (key(r), int(r["ID"])), reverse=desc)
    start = call.start if "START" not in params else int(float(text(params.get("START")) or 0))
    return page(rows, start)


METHODS = [
    MethodSpec("user.current", current, "user"),
    MethodSpec("user.admin", admin),
    MethodSpec("user.get", get, "user"),
    MethodSpec("department.get", department_get, "department"),
    MethodSpec("profile", profile),
]
