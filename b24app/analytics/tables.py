"""The rows of the analytics tables (employees, departments, lines, clients) and the by-day and
hour × weekday series: plain functions over cube figures — sorted, totalled, worst/best marked — without HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, func, select

from ..calls.models import Call
from ..calls.rules import ANSWERED_CODE, INCOMING_TYPES, OUTGOING_TYPES
from ..extensions import db
from . import cube, summary
from .metrics import Figures, phone_key
from .models import DIR_IN, DIR_OTHER, DIR_OUT
from .recount import day_bounds
from .settings import Settings
from .view import ViewError

TEXT, SHARE, TIME, MOMENT, NUMBER = "text", "%", "time", "moment", ""


@dataclass(frozen=True)
class Column:
    """A table column: `value` reads it from Figures (None for columns the rows fill themselves);
    TIME columns hold minutes and are shown in minutes or hours (`label_h`)."""

    key: str
    label: object
    value: Callable[[Figures], Any] | None = None
    unit: str = NUMBER
    better: int = 0
    label_h: object = None

    def heading(self, unit: str):
        return self.label_h if unit == "h" and self.label_h is not None else self.label

    @property
    def descending_first(self) -> bool:
        """A first click on a number sorts the largest first; names go А→Я."""
        return self.unit != TEXT


_KEY = {k.key: k for k in summary.KEY_FIGURES}


def _figure(key: str, unit: str | None = None, label_h=None) -> Column:
    k = _KEY[key]
    return Column(k.key, k.label, k.value, k.unit if unit is None else unit, k.better, label_h)


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / 60


# The figures every per-group table shows, labelled and judged as the overview's tiles are.
FIGURE_COLUMNS: tuple[Column, ...] = (
    _figure("incoming"), _figure("accepted"), _figure("missed"), _figure("missed_share"), _figure("lost"),
    _figure("recovered"),
    Column("callback_minutes", _l("Среднее время до перезвона, мин"), lambda f: _minutes(f.mean_callback_seconds),
           TIME, -1, _l("Среднее время до перезвона, ч")),
    _figure("outgoing"), _figure("successful_incoming"), _figure("successful_outgoing"),
    _figure("talk_minutes", TIME, _l("Время разговоров, ч")),
    _figure("aht"), _figure("asa"), _figure("service_level"), _figure("csat"),
)

DIRECTION_LABELS = {DIR_IN: _l("Входящие"), DIR_OUT: _l("Исходящие"), DIR_OTHER: _l("Другие")}
DIRECTION_KEYS = {DIR_IN: "incoming", DIR_OUT: "outgoing"}
CRM_LABELS = {"CONTACT": _l("Контакт"), "COMPANY": _l("Компания"), "LEAD": _l("Лид"), "DEAL": _l("Сделка")}
WEEKDAYS = (_l("Пн"), _l("Вт"), _l("Ср"), _l("Чт"), _l("Пт"), _l("Сб"), _l("Вс"))
WEEKDAY_NAMES = (_l("понедельник"), _l("вторник"), _l("среда"), _l("четверг"), _l("пятница"), _l("суббота"),
                 _l("воскресенье"))
CLIENTS_PER_PAGE = 200


@dataclass
class Row:
    key: str                                # unique in its table: the row's data-testid is row-<key>
    values: dict[str, Any]                  # raw values by column key (the name column too)
    href: str | None = None                 # where a click on the row drills down to
    ranked: bool = True                     # takes part in worst/best (not «Без сотрудника»)
    info: dict = field(default_factory=dict)


@dataclass
class Table:
    columns: tuple[Column, ...]             # the first one names the row
    rows: list[Row]
    total: Row | None
    sort: str                               # the order applied: a column key, "-" first = descending
    marks: dict[tuple[str, str], str] = field(default_factory=dict)  # (row key, column key) → worst/best
    count: int = 0                          # rows before paging (clients)

    @property
    def sort_key(self) -> str:
        return self.sort.lstrip("-")

    @property
    def descending(self) -> bool:
        return self.sort.startswith("-")

    def next_sort(self, col: Column) -> str:
        """What a click on the column's heading asks for: the other direction of the current column,
        or the column's natural first direction."""
        if col.key == self.sort_key:
            return col.key if self.descending else "-" + col.key
        return "-" + col.key if col.descending_first else col.key

    @property
    def time_columns(self) -> bool:
        return any(c.unit == TIME for c in self.columns)

    def as_json(self) -> dict:
        def raw(v):
            return v.isoformat() if isinstance(v, datetime | date) else v

        def row(r: Row) -> dict:
            out = {"key": r.key, "values": {c.key: raw(r.values.get(c.key)) for c in self.columns}}
            out.update({k: raw(v) for k, v in r.info.items()})
            return out

        return {"columns": [{"key": c.key, "label": str(c.label), "unit": c.unit, "better": c.better}
                            for c in self.columns],
                "sort": self.sort, "rows": [row(r) for r in self.rows],
                "total": row(self.total) if self.total else None, "count": self.count or len(self.rows)}


