"""The missed-calls board (A13): missed and lost calls per manager this calendar week against last week,
each manager judged by the weekly target, and this week's missed calls still not called back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo

from sqlalchemy import select

from ..calls.models import Call
from ..calls.rules import ANSWERED_CODE, INCOMING_TYPES
from ..extensions import db
from . import cube
from .call_list import local_moment
from .metrics import Figures
from .settings import Settings

OPEN_LIMIT = 100  # open calls listed per kind (waiting, lost): a board, not an archive


def week_of(today: date) -> tuple[date, date]:
    """Monday of `today`'s week, and today."""
    return today - timedelta(days=today.weekday()), today


@dataclass
class BoardRow:
    """One manager (user_id 0: calls without one; None: the team's total)."""

    user_id: int | None
    missed: int = 0
    lost: int = 0
    awaiting: int = 0
    recovered: int = 0
    incoming: int = 0
    missed_last_week: int = 0
    lost_last_week: int = 0
    missed_same_days: int = 0     # last week Monday … the same weekday as today: what the trend compares with
    verdict: str = ""             # "over" / "within" the target; "" without a target or a manager

    @property
    def trend(self) -> str:
        """"up" (more missed than by this day last week), "down", or "same"."""
        if self.missed > self.missed_same_days:
            return "up"
        return "down" if self.missed < self.missed_same_days else "same"


@dataclass
class Board:
    monday: date
    today: date
    target: int | None
    rows: list[BoardRow]
    total: BoardRow
    last_monday: date = field(init=False)
    last_sunday: date = field(init=False)

    def __post_init__(self):
        self.last_monday = self.monday - timedelta(days=7)
        self.last_sunday = self.monday - timedelta(days=1)


def verdict(missed: int, target: int | None) -> str:
    if target is None:
        return ""
    return "over" if missed > target else "within"


def board(portal_id: int, today: date, settings: Settings, now: datetime,
          users: frozenset[int] | None = None) -> Board:
    """Every manager's row (whoever looks: the board is the team's), worst first; `users` narrows it
    (a department filter)."""
    monday, _ = week_of(today)
    q = cube.Query(portal_id, monday, today, users=users)
    this = cube.figures(q, ("user",), settings=settings, now=now)
    last = cube.figures(q.between(monday - timedelta(days=7), monday - timedelta(days=1)), ("user",),
                        settings=settings, now=now)
    same = cube.figures(q.between(monday - timedelta(days=7), today - timedelta(days=7)), ("user",),
                        settings=settings, now=now)
    target = settings.missed_target
    rows = []
    total = BoardRow(None)
    for (uid,) in sorted(set(this) | set(last)):
        f, b, s = this.get((uid,), Figures()), last.get((uid,), Figures()), same.get((uid,), Figures())
        row = BoardRow(uid, missed=f.missed, lost=f.lost, awaiting=f.awaiting_callback, recovered=f.recovered,
                       incoming=f.incoming, missed_last_week=b.missed, lost_last_week=b.lost,
                       missed_same_days=s.missed, verdict=verdict(f.missed, target) if uid else "")
        rows.append(row)
        for name in ("missed", "lost", "awaiting", "recovered", "incoming", "missed_last_week", "lost_last_week",
                     "missed_same_days"):
            setattr(total, name, getattr(total, name) + getattr(row, name))
    # Worst first: the most missed this week, then the most lost; calls without a manager at the bottom.
    rows.sort(key=lambda r: (r.user_id == 0, -r.missed, -r.lost, -r.missed_last_week, r.user_id))
    return Board(monday, today, target, rows, total)


@dataclass
class OpenCall:
    id: int
    start: datetime
    user_id: int | None
    phone: str
    awaiting: bool
    left_seconds: float | None   # awaiting: until the callback window closes


def open_calls(portal_id: int, monday: date, today: date, tz: tzinfo, settings: Settings, now: datetime,
               users: frozenset[int] | None = None) -> tuple[list[OpenCall], list[OpenCall]]:
    """This week's missed calls nobody called back: (waiting, the most urgent first; lost, newest first)."""
    if users is not None and not users:
        return [], []
    window = timedelta(hours=settings.metrics.callback_hours)
    closes = now - window
    base = [Call.portal_id == portal_id, Call.call_start_date >= local_moment(monday, 0, tz),
            Call.call_start_date < local_moment(today + timedelta(days=1), 0, tz),
            Call.call_type.in_(sorted(INCOMING_TYPES)), Call.failed_code != ANSWERED_CODE,
            Call.callback_at.is_(None)]
    if users is not None:
        base.append(Call.portal_user_id.in_(sorted(users)))
    cols = (Call.id, Call.call_start_date, Call.portal_user_id, Call.phone_number)
    waiting = db.session.execute(select(*cols).where(*base, Call.call_start_date > closes)
                                 .order_by(Call.call_start_date.asc(), Call.id.asc()).limit(OPEN_LIMIT)).all()
    lost = db.session.execute(select(*cols).where(*base, Call.call_start_date <= closes)
                              .order_by(Call.call_start_date.desc(), Call.id.desc()).limit(OPEN_LIMIT)).all()
    return ([OpenCall(i, s, u, p or "", True, (s + window - now).total_seconds()) for i, s, u, p in waiting],
            [OpenCall(i, s, u, p or "", False, None) for i, s, u, p in lost])
