"""In-memory state of one sandbox portal: identity, the installed app, bindings, tokens, limits,
counters, people and call history. Locks are short and never held across sleeps or HTTP calls."""

from __future__ import annotations

import random
import secrets
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from .calldata import Operator, until_timestamp
from .callstore import CallStore
from .directory import Directory
from .envelope import portal_tz
from .limits import LeakyBucket, OperatingBudget
from .settings import SandboxSettings
from .tokens import TokenPair, TokenStore


@dataclass
class AppInstall:
    """The local app's install state on this portal."""

    application_token: str = ""
    installed: bool = False  # installFinish done: placements show, events are delivered
    ever_installed: bool = False
    uninstalled: bool = False
    install_event_sent: bool = False  # ONAPPINSTALL goes out once per install


@dataclass
class PlacementBinding:
    id: int
    placement: str
    handler: str
    title: str
    description: str
    group_name: str
    lang_all: dict[str, dict[str, str]]
    options: Any  # [] when the placement keeps no options (PHP empty array)
    user_id: int = 0

    def as_rest(self) -> dict[str, Any]:
        """placement.get item (fixture placement.get.response)."""
        return {"placement": self.placement, "userId": self.user_id, "handler": self.handler,
                "options": self.options, "title": self.title, "description": self.description,
                "langAll": self.lang_all or []}


@dataclass
class EventBinding:
    id: int
    event: str
    handler: str
    auth_type: int = 0  # 0 = the user who caused the event
    offline: bool = False
    connector_id: str = ""

    def as_rest(self) -> dict[str, Any]:
        """event.get item (fixture event.get.response; core api/event.php eventGet)."""
        if self.offline:
            return {"event": self.event, "connector_id": self.connector_id, "offline": 1}
        return {"event": self.event, "handler": self.handler, "auth_type": str(self.auth_type), "offline": 0}


@dataclass
class Stats:
    http_requests: int = 0
    http_503: int = 0
    http_503_fault: int = 0
    http_429: int = 0
    sub_429: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    rest_calls: Counter = field(default_factory=Counter)
    rest_errors: Counter = field(default_factory=Counter)
    events_delivered: int = 0
    events_failed: int = 0
    events_dropped: int = 0
    offline_events: int = 0
    install_posts: int = 0
    oauth_requests: int = 0


