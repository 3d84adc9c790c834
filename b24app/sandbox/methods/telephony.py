"""voximplant.statistic.get with core's rules (vi_rest.php statisticGet / checkStatisticFilter; L14, L15):
upper-cased keys with the later duplicate winning, ORDER BY only for SORT+ORDER strings, otherwise a
stable non-ID order, COUNT only when start >= 0, and a PORTAL_USER_ID filter for non-admins."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

from ..calldata import COLUMNS, FIELDS, JSON, TYPE, USER, parse_datetime
from ..callstore import Query
from ..dispatch import Call, MethodSpec
from ..envelope import ListResult
from ..params import is_plain_list, upper_keys
from .common import PAGE

OPS = ("", "!", "<", "<=", ">", ">=", "><", "!><", "?", "=", "!=", "%", "!%")
_SPLIT = re.compile(r"^([^a-zA-Z]*)(.*)$", re.S)
# StatisticTable fields: the row's fields, with INCOMING for CALL_TYPE and no RECORD_FILE_ID.
ENTITY_FIELDS = (set(FIELDS) - {"CALL_TYPE", "RECORD_FILE_ID"}) | {"INCOMING", "CALL_WEBDAV_ID", "CALL_STATUS"}
NUMERIC = {"ID", "PORTAL_USER_ID", "INCOMING", "CALL_DURATION", "CALL_VOTE", "CRM_ENTITY_ID", "CRM_ACTIVITY_ID",
           "REST_APP_ID", "TRANSCRIPT_ID", "REDIAL_ATTEMPT", "SESSION_ID", "RECORD_DURATION", "COST",
           "CALL_WEBDAV_ID", "CALL_STATUS"}
_ROW_FIELD = {"INCOMING": "CALL_TYPE", "CALL_WEBDAV_ID": "RECORD_FILE_ID"}

Predicate = Callable[[tuple], bool]
_NEVER_NULL = ("ID", "CALL_START_DATE")  # row_tuple stores an int ID and a float start (0.0 when unknown)
_SLOT_COMPARE = {
    "<": lambda i, t: lambda row: row[i] < t,
    "<=": lambda i, t: lambda row: row[i] <= t,
    ">": lambda i, t: lambda row: row[i] > t,
    ">=": lambda i, t: lambda row: row[i] >= t,
}


class Compiled:
    """A filter ready for the store: one predicate, plus ID/date ranges for the indexes."""

    def __init__(self) -> None:
        self.tests: list[Predicate] = []
        self.id_lo, self.id_hi = -math.inf, math.inf
        self.date_lo, self.date_hi = -math.inf, math.inf
        self.has_id = self.has_date = False
        self.only_id_ranges = True  # every condition is an ID comparison the range captures exactly

    def predicate(self) -> Predicate | None:
        tests = self.tests
        if not tests:
            return None
        if len(tests) == 1:
            return tests[0]
        if len(tests) == 2:  # an export window's ID bounds, or a date and one bound: no generator per row
            a, b = tests
            return lambda row: a(row) and b(row)
        if len(tests) == 3:
            a, b, c = tests
            return lambda row: a(row) and b(row) and c(row)
        return lambda row: all(t(row) for t in tests)


def _accessor(field: str) -> Callable[[tuple], Any]:
    column = COLUMNS.get(_ROW_FIELD.get(field, field))
    if column is not None:
        return lambda row: row[column]
    name = _ROW_FIELD.get(field, field)
    return lambda row: json.loads(row[JSON].json).get(name)  # rarely filtered: parse on demand


def _number(value: Any) -> float:
    """MySQL's cast of a filter value to a number ('abc' → 0)."""
    if isinstance(value, bool):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        match = re.match(r"\s*-?\d+(\.\d+)?", str(value))
        return float(match.group(0)) if match else 0.0


def _convert(field: str, value: Any, tz) -> Any:
    if field == "CALL_START_DATE":
        return parse_datetime(value, tz)
    if field in NUMERIC:
        return _number(value)
    return "" if value is None else str(value).lower()


