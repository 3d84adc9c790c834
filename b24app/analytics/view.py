"""The state of an analytics page (period, filters, sort, unit, page, grouping), parsed once from the URL and
written back to it, so a view can be bookmarked and shared. Malformed input is a ViewError (400), never a 500."""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from flask_babel import lazy_gettext as _
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from ..extensions import db
from ..messages import message, register
from ..portals.models import PortalDepartment, PortalUser
from ..topics.models import Topic
from .periods import DEFAULT_KEY, LocalPeriod, PeriodError, resolve

DIRECTIONS = ("incoming", "outgoing")
SCENARIOS = ("work", "after_hours", "weekend", "holiday")
UNITS = ("min", "h")
MAX_VALUES = 200        # per filter: a picker offers fewer; more is a crafted URL
MAX_RAW = 4000          # characters in one URL value (200 ids with commas fit)
MAX_LINE = 128          # Call.portal_number's width
MAX_ID = 2_147_483_647  # the INTEGER columns' range: a larger id would fail in PostgreSQL, not just miss
MAX_PAGE = 1_000_000
SINGLE = ("period", "from", "to", "sort", "unit", "page", "group")
_SORT = re.compile(r"-?[a-z][a-z0-9_]{0,39}")
_GROUP = re.compile(r"[a-z][a-z0-9_.:]{0,63}")
_DIGITS = re.compile(r"[0-9]{1,10}")

register({
    "analytics.unknown_period": _("Такого периода нет. Выберите период из списка."),
    "analytics.bad_date": _("Дата периода указана неверно: используйте формат ДД.ММ.ГГГГ, например 01.12.2026."),
    "analytics.dates_backwards": _("Начало периода позже его конца. Поменяйте даты местами."),
    "analytics.range_too_long": _("Период не может быть длиннее двух лет (731 день). Выберите период короче."),
    "analytics.range_in_future": _("Период не может заканчиваться позже завтрашнего дня."),
    "analytics.value_too_long": _("Адрес страницы слишком длинный. Сбросьте фильтры и выберите их заново."),
    "analytics.too_many_values": _("В фильтре больше 200 значений. Сократите список."),
    "analytics.repeated_param": _("В адресе страницы параметр отчёта указан несколько раз. Откройте отчёт заново из меню."),
    "analytics.bad_user": _("Сотрудник в фильтре указан неверно. Выберите сотрудника из списка."),
    "analytics.unknown_user": _("Такого сотрудника нет на портале. Выберите сотрудника из списка."),
    "analytics.bad_department": _("Отдел в фильтре указан неверно. Выберите отдел из списка."),
    "analytics.unknown_department": _("Такого отдела нет на портале. Выберите отдел из списка."),
    "analytics.bad_line": _("Линия в фильтре указана неверно. Выберите линию из списка."),
    "analytics.bad_direction": _("Направление звонков — входящие или исходящие."),
    "analytics.bad_topic": _("Тема в фильтре указана неверно. Выберите тему из списка."),
    "analytics.unknown_topic": _("Такой темы нет на портале. Выберите тему из списка."),
    "analytics.bad_scenario": _("Время звонка выбирается из списка: рабочее время, нерабочее время, выходные, праздники."),
    "analytics.bad_sort": _("Сортировка указана неверно. Нажмите на заголовок столбца, чтобы отсортировать."),
    "analytics.bad_unit": _("Время показывается в минутах или в часах."),
    "analytics.bad_page": _("Номер страницы указан неверно."),
    "analytics.bad_group": _("Группировка указана неверно. Выберите её из списка."),
})


class ViewError(ValueError):
    """Input a page refuses: `status` 400 for a malformed or unknown value, 403 for one outside the viewer's
    access; `text` is the message in the request's language."""

    def __init__(self, message_key: str, status: int = 400):
        self.message_key, self.status = message_key, status
        super().__init__(message_key)

    @property
    def text(self) -> str:
        return message(self.message_key)


@dataclass(frozen=True)
class ViewState:
    """Filters are sorted tuples without repeats; empty means "no filter"."""

    period: LocalPeriod
    users: tuple[int, ...] = ()
    departments: tuple[int, ...] = ()
    lines: tuple[str, ...] = ()
    directions: tuple[str, ...] = ()
    topics: tuple[int, ...] = ()
    scenarios: tuple[str, ...] = ()
    sort: str = ""
    unit: str = "min"
    page: int = 1
    group: str = ""

    @classmethod
    def default(cls, today: date) -> ViewState:
        return cls(period=resolve(DEFAULT_KEY, today))

    def replace(self, **changes) -> ViewState:
        return dataclasses.replace(self, **changes)

    @property
    def filtered(self) -> bool:
        return bool(self.users or self.departments or self.lines or self.directions or self.topics
                    or self.scenarios)

    def to_args(self) -> dict:
        """URL arguments with only the values that differ from the defaults; lists become repeated keys
        (`url_for(endpoint, **state.to_args())`, or `MultiDict(state.to_args())`)."""
        out: dict = {}
        if self.period.key == "custom":
            out.update({"period": "custom", "from": self.period.first.isoformat(),
                        "to": self.period.last.isoformat()})
        elif self.period.key != DEFAULT_KEY:
            out["period"] = self.period.key
        for key, values in (("user", self.users), ("dept", self.departments), ("line", self.lines),
                            ("dir", self.directions), ("topic", self.topics), ("scenario", self.scenarios)):
            if values:
                out[key] = [str(v) for v in values]
        if self.sort:
            out["sort"] = self.sort
        if self.unit != "min":
            out["unit"] = self.unit
        if self.page != 1:
            out["page"] = str(self.page)
        if self.group:
            out["group"] = self.group
        return out