class PortalState:
    def follow_clock(self) -> None:
        """After `tz_offset_minutes` changed at runtime (a DST change): answers, new calls, CRM and Disk dates
        are printed at the new offset from now on, as a real portal's are."""
        if self.settings.tz_offset_minutes == self._tz_minutes:
            return
        self._tz_minutes = self.settings.tz_offset_minutes
        self.tz = portal_tz(self._tz_minutes)
        for store in (self.calls, self.crm, self.disk, self.tasks):
            store.tz = self.tz

    def __init__(self, settings: SandboxSettings):
        self.settings = settings
        self.tz = portal_tz(settings.tz_offset_minutes)
        self._tz_minutes = settings.tz_offset_minutes
        self.directory = Directory()
        self.tokens = TokenStore()
        self.bucket = LeakyBucket()
        self.budget = OperatingBudget()
        self.calls = CallStore(self.tz, settings.seed)
        self.app = AppInstall()
        self.stats = Stats()
        self.portal_url = ""
        self.oauth_url = ""
        self._lock = threading.Lock()  # bindings and app state
        self._stats_lock = threading.Lock()
        self._rng_lock = threading.Lock()
        self._rng = random.Random(settings.seed)  # fault switches draw from a seeded stream
        self._placements: list[PlacementBinding] = []
        self._events: list[EventBinding] = []
        self._next_binding_id = 1000
        self.offline_queue: list[dict[str, Any]] = []  # events for offline bindings (not served yet)
        from .crm import CrmStore
        from .disk import DiskStore
        from .lines import LineStore
        from .messenger import ImStore
        from .tasks import TaskStore

        self.crm = CrmStore(self.tz)
        self.im = ImStore(self)
        self.disk = DiskStore(self.tz)
        self.lines = LineStore()
        self.tasks = TaskStore(self.tz)

    # --- identity --------------------------------------------------------------------------------

    def set_endpoints(self, portal_url: str, oauth_url: str) -> None:
        self.portal_url, self.oauth_url = portal_url.rstrip("/"), oauth_url.rstrip("/")
        self.disk.portal_url = self.crm.portal_url = self.tasks.portal_url = self.portal_url

    @property
    def domain(self) -> str:
        return self.portal_url.split("://", 1)[-1]

    @property
    def oauth_domain(self) -> str:
        return self.oauth_url.split("://", 1)[-1]

    @property
    def client_endpoint(self) -> str:
        return self.portal_url + "/rest/"

    @property
    def server_endpoint(self) -> str:
        return self.oauth_url + "/rest/"

    @property
    def member_id(self) -> str:
        return self.settings.member_id

    # --- data --------------------------------------------------------------------------------------

    def generate_calls(self) -> None:
        s = self.settings
        if s.demo:
            from .demodata import generate

            generate(self, s.seed, s.demo_calls)
            return
        until = until_timestamp(s.calls_until, self.tz)
        operators = []
        for user in self.directory.all_users():
            if user.calls_weight > 0:
                # A dismissed employee's calls stop two thirds of the way through the history.
                stop = None if user.active else until - s.calls_days * 86400 / 3
                operators.append(Operator(user.id, user.tz_minutes, user.calls_weight, stop))
        self.calls.generate(s.rows, operators, until, s.calls_days)

    def issue_tokens(self, user_id: int) -> TokenPair:
        s = self.settings
        return self.tokens.issue(user_id, s.token_ttl, s.refresh_ttl)

    def new_application_token(self) -> str:
        with self._lock:
            self.app.application_token = secrets.token_hex(16)
            return self.app.application_token

    def chance(self, share: float) -> bool:
        if share <= 0:
            return False
        with self._rng_lock:
            return self._rng.random() < share

    # --- counters ----------------------------------------------------------------------------------

    def count(self, name: str, n: int = 1) -> None:
        with self._stats_lock:
            setattr(self.stats, name, getattr(self.stats, name) + n)

    def count_call(self, method: str, error: str | None = None) -> None:
        with self._stats_lock:
            self.stats.rest_calls[method] += 1
            if error:
                self.stats.rest_errors[error] += 1

    def enter(self) -> None:
        with self._stats_lock:
            self.stats.http_requests += 1
            self.stats.in_flight += 1
            self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)

    def leave(self) -> None:
        with self._stats_lock:
            self.stats.in_flight -= 1

    def stats_dict(self) -> dict[str, Any]:
        s = self.settings
        now = time.time()
        with self._stats_lock:
            st = self.stats
            out = {
                "http_requests": st.http_requests, "http_503": st.http_503, "http_503_fault": st.http_503_fault,
                "http_429": st.http_429, "sub_429": st.sub_429, "in_flight": st.in_flight,
                "max_in_flight": st.max_in_flight, "rest_calls": dict(st.rest_calls),
                "rest_errors": dict(st.rest_errors),
                "events": {"delivered": st.events_delivered, "failed": st.events_failed,
                           "dropped": st.events_dropped, "offline_queued": st.offline_events},
                "install_posts": st.install_posts, "oauth_requests": st.oauth_requests,
            }
        out["refreshes"] = self.tokens.refreshes
        out["refreshes_by_user"] = {str(k): v for k, v in self.tokens.refreshes_by_user.items()}
        out["bucket_level"] = self.bucket.level(now, s.rate)
        out["bucket_peak"] = self.bucket.peak
        out["operating"] = self.budget.snapshot(now, s.operating_window)
        out["rows"] = len(self.calls)
        return out

    def reset(self) -> None:
        """Bucket, baskets and counters back to zero (bindings, tokens and data stay)."""
        self.bucket.reset()
        self.budget.reset()
        self.tokens.reset_counters()
        with self._stats_lock:
            in_flight = self.stats.in_flight
            self.stats = Stats(in_flight=in_flight, max_in_flight=in_flight)

    # --- bindings ----------------------------------------------------------------------------------

    def _new_id(self) -> int:
        self._next_binding_id += 1
        return self._next_binding_id

    def add_placement(self, **fields: Any) -> PlacementBinding:
        with self._lock:
            binding = PlacementBinding(id=self._new_id(), **fields)
            self._placements.append(binding)
            return binding

    def placements(self) -> list[PlacementBinding]:
        with self._lock:
            return list(self._placements)

    def remove_placements(self, predicate) -> int:
        with self._lock:
            keep = [p for p in self._placements if not predicate(p)]
            removed = len(self._placements) - len(keep)
            self._placements = keep
            return removed

    def add_event(self, **fields: Any) -> EventBinding:
        with self._lock:
            binding = EventBinding(id=self._new_id(), **fields)
            self._events.append(binding)
            return binding

    def event_bindings(self, event: str | None = None) -> list[EventBinding]:
        with self._lock:
            return [e for e in self._events if event is None or e.event == event]

    def remove_events(self, predicate) -> int:
        with self._lock:
            keep = [e for e in self._events if not predicate(e)]
            removed = len(self._events) - len(keep)
            self._events = keep
            return removed

    def bindings_dict(self) -> dict[str, Any]:
        return {"placements": [{"id": p.id, **p.as_rest()} for p in self.placements()],
                "events": [{"id": e.id, **asdict(e), "event_handler_id": str(e.id)} for e in self.event_bindings()]}

    # --- app lifecycle flags -------------------------------------------------------------------------

    def app_dict(self) -> dict[str, Any]:
        with self._lock:
            app = asdict(self.app)
        s = self.settings
        return {**app, "app_url": s.app_url, "install_path": s.install_path, "handler_path": s.handler_path,
                "client_id": s.client_id, "member_id": s.member_id, "domain": self.domain}