def text(value, col: Column, unit: str = "min", tz: timezone | None = None) -> str | None:
    """A cell as the viewer reads it; None for «нет данных»."""
    if value is None:
        return None
    if col.unit == TEXT:
        return str(value)
    if col.unit == MOMENT:
        return value.astimezone(tz).strftime("%d.%m.%Y %H:%M") if tz else value.strftime("%d.%m.%Y %H:%M")
    if col.unit == TIME:
        return summary.display(float(value) / 60 if unit == "h" else float(value))
    return summary.display(value, col.unit)


def figure_values(f: Figures, columns: Iterable[Column]) -> dict[str, Any]:
    return {c.key: c.value(f) for c in columns if c.value is not None}


# --- order and marks --------------------------------------------------------------------------------

def order(rows: list[Row], sort: str, columns: tuple[Column, ...], default: str) -> tuple[list[Row], str]:
    """Rows in the order `sort` asks for (`default` when empty): empty values («нет данных») last in either
    direction, ties by name. A key that is not one of the columns is a ViewError (400)."""
    sort = sort or default
    key = sort.lstrip("-")
    col = next((c for c in columns if c.key == key), None)
    if col is None or sort.count("-") > 1:
        raise ViewError("analytics.bad_sort")
    name = columns[0].key

    def name_of(r: Row):
        return (str(r.values.get(name) or "").casefold(), r.key)

    rows = sorted(rows, key=name_of)
    known = [r for r in rows if r.values.get(key) is not None]
    unknown = [r for r in rows if r.values.get(key) is None]
    if col.unit == TEXT:
        known.sort(key=lambda r: str(r.values[key]).casefold(), reverse=sort.startswith("-"))
    else:
        known.sort(key=lambda r: r.values[key], reverse=sort.startswith("-"))
    return known + unknown, sort


def marks(rows: list[Row], columns: Iterable[Column]) -> dict[tuple[str, str], str]:
    """The worst and best value of each column that has a better direction, over at least two rows with a value.
    Equal values share the mark; a value most rows share is the norm, not a standout, and is left plain."""
    out: dict[tuple[str, str], str] = {}
    ranked = [r for r in rows if r.ranked]
    for col in columns:
        if not col.better or col.unit in (TEXT, MOMENT):
            continue
        have = [(r, r.values[col.key]) for r in ranked if r.values.get(col.key) is not None]
        if len(have) < 2:
            continue
        values = [v for _, v in have]
        low, high = min(values), max(values)
        if low == high:
            continue
        best, worst = (high, low) if col.better > 0 else (low, high)
        for mark, target in (("best", best), ("worst", worst)):
            hit = [r for r, v in have if v == target]
            if len(hit) * 2 <= len(have):
                for r in hit:
                    out[(r.key, col.key)] = mark
    return out


def finish(rows: list[Row], total: Row | None, columns: tuple[Column, ...], sort: str, default: str) -> Table:
    ordered, applied = order(rows, sort, columns, default)
    return Table(columns, ordered, total, applied, marks(rows, columns), len(rows))


def _total(f: Figures, columns, name) -> Row:
    return Row("total", {columns[0].key: str(name), **figure_values(f, columns)}, ranked=False)


def summed(groups: Iterable[Figures]) -> Figures:
    out = Figures()
    for f in groups:
        out.add(f)
    return out


# --- employees, departments, lines ------------------------------------------------------------------

EMPLOYEE = Column("name", _l("Сотрудник"), unit=TEXT)
DEPARTMENT = Column("name", _l("Отдел"), unit=TEXT)
LINE = Column("name", _l("Линия"), unit=TEXT)
DIRECTION = Column("direction", _l("Направление"), unit=TEXT)


