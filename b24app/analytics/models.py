"""The analytics tables: per-day aggregates of call figures kept up to date by intake, import and
reconcile, the days waiting to be recounted, and the portal's analytics settings."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Boolean, Date, Float, Integer, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..models_base import UtcDateTime, portal_fk, utcnow

# Directions and scenarios as the aggregates store them (small integers: the tables hold millions of rows).
DIR_OTHER, DIR_IN, DIR_OUT = 0, 1, 2
DIRECTIONS = {"incoming": DIR_IN, "outgoing": DIR_OUT}
SC_WORK, SC_AFTER, SC_WEEKEND, SC_HOLIDAY = 1, 2, 3, 4
SCENARIOS = {"work": SC_WORK, "after_hours": SC_AFTER, "weekend": SC_WEEKEND, "holiday": SC_HOLIDAY}

# The additive counters of `metrics.Figures`, in one order for both aggregate tables and the recount.
COUNTERS = ("incoming", "accepted", "outgoing", "outgoing_connected", "successful_incoming",
            "successful_outgoing", "talk_seconds", "rated", "satisfied", "vote_sum", "rung", "waited",
            "wait_seconds", "within_sl", "recovered", "callback_seconds")
FLOAT_COUNTERS = ("wait_seconds", "callback_seconds")
_BIG = BigInteger().with_variant(Integer, "sqlite")


# Grains: which dimensions a cell keeps (the others are rolled up and hold 0 / ""). Every day is stored
# at each grain; a query reads the smallest grain that has every dimension it filters or groups by.
# At a million calls a year the full grain has ~1 500 cells a day, the others ~100: a 90-day overview
# reads a few thousand rows instead of a hundred thousand.
GRAINS: dict[int, frozenset[str]] = {
    1: frozenset({"user", "direction", "scenario"}),
    2: frozenset({"user", "topic"}),
    3: frozenset({"user", "line", "direction"}),
    0: frozenset({"user", "line", "direction", "scenario", "topic"}),
}


class CallStat(db.Model):
    """One portal-local day × the grain's dimensions (of manager, line, direction, scenario, topic):
    the sums every figure is made of."""

    __tablename__ = "call_stats"
    __table_args__ = (
        UniqueConstraint("portal_id", "grain", "day", "user_id", "line", "direction", "scenario", "topic_id",
                         name="uq_call_stats_cell"),
    )

    id: Mapped[int] = mapped_column(_BIG, primary_key=True)
    portal_id: Mapped[int] = portal_fk(constraint=False)
    grain: Mapped[int] = mapped_column(SmallInteger, nullable=False, default=0)
    day: Mapped[date] = mapped_column(Date, nullable=False)
    user_id: Mapped[int] = mapped_column(Integer, nullable=False, default=0)     # 0: no manager
    line: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    direction: Mapped[int] = mapped_column(SmallInteger, nullable=False, default=DIR_OTHER)
    scenario: Mapped[int] = mapped_column(SmallInteger, nullable=False, default=SC_WORK)
    topic_id: Mapped[int] = mapped_column(Integer, nullable=False, default=0)    # 0: no topic
    missed_open: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # missed, not called back (yet)
    incoming: Mapped[int] = mapped_column(_BIG, nullable=False, default=0)
    accepted: Mapped[int] = mapped_column(_BIG, nullable=False, default=0)
    outgoing: Mapped[int] = mapped_column(_BIG, nullable=False, default=0)
    outgoing_connected: Mapped[int] = mapped_column(_BIG, nullable=False, default=0)
    successful_incoming: Mapped[int] = mapped_column(_BIG, nullable=False, default=0)
    successful_outgoing: Mapped[int] = mapped_column(_BIG, nullable=False, default=0)
    talk_seconds: Mapped[int] = mapped_column(_BIG, nullable=False, default=0)
    rated: Mapped[int] = mapped_column(_BIG, nullable=False, default=0)
    satisfied: Mapped[int] = mapped_column(_BIG, nullable=False, default=0)
    vote_sum: Mapped[int] = mapped_column(_BIG, nullable=False, default=0)
    rung: Mapped[int] = mapped_column(_BIG, nullable=False, default=0)
    waited: Mapped[int] = mapped_column(_BIG, nullable=False, default=0)
    wait_seconds: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    within_sl: Mapped[int] = mapped_column(_BIG, nullable=False, default=0)
    recovered: Mapped[int] = mapped_column(_BIG, nullable=False, default=0)
    callback_seconds: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)


class CallStatHour(db.Model):
    """One portal-local day × hour × manager × direction: what the by-hour charts need, no more."""

    __tablename__ = "call_stats_hourly"
    __table_args__ = (
        UniqueConstraint("portal_id", "day", "hour", "user_id", "direction", name="uq_call_stats_hour_cell"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    portal_id: Mapped[int] = portal_fk(constraint=False)
    day: Mapped[date] = mapped_column(Date, nullable=False)
    hour: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    user_id: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    direction: Mapped[int] = mapped_column(SmallInteger, nullable=False, default=DIR_OTHER)
    calls: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    incoming: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    accepted: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    outgoing: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    talk_seconds: Mapped[int] = mapped_column(_BIG, nullable=False, default=0)


class StatsDirty(db.Model):
    """A portal-local day whose calls changed since its aggregates were last counted.

    A writer bumps `version` in the transaction that changes a call; the recount deletes the row only
    if the version is still the one it counted, so a change that lands meanwhile is never dropped.
    """

    __tablename__ = "call_stats_dirty"

    portal_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    marked_at: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False, default=utcnow)


class StatsVersion(db.Model):
    """Bumped by every recount of a portal: what an open dashboard polls to know its figures moved (A9)."""

    __tablename__ = "call_stats_version"

    portal_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False, default=utcnow)


class AnalyticsSettings(db.Model):
    """A portal's analytics settings (A7): thresholds, the working schedule, holidays, the plan, targets."""

    __tablename__ = "analytics_settings"
    __table_args__ = (UniqueConstraint("portal_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portal_id: Mapped[int] = portal_fk()
    success_seconds: Mapped[int] = mapped_column(Integer, nullable=False, default=30)
    callback_hours: Mapped[int] = mapped_column(Integer, nullable=False, default=24)
    service_level_seconds: Mapped[int] = mapped_column(Integer, nullable=False, default=20)
    # weekday (0 = Monday) → [start minute, end minute) of working time, or null for a day off
    schedule: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    russian_holidays: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    holidays: Mapped[list] = mapped_column(JSON, nullable=False, default=list)      # extra days off, ISO dates
    workdays: Mapped[list] = mapped_column(JSON, nullable=False, default=list)      # working days despite a holiday
    plan: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)          # {"month": N, "week": N} deals
    missed_target: Mapped[int | None] = mapped_column(Integer)                       # missed calls a manager a week
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    updated_by: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)
