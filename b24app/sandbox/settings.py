"""SandboxSettings: every knob of the sandbox portal in one dataclass, most of them changeable at runtime."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import Any

# Fields fixed once the servers run: identity, data set, sockets. The rest may change through
# POST /_sandbox/settings while requests are in flight (readers take one value per use).
READ_ONLY_AT_RUNTIME = frozenset({
    "host", "port", "oauth_port", "seed", "member_id", "rows", "calls_days", "calls_until",
    "demo", "demo_calls",
})

# Values a switch may take; anything else is a 400 from the admin route.
CHOICES = {
    "key_rule": ("php", "strict"),
    "billing_key": ("method", "batch"),
    "event_duplicate_error": ("docs", "core"),
}


@dataclass
class SandboxSettings:
    # --- sockets -------------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = 0  # 0 = pick a free port
    oauth_port: int = 0

    # --- portal identity and the registered local app -------------------------------------------
    seed: int = 1
    member_id: str = ""  # "" = derived from the seed, so a restart keeps the same portal
    client_id: str = "local.sandbox.0001"
    client_secret: str = "sandbox-secret"
    app_url: str | None = None  # the app's public base URL; install and placements POST under it
    install_path: str = "/b24/install"
    handler_path: str = "/"
    app_version: int = 1
    app_status: str = "L"  # local app
    app_scope: str = "crm,telephony,call,placement,im,imbot,disk,user,department,userfieldconfig,task"
    language: str = "ru"
    tz_offset_minutes: int = 180  # portal time zone (Moscow) for `time.date_*` and generated calls
    license: str = "ru_project"
    webhook_user_id: int = 1
    webhook_token: str = "sandboxhook"
    token_ttl: int = 3600  # access token lifetime, s (refresh tokens live 180 days)
    refresh_ttl: int = 180 * 86400

    # --- generated call history ----------------------------------------------------------------
    rows: int = 500
    calls_days: int = 90
    calls_until: str | None = None  # ISO date/time the history ends at; None = now

    # --- demo portal (demodata.py): people, lines, CRM, recordings and a realistic call history ---------
    demo: bool = False  # True: generate the demo portal instead of the `rows` benchmark history
    demo_calls: int = 100_000  # calls in the demo history
    voximplant_user_confirm: bool = False  # voximplant.user.get answers METHOD_CONFIRM_WAITING until confirmed

    # --- leaky bucket (THROUGHPUT L4–L6) --------------------------------------------------------
    rate: float = 2.0  # drain per second
    burst: int = 50  # a request that would take the counter above this is refused
    rate_limit_enabled: bool = True

    # --- operating-time budget (L9–L13) ---------------------------------------------------------
    operating_enabled: bool = True
    operating_limit: float = 480.0  # seconds per window, per (app or webhook, method)
    operating_window: float = 600.0  # ten baskets of window/10
    operating_min_fix: float = 0.1  # a request's time for a method is stored only above this
    billing_key: str = "method"  # "batch" bills sub-calls to `batch` (jssdk PR #539 measurement, L12)

    # --- server cost and network model ----------------------------------------------------------
    call_cost: float = 0.0  # seconds slept (and billed) per (sub-)call
    method_cost: dict[str, float] = field(default_factory=dict)  # per-method override of call_cost
    cost_per_row: float = 0.0  # list methods: + per returned row
    cost_per_offset_row: float = 0.0  # + per skipped row of an offset page
    cost_per_count_row: float = 0.0  # + per matching row when start >= 0 (COUNT)
    latency: float = 0.0  # seconds per HTTP request, half before and half after handling

    # --- voximplant.statistic.get key rule (L15) ------------------------------------------------
    key_rule: str = "php"  # "php": keys upper-cased, later duplicate wins; "strict": upper-case only

    # --- faults ---------------------------------------------------------------------------------
    fail_503_share: float = 0.0  # share of /rest requests refused with 503 before the bucket
    drop_events_share: float = 0.0  # share of event deliveries silently dropped
    event_timeout: float = 5.0  # s; a slow or dead handler is a failed delivery, never retried
    install_timeout: float = 30.0  # s; the app does its portal work inside the install POST
    event_duplicate_error: str = "docs"  # "docs": ERROR_HANDLER_ALREADY_EXIST; "core": ERROR_CORE
    disk_upload_fail_share: float = 0.0  # share of disk.folder.uploadfile calls answered with a 500 (ERROR_UPLOAD)
    imbot_v2_available: bool = True  # False: imbot.v2.* answer ERROR_METHOD_NOT_FOUND (a portal without the v2 bot API)

    def __post_init__(self) -> None:
        if not self.member_id:
            self.member_id = hashlib.md5(f"b24-sandbox-portal-{self.seed}".encode()).hexdigest()
        if self.app_url:
            self.app_url = self.app_url.rstrip("/")
        self.method_cost = {str(k).lower(): float(v) for k, v in self.method_cost.items()}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def update(self, changes: dict[str, Any], *, runtime: bool = True) -> dict[str, Any]:
        """Apply `changes` (coerced to each field's type); all-or-nothing. Returns what changed."""
        coerced = {}
        known = {f.name: f for f in dataclasses.fields(self)}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown setting: {name}")
            if runtime and name in READ_ONLY_AT_RUNTIME:
                raise ValueError(f"setting {name} cannot change while the sandbox runs")
            coerced[name] = _coerce(name, getattr(self, name), value)
        for name, value in coerced.items():
            setattr(self, name, value)
        return coerced


def _coerce(name: str, current: Any, value: Any) -> Any:
    if name in CHOICES:
        if value not in CHOICES[name]:
            raise ValueError(f"{name} must be one of {', '.join(CHOICES[name])}")
        return value
    if name == "method_cost":
        if not isinstance(value, dict):
            raise ValueError("method_cost must be an object {method: seconds}")
        return {str(k).lower(): _number(name, v, float) for k, v in value.items()}
    if name in ("app_url", "calls_until"):
        if value in (None, ""):
            return None
        return str(value).rstrip("/") if name == "app_url" else str(value)
    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("1", "true", "y", "yes", "on"):
            return True
        if str(value).lower() in ("0", "false", "n", "no", "off"):
            return False
        raise ValueError(f"{name} must be a boolean")
    if isinstance(current, int):
        return _number(name, value, int)
    if isinstance(current, float):
        number = _number(name, value, float)
        if name.endswith("_share") and not 0.0 <= number <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1")
        return number
    if isinstance(current, str):
        return str(value)
    return value


def _number(name: str, value: Any, kind: type) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number")
    try:
        number = kind(value) if kind is float else int(float(value))
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number") from None
    if number < 0:
        raise ValueError(f"{name} must not be negative")
    return number