def employee_table(by_user: dict[tuple, Figures], name: Callable[[int], str],
                   link: Callable[[int], str | None], sort: str) -> Table:
    """One row per manager (user 0: calls no one took, shown but not ranked); the totals are every row's sum,
    which is the whole scope's figure (every call has one manager cell)."""
    columns = (EMPLOYEE, *FIGURE_COLUMNS)
    rows = [Row(str(uid), {"name": name(uid), **figure_values(f, columns)}, link(uid) if uid else None,
                ranked=bool(uid), info={"user_id": uid})
            for (uid,), f in by_user.items()]
    total = _total(summed(by_user.values()), columns, _l("Итого"))
    return finish(rows, total, columns, sort, "name")


@dataclass(frozen=True)
class Department:
    department_id: int
    name: str
    parent: str = ""           # the parent department's name, shown beside a sub-department's


def department_table(departments: Iterable[Department], members: dict[int, frozenset[int]],
                     by_user: dict[tuple, Figures], total: Figures, link: Callable[[int], str],
                     sort: str) -> tuple[Table, list[Department]]:
    """One row per department with calls: the sum of its members' rows (sub-departments included, so a
    manager in two departments counts in both); `total` is the scope's own figure, each call once.
    Also returns the departments without calls in the period."""
    columns = (DEPARTMENT, *FIGURE_COLUMNS)
    rows, idle = [], []
    for d in departments:
        f = summed(by_user[(u,)] for u in sorted(members.get(d.department_id, ())) if (u,) in by_user)
        if not f.incoming and not f.outgoing:
            idle.append(d)
            continue
        rows.append(Row(str(d.department_id), {"name": d.name, **figure_values(f, columns)},
                        link(d.department_id), info={"department_id": d.department_id, "parent": d.parent}))
    return finish(rows, _total(total, columns, _l("Итого")), columns, sort, "name"), idle


def line_table(by_line: dict[tuple, Figures], grouped: bool, link: Callable[[str, int | None], str | None],
               sort: str) -> Table:
    """Per line (PORTAL_NUMBER), or per line × direction with `grouped` (REQUIREMENTS C8)."""
    columns = (LINE, DIRECTION, *FIGURE_COLUMNS) if grouped else (LINE, *FIGURE_COLUMNS)
    rows = []
    for key, f in by_line.items():
        line, direction = (key[0], key[1]) if grouped else (key[0], None)
        values = {"name": line or str(_l("Без линии")), **figure_values(f, columns)}
        row_key = line or "none"
        if grouped:
            values["direction"] = str(DIRECTION_LABELS.get(direction, DIRECTION_LABELS[DIR_OTHER]))
            row_key = f"{row_key}:{DIRECTION_KEYS.get(direction, 'other')}"
        rows.append(Row(row_key, values, link(line, direction) if line else None,
                        info={"line": line, **({"direction": DIRECTION_KEYS.get(direction, "other")} if grouped else {})}))
    total = _total(summed(by_line.values()), columns, _l("Итого"))
    return finish(rows, total, columns, sort, "name")


# --- clients -----------------------------------------------------------------------------------------

CLIENT_COLUMNS: tuple[Column, ...] = (
    Column("client", _l("Клиент"), unit=TEXT),
    Column("calls", _l("Звонки")),
    Column("incoming", _l("Входящие")),
    Column("outgoing", _l("Исходящие")),
    Column("missed", _l("Пропущенные"), better=-1),
    Column("talk_minutes", _l("Время разговоров, мин"), unit=TIME, label_h=_l("Время разговоров, ч")),
    Column("last_call", _l("Последний звонок"), unit=MOMENT),
)


@dataclass
class Client:
    phone: str                     # digits (metrics.phone_key): how every spelling of the number meets
    calls: int = 0
    incoming: int = 0
    outgoing: int = 0
    missed: int = 0
    talk_seconds: int = 0
    last_call: datetime | None = None
    entity_type: str = ""          # the CRM client of the number's latest call that names one
    entity_id: int | None = None
    entity_at: datetime | None = None

    def add(self, calls, incoming, outgoing, missed, talk, last, etype, eid) -> None:
        self.calls += int(calls or 0)
        self.incoming += int(incoming or 0)
        self.outgoing += int(outgoing or 0)
        self.missed += int(missed or 0)
        self.talk_seconds += int(talk or 0)
        if last is not None and (self.last_call is None or last > self.last_call):
            self.last_call = last
        if etype and eid and last is not None and (self.entity_at is None or last > self.entity_at):
            self.entity_type, self.entity_id, self.entity_at = etype, int(eid), last


