"""One REST call, the way core runs it: method lookup, auth, the operating-time check, the method
itself, its modelled cost, billing, and the `time` block. Shared by plain requests and batch items."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .catalog import scopes
from .envelope import ListResult, RestError, time_block
from .state import PortalState
from .tokens import TokenError


@dataclass(frozen=True)
class Caller:
    """Who is calling: an app token (with its user's rights) or an incoming webhook."""

    kind: str  # "app" | "webhook"
    user_id: int
    is_admin: bool
    owner: str  # operating-time owner: "app:<client_id>" or "webhook:<user>:<token>"
    token: str = ""

    @property
    def is_app(self) -> bool:
        return self.kind == "app"


@dataclass
class Call:
    """What a method handler sees."""

    state: PortalState
    caller: Caller
    method: str
    params: dict[str, Any]
    start: int  # core pops `start` (lower case) off the query and hands it over separately


@dataclass(frozen=True)
class MethodSpec:
    name: str
    fn: Callable[[Call], Any]
    scope: str = "basic"  # "basic" methods need no scope


@dataclass
class Outcome:
    """A finished call: either `result` (+ total/next) or `error`, with its time block."""

    result: Any = None
    total: int | None = None
    next: int | None = None
    error: RestError | None = None
    time: dict[str, Any] | None = None


@dataclass
class RequestCtx:
    """Per HTTP request: where billed seconds collect until the request ends (core L11)."""

    state: PortalState
    charges: dict[tuple[str, str], float] = field(default_factory=dict)
    started: float = field(default_factory=time.time)  # a plain call's `time.start` is the request's
    first_call: float | None = None  # when the request's first call began: its basket (core numBucket)
    first_by_key: dict[tuple[str, str], float] = field(default_factory=dict)  # each key's first call

    def commit(self) -> None:
        s = self.state.settings
        if self.charges and s.operating_enabled:
            self.state.budget.commit(self.charges, self.first_call or self.started, self.first_by_key,
                                     time.time(), s.operating_window, s.operating_min_fix)
        self.charges.clear()


def resolve_caller(state: PortalState, auth: Any, webhook: tuple[str, str] | None) -> Caller:
    """Caller from the webhook path (`/rest/<user>/<token>/`) or the `auth` parameter."""
    s = state.settings
    if webhook is not None:
        user_id, token = webhook
        if not (str(user_id) == str(s.webhook_user_id) and token == s.webhook_token):
            raise RestError("INVALID_CREDENTIALS", status=403)
        user = state.directory.user(int(s.webhook_user_id))
        if user is None or not user.active:
            raise RestError("INVALID_CREDENTIALS", status=403)
        return Caller("webhook", user.id, user.admin, f"webhook:{user_id}:{token}", token)
    if not isinstance(auth, str) or not auth:
        raise RestError("NO_AUTH_FOUND", status=401)
    try:
        user_id = state.tokens.check(auth)
    except TokenError as exc:
        raise RestError(exc.code, status=401) from None
    user = state.directory.user(user_id)
    if user is None or not user.active:
        raise RestError("NO_AUTH_FOUND", status=401)
    return Caller("app", user.id, user.admin, f"app:{s.client_id}", auth)


def parse_start(params: dict[str, Any]) -> int:
    """PHP intval of the lower-case `start` parameter (0 when absent or not a number)."""
    raw = params.pop("start", 0)
    try:
        return int(float(raw)) if not isinstance(raw, (dict, list)) else 0
    except (TypeError, ValueError):
        return 0


def execute(ctx: RequestCtx, registry: dict[str, MethodSpec], method: str, params: dict[str, Any],
            webhook: tuple[str, str] | None, *, caller: Caller | None = None, in_batch: bool = False) -> Outcome:
    """Run one call end to end; errors come back inside the Outcome, never raised. A batch item
    passes the batch's `caller`: core checks the token once per batch, then only scope per item
    (CRestServerBatchItem::checkAuth), and drops any `auth` the item carries."""
    state, s = ctx.state, ctx.state.settings
    name = method.strip().lower()
    if name.endswith(".json"):
        name = name[:-5]
    params = dict(params)
    auth = params.pop("auth", None)
    if in_batch and name == "batch":
        return _failed(state, name, RestError("ERROR_BATCH_METHOD_NOT_ALLOWED", status=405))
    spec = registry.get(name)
    if spec is None:  # core looks the method up before it checks auth
        return _failed(state, name, RestError("ERROR_METHOD_NOT_FOUND", status=404))
    if caller is None:
        try:
            caller = resolve_caller(state, auth, webhook)
        except RestError as err:
            return _failed(state, name, err)
    if caller.is_app and spec.scope != "basic" and not _scope_ok(spec.scope, s.app_scope):
        return _failed(state, name, RestError("insufficient_scope", status=403))

    key = (caller.owner, "batch" if in_batch and s.billing_key == "batch" else name)
    now = time.time()
    if s.operating_enabled and state.budget.blocked(key, now, s.operating_window, s.operating_limit):
        state.count("sub_429" if in_batch else "http_429")
        return _failed(state, name, RestError("OPERATION_TIME_LIMIT", status=429))

    call = Call(state, caller, name, params, parse_start(params))
    started = time.time()
    if ctx.first_call is None:
        ctx.first_call = started
    ctx.first_by_key.setdefault(key, started)
    outcome = Outcome()
    try:
        value = spec.fn(call)
        if isinstance(value, ListResult):
            outcome.result, outcome.total, outcome.next = value.items, value.total, value.next
        else:
            outcome.result = value
        cost = _cost(s, name, value)
    except RestError as err:
        outcome.error = err
        cost = _cost(s, name, None)
    if cost > 0:
        # The modelled server time; a sleep releases the GIL and holds no lock.
        time.sleep(max(0.0, cost - (time.time() - started)))
    finished = time.time()
    processing = finished - started
    ctx.charges[key] = ctx.charges.get(key, 0.0) + processing
    state.count_call(name, outcome.error.code if outcome.error else None)
    if outcome.error is None:
        outcome.time = _time(ctx, key, started if in_batch else ctx.started, finished, processing)
    return outcome


def _time(ctx: RequestCtx, key, started: float, finished: float, processing: float) -> dict[str, Any]:
    s = ctx.state.settings
    budget = ctx.state.budget
    pending = ctx.charges.get(key, 0.0)
    # `operating` is the stored sum for the method plus what this request will store (L13).
    operating = budget.used(key, finished, s.operating_window)
    if pending > s.operating_min_fix:
        operating += pending
    reset_at = budget.reset_at(key, finished, s.operating_window, ctx.first_call or started)
    return time_block(started, finished, processing, ctx.state.tz, operating, reset_at)


def _cost(s, name: str, value: Any) -> float:
    cost = s.method_cost.get(name, s.call_cost)
    if isinstance(value, ListResult) and value.cost:
        cost += s.cost_per_row * value.cost.get("rows", 0)
        cost += s.cost_per_offset_row * value.cost.get("offset", 0)
        cost += s.cost_per_count_row * value.cost.get("counted", 0)
    return cost


def _scope_ok(needed: str, granted: str) -> bool:
    have = scopes(granted)
    if needed == "user":  # user.* reads work with any of the user scopes
        return bool(have & {"user", "user_basic", "user_brief"})
    return needed in have


def _failed(state: PortalState, name: str, err: RestError) -> Outcome:
    state.count_call(name, err.code)
    return Outcome(error=err)