def _row_value(field: str, value: Any) -> Any:
    if value is None:
        return None
    if field in NUMERIC:
        try:
            return float(value)
        except (TypeError, ValueError):
            return None
    if field == "CALL_START_DATE":
        return value
    return str(value).lower()


def _condition(op: str, field: str, value: Any, tz) -> Predicate | None:
    get = _accessor(field)
    is_list = isinstance(value, (list, dict))
    values = list(value.values()) if isinstance(value, dict) else value if isinstance(value, list) else [value]
    targets = [_convert(field, v, tz) for v in values]
    is_date = field == "CALL_START_DATE"
    if is_date and any(t is None for t in targets):
        return lambda row: False  # an unparsable date matches nothing

    def value_of(row):
        raw = get(row)
        return raw if is_date else _row_value(field, raw)

    if op == "=":
        wanted = set(targets)
        return lambda row: value_of(row) in wanted
    if op in ("!", "!="):
        wanted = set(targets)
        return lambda row: (v := value_of(row)) is not None and v not in wanted
    if op in ("<", "<=", ">", ">=") and len(targets) == 1 and field in _NEVER_NULL:
        # ID and the start time are numbers in every stored row: compare the slot itself (exports
        # filter every row of every window on these).
        return _SLOT_COMPARE[op](COLUMNS[field], targets[0])
    if op in ("<", "<=", ">", ">="):
        compare = {"<": float.__lt__, "<=": float.__le__, ">": float.__gt__, ">=": float.__ge__}[op]
        if field in NUMERIC or is_date:
            return lambda row: (v := value_of(row)) is not None and any(compare(float(v), t) for t in targets)
        scompare = {"<": str.__lt__, "<=": str.__le__, ">": str.__gt__, ">=": str.__ge__}[op]
        return lambda row: (v := value_of(row)) is not None and any(scompare(v, str(t)) for t in targets)
    if op in ("><", "!><"):
        if not is_list or len(targets) != 2:
            return None  # a between needs exactly two values; core's ORM ignores anything else
        lo, hi = targets
        if op == "><":
            return lambda row: (v := value_of(row)) is not None and lo <= v <= hi
        return lambda row: (v := value_of(row)) is not None and not lo <= v <= hi
    if op in ("%", "?", "!%"):
        needles = [str(t).strip("%").lower() for t in targets]

        def hit(row) -> bool:
            v = value_of(row)
            return v is not None and any(n in str(v).lower() for n in needles)

        return hit if op != "!%" else (lambda row: not hit(row))
    return None


def _ranges(out: Compiled, op: str, field: str, value: Any, tz) -> None:
    """Narrow the ID/date index ranges from one top-level condition (the predicate still decides)."""
    if field not in ("ID", "CALL_START_DATE"):
        out.only_id_ranges = False
        return
    values = list(value.values()) if isinstance(value, dict) else value if isinstance(value, list) else [value]
    if field == "ID":
        nums = [_number(v) for v in values]
        lo, hi = -math.inf, math.inf
        if op == "=" and nums:
            lo, hi = min(nums), max(nums)
            if len(nums) > 1 or nums[0] != int(nums[0]):
                out.only_id_ranges = False  # an IN list is not a contiguous range
        elif op == ">" and len(nums) == 1:
            lo = math.floor(nums[0]) + 1
        elif op == ">=" and len(nums) == 1:
            lo = math.ceil(nums[0])
        elif op == "<" and len(nums) == 1:
            hi = math.ceil(nums[0]) - 1
        elif op == "<=" and len(nums) == 1:
            hi = math.floor(nums[0])
        elif op == "><" and len(nums) == 2:
            lo, hi = math.ceil(nums[0]), math.floor(nums[1])
        else:
            out.only_id_ranges = False
            return
        out.has_id = True
        out.id_lo, out.id_hi = max(out.id_lo, lo), min(out.id_hi, hi)
        return
    out.only_id_ranges = False
    stamps = [parse_datetime(v, tz) for v in values]
    if any(s is None for s in stamps) or not stamps:
        return
    lo, hi = -math.inf, math.inf
    if op in (">", ">=") and len(stamps) == 1:
        lo = stamps[0]
    elif op in ("<", "<=") and len(stamps) == 1:
        hi = stamps[0]
    elif op == "=":
        lo, hi = min(stamps), max(stamps)
    elif op == "><" and len(stamps) == 2:
        lo, hi = stamps
    else:
        return
    out.has_date = True
    out.date_lo, out.date_hi = max(out.date_lo, lo), min(out.date_hi, hi)