def clients(q: cube.Query, settings: Settings, tz: timezone) -> list[Client]:
    """Every client number's calls in the period and the query's filters (the scope's managers among them).

    Read from calls in one query: the aggregates are per manager × line × … and a client dimension there
    would multiply their rows by the number of clients (a row per client and day), which is what the
    calls table already is; its (portal, start) index serves the period. A scenario filter needs each call's
    local time against the schedule, so with one the same query returns calls and Python groups them.
    """
    if cube._nothing(q):
        return []
    from ..topics.models import CallTopic

    start, _ = day_bounds(q.first, tz)
    _, end = day_bounds(q.last, tz)
    types = set(INCOMING_TYPES | OUTGOING_TYPES)
    if q.directions is not None:
        types = (set(INCOMING_TYPES) if "incoming" in q.directions else set()) | (
            set(OUTGOING_TYPES) if "outgoing" in q.directions else set())
    incoming = Call.call_type.in_(sorted(INCOMING_TYPES))
    outgoing = Call.call_type.in_(sorted(OUTGOING_TYPES))
    connected = Call.failed_code == ANSWERED_CODE
    talk = case((connected, func.coalesce(Call.conversation, Call.duration, 0)), else_=0)
    cond = [Call.portal_id == q.portal_id, Call.call_start_date >= start, Call.call_start_date < end,
            Call.phone_number != "", Call.call_type.in_(sorted(types))]
    if q.users is not None:
        cond.append(Call.portal_user_id.in_(sorted(q.users)))
    if q.lines is not None:
        cond.append(Call.portal_number.in_(sorted(q.lines)))

    def joined(stmt):
        if q.topics is None:
            return stmt.where(*cond)
        return stmt.join(CallTopic, and_(CallTopic.portal_id == Call.portal_id, CallTopic.call_id == Call.call_id)
                         ).where(*cond, CallTopic.topic_id.in_(sorted(q.topics)))

    out: dict[str, Client] = {}
    if q.scenarios is None:
        def n(c):
            return func.sum(case((c, 1), else_=0))

        stmt = joined(select(Call.phone_number, Call.crm_entity_type, Call.crm_entity_id, func.count(),
                             n(incoming), n(outgoing), n(and_(incoming, ~connected)), func.sum(talk),
                             func.max(Call.call_start_date))
                      ).group_by(Call.phone_number, Call.crm_entity_type, Call.crm_entity_id)
        for phone, etype, eid, *sums in db.session.execute(stmt):
            key = phone_key(phone)
            if key:
                out.setdefault(key, Client(key)).add(*sums, etype, eid)
        return list(out.values())
    from .cube import SCENARIO_NAMES

    stmt = joined(select(Call.phone_number, Call.crm_entity_type, Call.crm_entity_id, Call.call_type,
                         Call.failed_code, talk, Call.call_start_date))
    for phone, etype, eid, ctype, code, secs, at in db.session.execute(stmt):
        key = phone_key(phone)
        if not key or SCENARIO_NAMES.get(settings.scenario(at.astimezone(tz))) not in q.scenarios:
            continue
        inc = ctype in INCOMING_TYPES
        out.setdefault(key, Client(key)).add(1, inc, ctype in OUTGOING_TYPES, inc and code != ANSWERED_CODE,
                                             secs, at, etype, eid)
    return list(out.values())


def spelled(digits: str) -> str:
    """A client number as people write it: +7 916 123-45-67 for a Russian one, +digits otherwise."""
    if len(digits) == 11 and digits[0] == "7":
        d = digits
        return f"+7 {d[1:4]} {d[4:7]}-{d[7:9]}-{d[9:]}"
    return "+" + digits if len(digits) > 6 else digits


def crm_path(entity_type: str, entity_id: int | None) -> str | None:
    """The portal's own page of a CRM client (opened in its slider)."""
    if entity_type in CRM_LABELS and entity_id:
        return f"/crm/{entity_type.lower()}/details/{entity_id}/"
    return None


