"""Plan vs fact for created deals (K4): the plan of a period from the settings' month and week plans, the fact
from the portal's `crm.deal.list` (one request reading `total`), kept for a minute so a refreshing dashboard
does not ask the portal on every view."""

from __future__ import annotations

import logging
import threading
import time
from calendar import monthrange
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from flask import current_app

from ..bitrix import errors as E

log = logging.getLogger(__name__)

CACHE_SECONDS = 60.0
FAILURE_SECONDS = 10.0  # a portal that did not answer is asked again soon, not at every refresh
CACHE_ITEMS = 2000


@dataclass(frozen=True)
class Target:
    """The plan for a period and how it was reached: "month" or "week" (the whole unit's plan),
    "month_days"/"week_days" (prorated by days), "" without a plan."""

    value: float | None
    basis: str = ""


@dataclass(frozen=True)
class PlanFact:
    plan: float | None
    basis: str
    fact: int | None            # None: the portal did not answer («нет данных»)

    @property
    def done(self) -> float | None:
        """The share of the plan done, 0..1 and above; None without both."""
        if self.plan is None or self.fact is None or self.plan <= 0:
            return None
        return self.fact / self.plan


def _amount(raw) -> float | int | None:
    if isinstance(raw, bool):
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    if value <= 0 or value != value or value == float("inf"):
        return None
    return int(value) if value.is_integer() else value  # 40 deals read «40», not «40,0»


def target(plan: dict | None, first: date, last: date) -> Target:
    """The plan for local days first..last: a whole calendar month takes the month plan, a whole Monday–Sunday
    week the week plan, anything else the month plan prorated by days month by month (so a quarter is three
    months' plans and the 1st–10th of a 30-day month a third of it). Without a month plan the week plan is
    prorated by days instead."""
    plan = plan or {}
    month, week = _amount(plan.get("month")), _amount(plan.get("week"))
    days = (last - first).days + 1
    whole_month = first.day == 1 and last == first.replace(day=monthrange(first.year, first.month)[1])
    if whole_month and month is not None:
        return Target(month, "month")
    if days == 7 and first.weekday() == 0 and week is not None:
        return Target(week, "week")
    if month is not None:
        total, day = 0.0, first
        while day <= last:
            in_month = monthrange(day.year, day.month)[1]
            end = min(last, day.replace(day=in_month))
            total += month * ((end - day).days + 1) / in_month
            day = end + timedelta(days=1)
        return Target(total, "month_days")
    if week is not None:
        return Target(week * days / 7, "week_days")
    return Target(None)


# --- the fact -------------------------------------------------------------------------------------------

_lock = threading.Lock()


def _cache() -> dict:
    return current_app.extensions.setdefault("analytics_deals_created", {})


def deals_created(portal_id: int, member_id: str, start: datetime, end: datetime, tz: timezone,
                  users: frozenset[int] | None, *, client=None) -> int | None:
    """Deals created in [start, end) (aware moments), assigned to `users` (None: anyone's); None when the portal
    does not answer."""
    if users is not None and not users:
        return 0
    key = (portal_id, member_id, start, end, None if users is None else tuple(sorted(users)))
    cache, clock = _cache(), time.monotonic()
    with _lock:
        hit = cache.get(key)
        if hit is not None and hit[0] > clock:
            return hit[1]
    flt: dict = {">=DATE_CREATE": start.astimezone(tz).isoformat(), "<DATE_CREATE": end.astimezone(tz).isoformat()}
    if users is not None:
        flt["ASSIGNED_BY_ID"] = sorted(users)
    try:
        if client is None:
            from ..portals.rest import client_for

            # A page waits for this: give up in seconds rather than queue behind the portal's limits.
            client = client_for(member_id, max_attempts=2, max_limit_waits=2, timeout=10.0)
        res = client.call("crm.deal.list", {"filter": flt, "select": ["ID"], "order": {"ID": "ASC"}, "start": 0})
        count = int(res.total) if res.total is not None else len(res.result or [])
        ttl = CACHE_SECONDS
    except (E.BitrixError, OSError, ValueError, TypeError) as exc:
        log.warning("crm.deal.list for the plan failed on portal %s: %s", portal_id, exc)
        count, ttl = None, FAILURE_SECONDS
    with _lock:
        if len(cache) >= CACHE_ITEMS:
            for k in [k for k, v in cache.items() if v[0] <= clock] or list(cache)[:CACHE_ITEMS // 2]:
                cache.pop(k, None)
        cache[key] = (clock + ttl, count)
    return count


def plan_fact(page) -> PlanFact:
    """The page's period: its plan from the settings, its fact for the users the page counts."""
    period = page.state.period
    t = target(page.settings.plan, period.first, period.last)
    moments = period.moments(page.tz)
    fact = deals_created(page.viewer.portal_id, page.viewer.member_id, moments.start, moments.end, page.tz,
                         page.users)
    return PlanFact(t.value, t.basis, fact)