def compile_filter(raw: Any, tz, out: Compiled | None = None, top: bool = True) -> Compiled:
    """checkStatisticFilter: unknown fields and operators are dropped, non-list arrays are sub-filters
    (ANDed: core drops the LOGIC key, as it is no table field)."""
    out = out or Compiled()
    if isinstance(raw, list):
        raw = {str(i): v for i, v in enumerate(raw)}
    if not isinstance(raw, dict):
        return out
    for key, value in upper_keys(raw).items():
        op, field = _SPLIT.match(key).groups()
        if isinstance(value, (dict, list)):
            if field == "ID" and isinstance(value, dict):
                value = list(value.values())
            if not value:
                continue
            if not is_plain_list(value):
                sub = compile_filter(value, tz, top=False)
                predicate = sub.predicate()
                if predicate is not None:
                    out.tests.append(predicate)
                    out.only_id_ranges = False
                continue
        if op not in OPS:
            continue
        if field == "CALL_TYPE":
            field = "INCOMING"
        if field not in ENTITY_FIELDS:
            continue  # CRM_BINDINGS.* and unknown fields: not supported here, dropped
        op = op or "="
        predicate = _condition(op, field, value, tz)
        if predicate is None:
            continue
        out.tests.append(predicate)
        if top:
            _ranges(out, op, field, value, tz)
        else:
            out.only_id_ranges = False
    return out


def statistic_get(call: Call) -> ListResult:
    state = call.state
    settings = state.settings
    params = upper_keys(call.params, strict=settings.key_rule == "strict")
    sort = params.get("SORT") if isinstance(params.get("SORT"), str) else None
    order = params.get("ORDER") if isinstance(params.get("ORDER"), str) else None
    sort = sort.strip() if sort and sort.strip() in ENTITY_FIELDS else None
    order = order.strip() if order and order.strip() in ("ASC", "DESC") else None

    compiled = compile_filter(params.get("FILTER"), state.tz)
    signature = json.dumps(params.get("FILTER"), sort_keys=True, default=str, ensure_ascii=False)
    if not call.caller.is_admin:
        # Core injects the users the caller may see; here: the caller alone.
        me = call.caller.user_id
        compiled.tests.append(lambda row: row[USER] == me)
        compiled.only_id_ranges = False
        signature += f"|user={call.caller.user_id}"

    query = Query(predicate=compiled.predicate(), count=call.start >= 0,
                  offset=call.start if call.start >= 0 else 0, signature=signature)
    if compiled.has_id:
        query.id_range = (compiled.id_lo, compiled.id_hi)
        query.exact_ranges = compiled.only_id_ranges
    if compiled.has_date:
        query.date_range = (compiled.date_lo, compiled.date_hi)
    if sort and order:
        query.order = (sort, order == "DESC")
        if sort == "INCOMING":
            query.order = ("CALL_TYPE", order == "DESC")
            query.order_key = lambda row: row[TYPE]
        elif sort not in COLUMNS:
            name = _ROW_FIELD.get(sort, sort)
            query.order_key = lambda row: json.loads(row[JSON].json).get(name)

    result = state.calls.query(query, PAGE)
    items = [row[JSON] for row in result.rows]
    cost = {"rows": len(items), "offset": query.offset, "counted": result.matched}
    if not query.count:
        return ListResult(items, total=0, cost=cost)  # start=-1: no COUNT, total 0, no next
    total = result.total or 0
    nxt = query.offset + PAGE if query.offset + PAGE < total else None
    return ListResult(items, total=total, next=nxt, cost=cost)


METHODS = [MethodSpec("voximplant.statistic.get", statistic_get, "telephony")]
