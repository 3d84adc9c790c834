"""A portal's analytics settings as the figures read them: thresholds, the working schedule, holidays
(Russian by default, from the `holidays` package's production calendar), the plan and targets."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select

from ..extensions import db
from .metrics import MetricSettings
from .models import SC_AFTER, SC_HOLIDAY, SC_WEEKEND, SC_WORK, AnalyticsSettings

# Monday–Friday 09:00–18:00: what most Russian sales teams work (minutes from local midnight).
DEFAULT_SCHEDULE: dict[int, tuple[int, int] | None] = {
    **{d: (9 * 60, 18 * 60) for d in range(5)}, 5: None, 6: None}


@dataclass(frozen=True)
class Settings:
    metrics: MetricSettings = MetricSettings()
    schedule: dict = field(default_factory=lambda: dict(DEFAULT_SCHEDULE))
    russian_holidays: bool = True
    holidays: frozenset[date] = frozenset()   # extra days off
    workdays: frozenset[date] = frozenset()   # working days despite the calendar (a moved weekend)
    plan: dict = field(default_factory=dict)
    missed_target: int | None = None
    version: int = 0

    def is_holiday(self, day: date) -> bool:
        if day in self.workdays:
            return False
        return day in self.holidays or (self.russian_holidays and day in russian_holidays(day.year))

    def scenario(self, local: datetime) -> int:
        """Working hours, after hours, weekend or holiday for a portal-local moment (K3)."""
        day = local.date()
        if self.is_holiday(day):
            return SC_HOLIDAY
        hours = self.schedule.get(day.weekday())
        if hours is None and day in self.workdays:  # a Saturday worked for a moved holiday: usual hours
            hours = next((h for h in self.schedule.values() if h), None)
        if hours is None:
            return SC_WEEKEND
        minute = local.hour * 60 + local.minute
        return SC_WORK if hours[0] <= minute < hours[1] else SC_AFTER

    @property
    def recount_key(self) -> tuple:
        """What the stored aggregates depend on: a change of any of it means recounting every day."""
        return (self.metrics, tuple(sorted(self.schedule.items(), key=lambda kv: kv[0])),
                self.russian_holidays, self.holidays, self.workdays)


@functools.lru_cache(maxsize=64)
def russian_holidays(year: int) -> frozenset[date]:
    """Non-working days of the Russian production calendar (public holidays and the days moved to them)."""
    import holidays

    return frozenset(holidays.RU(years=year))


def _schedule(raw: dict | None) -> dict:
    if not raw:
        return dict(DEFAULT_SCHEDULE)
    out: dict[int, tuple[int, int] | None] = {}
    for d in range(7):
        v = raw.get(str(d), raw.get(d))
        out[d] = (int(v[0]), int(v[1])) if v else None
    return out


def load(portal_id: int) -> Settings:
    row = db.session.scalar(select(AnalyticsSettings).where(AnalyticsSettings.portal_id == portal_id))
    if row is None:
        return Settings()
    return Settings(
        metrics=MetricSettings(success_seconds=row.success_seconds, callback_hours=row.callback_hours,
                               service_level_seconds=row.service_level_seconds),
        schedule=_schedule(row.schedule), russian_holidays=row.russian_holidays,
        holidays=frozenset(date.fromisoformat(d) for d in row.holidays or ()),
        workdays=frozenset(date.fromisoformat(d) for d in row.workdays or ()),
        plan=dict(row.plan or {}), missed_target=row.missed_target, version=row.version)