def client_table(found: list[Client], link: Callable[[str], str], sort: str, page: int = 1,
                 per_page: int | None = CLIENTS_PER_PAGE) -> Table:
    """The clients in `sort` order (talk time first by default), `per_page` a page (None: all of them, for
    «Выгрузить в Excel»); totals over all."""
    rows = []
    for c in found:
        values = {"client": c.phone, "calls": c.calls, "incoming": c.incoming, "outgoing": c.outgoing,
                  "missed": c.missed, "talk_minutes": c.talk_seconds / 60, "last_call": c.last_call}
        entity = CRM_LABELS.get(c.entity_type)
        rows.append(Row(c.phone, values, link(c.phone), info={
            "phone": c.phone, "spelled": spelled(c.phone), "talk_seconds": c.talk_seconds,
            "crm_entity_type": c.entity_type or None, "crm_entity_id": c.entity_id,
            "crm_path": crm_path(c.entity_type, c.entity_id),
            "crm_label": f"{entity} #{c.entity_id}" if entity and c.entity_id else None}))
    total = Row("total", {"client": str(_l("Итого")), "calls": sum(c.calls for c in found),
                          "incoming": sum(c.incoming for c in found), "outgoing": sum(c.outgoing for c in found),
                          "missed": sum(c.missed for c in found),
                          "talk_minutes": sum(c.talk_seconds for c in found) / 60,
                          "last_call": max((c.last_call for c in found if c.last_call), default=None)},
                ranked=False, info={"talk_seconds": sum(c.talk_seconds for c in found)})
    ordered, applied = order(rows, sort, CLIENT_COLUMNS, "-talk_minutes")
    shown = ordered if per_page is None else ordered[(page - 1) * per_page:page * per_page]
    return Table(CLIENT_COLUMNS, shown, total, applied, marks(shown, CLIENT_COLUMNS), len(rows))


# --- by day, by hour ---------------------------------------------------------------------------------

DAY_SERIES = (("incoming", _l("Входящие")), ("accepted", _l("Принятые")), ("missed", _l("Пропущенные")),
              ("outgoing", _l("Исходящие")))


def day_series(first: date, last: date, by_day: dict[tuple, Figures]) -> list[dict]:
    """Every day of the period (days without calls as zeros, so the chart's axis is the calendar)."""
    out, day = [], first
    while day <= last:
        f = by_day.get((day,)) or Figures()
        out.append({"day": day, "incoming": f.incoming, "accepted": f.accepted, "missed": f.missed,
                    "outgoing": f.outgoing})
        day += timedelta(days=1)
    return out


HEAT_KEYS = ("calls", "incoming", "accepted", "outgoing", "talk_seconds")


def heat(cells: dict[tuple[int, int], dict]) -> tuple[list[list[dict]], int]:
    """7 weekdays × 24 hours of `cube.by_hour` cells (empty ones as zeros), each with its shade 0..1
    against the busiest cell; and that cell's call count."""
    top = max((c["calls"] for c in cells.values()), default=0)
    grid = []
    for wd in range(7):
        row = []
        for hour in range(24):
            c = cells.get((wd, hour)) or dict.fromkeys(HEAT_KEYS, 0)
            row.append({"weekday": wd, "hour": hour, **c, "shade": round(c["calls"] / top, 3) if top else 0.0})
        grid.append(row)
    return grid, top


def busiest(cells: dict[tuple[int, int], dict], n: int = 3) -> dict:
    """The busiest weekday-hours, the busiest hour of the day and the busiest weekday, by calls."""
    ranked = sorted(((c["calls"], -wd, -h) for (wd, h), c in cells.items() if c["calls"]), reverse=True)
    by_hour: dict[int, int] = {}
    by_day: dict[int, int] = {}
    for (wd, h), c in cells.items():
        by_hour[h] = by_hour.get(h, 0) + c["calls"]
        by_day[wd] = by_day.get(wd, 0) + c["calls"]
    hour = max(by_hour.items(), key=lambda kv: (kv[1], -kv[0]), default=None)
    day = max(by_day.items(), key=lambda kv: (kv[1], -kv[0]), default=None)
    return {"cells": [{"weekday": -wd, "hour": -h, "calls": calls} for calls, wd, h in ranked[:n]],
            "hour": {"hour": hour[0], "calls": hour[1]} if hour and hour[1] else None,
            "weekday": {"weekday": day[0], "calls": day[1]} if day and day[1] else None}