def parse(args, *, portal_id: int, today: date) -> ViewState:
    """The page state from `request.args` (repeated keys and comma lists both accepted); ids are checked
    against this portal's rows. Unknown URL keys (the frame token, the portal's own) are ignored."""
    if not isinstance(args, MultiDict):
        args = MultiDict(args)
    single = {key: _single(args, key) for key in SINGLE}
    key = single["period"]
    if not key and (single["from"] or single["to"]):
        key = "custom"
    try:
        period = resolve(key, today, single["from"], single["to"])
    except PeriodError as e:
        raise ViewError(e.message_key) from None
    users = _ids(_values(args, "user"), "analytics.bad_user")
    departments = _ids(_values(args, "dept"), "analytics.bad_department")
    topics = _ids(_values(args, "topic"), "analytics.bad_topic")
    lines = tuple(sorted({_line(v) for v in _values(args, "line")}))
    directions = _choices(_values(args, "dir"), DIRECTIONS, "analytics.bad_direction")
    scenarios = _choices(_values(args, "scenario"), SCENARIOS, "analytics.bad_scenario")
    sort = single["sort"]
    if sort and not _SORT.fullmatch(sort):
        raise ViewError("analytics.bad_sort")
    unit = single["unit"] or "min"
    if unit not in UNITS:
        raise ViewError("analytics.bad_unit")
    page = _page(single["page"])
    group = single["group"]
    if group and not _GROUP.fullmatch(group):
        raise ViewError("analytics.bad_group")
    # The database last: a malformed URL is refused without a query.
    _known(portal_id, PortalUser.user_id, PortalUser.portal_id, users, "analytics.unknown_user")
    _known(portal_id, PortalDepartment.department_id, PortalDepartment.portal_id, departments,
           "analytics.unknown_department")
    _known(portal_id, Topic.id, Topic.portal_id, topics, "analytics.unknown_topic")
    return ViewState(period=period, users=users, departments=departments, lines=lines, directions=directions,
                     topics=topics, scenarios=scenarios, sort=sort, unit=unit, page=page, group=group)


def _raw(value) -> str:
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_RAW:
        raise ViewError("analytics.value_too_long")
    return text


def _single(args: MultiDict, key: str) -> str:
    values = [_raw(v).strip() for v in args.getlist(key)]
    values = [v for v in values if v]
    if len(values) > 1:
        raise ViewError("analytics.repeated_param")
    return values[0] if values else ""


def _values(args: MultiDict, key: str) -> list[str]:
    raw = args.getlist(key)
    if len(raw) > MAX_VALUES:
        raise ViewError("analytics.too_many_values")
    out = [piece.strip() for value in raw for piece in _raw(value).split(",")]
    out = [v for v in out if v]
    if len(out) > MAX_VALUES:
        raise ViewError("analytics.too_many_values")
    return out


def _ids(values: Iterable[str], error: str) -> tuple[int, ...]:
    ids = set()
    for v in values:
        if not _DIGITS.fullmatch(v) or not 0 < int(v) <= MAX_ID:
            raise ViewError(error)
        ids.add(int(v))
    return tuple(sorted(ids))


def _line(value: str) -> str:
    # Control characters (NUL among them) cannot be stored by PostgreSQL, so no line has them.
    if len(value) > MAX_LINE or any(unicodedata.category(c) in ("Cc", "Cs") for c in value):
        raise ViewError("analytics.bad_line")
    return value


def _choices(values: Iterable[str], allowed: tuple[str, ...], error: str) -> tuple[str, ...]:
    chosen = set(values)
    if chosen - set(allowed):
        raise ViewError(error)
    return tuple(v for v in allowed if v in chosen)


def _page(raw: str) -> int:
    if not raw:
        return 1
    if not _DIGITS.fullmatch(raw) or not 1 <= int(raw) <= MAX_PAGE:
        raise ViewError("analytics.bad_page")
    return int(raw)


def _known(portal_id: int, column, portal_column, ids: tuple[int, ...], error: str) -> None:
    if not ids:
        return
    found = set(db.session.scalars(select(column).where(portal_column == portal_id, column.in_(ids))))
    if set(ids) - found:
        raise ViewError(error)
