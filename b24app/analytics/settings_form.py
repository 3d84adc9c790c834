"""The «Аналитика» settings form as plain functions: the form's fields from stored settings, and the
admin's input checked field by field into values to store (every problem named, nothing half-parsed)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from flask_babel import lazy_gettext as _

from ..messages import message, register
from .settings import Settings

SUCCESS_MAX = 3600
WINDOW_MIN, WINDOW_MAX = 1, 168
SL_MIN, SL_MAX = 1, 600
PLAN_MAX = 1_000_000
TARGET_MAX = 10_000
DATES_MAX = 400          # extra holidays or working days in one list: years of them, not a paste accident
DATES_RANGE_DAYS = 731   # a date at most two years from today (either way)
DAY_MINUTES = 24 * 60
PLAN_KEYS = ("month", "week")

register({
    "analytics_settings.saved": _("Настройки аналитики сохранены."),
    "analytics_settings.saved_recount": _("Настройки аналитики сохранены. Показатели пересчитываются по новым правилам — "
                                          "это займёт до нескольких минут, страницы аналитики обновятся сами."),
    "analytics_settings.invalid": _("Настройки аналитики не сохранены: исправьте ошибки."),
    "analytics_settings.stale": _("Пока форма была открыта, настройки аналитики изменил другой администратор. "
                                  "Ваши значения остались в форме: проверьте их и сохраните ещё раз."),
    "analytics_settings.bad_version": _("Форма настроек аналитики повреждена. Обновите страницу."),
    "analytics_settings.bad_success": _("Порог успешного звонка — целое число секунд от 0 до 3600."),
    "analytics_settings.bad_window": _("Окно перезвона — целое число часов от 1 до 168."),
    "analytics_settings.bad_sl": _("Порог уровня обслуживания — целое число секунд от 1 до 600."),
    "analytics_settings.bad_time": _("{day}: время указывается как ЧЧ:ММ, от 00:00 до 24:00."),
    "analytics_settings.bad_hours": _("{day}: начало рабочего дня должно быть раньше его конца."),
    "analytics_settings.bad_date": _("{field}: «{value}» — не дата. Пишите ДД.ММ.ГГГГ, по одной дате в строке."),
    "analytics_settings.far_date": _("{field}: {value} — дальше двух лет от сегодняшнего дня."),
    "analytics_settings.many_dates": _("{field}: не больше 400 дат."),
    "analytics_settings.both_dates": _("{value} указана и в праздниках, и в рабочих днях — оставьте в одном списке."),
    "analytics_settings.bad_plan_month": _("План сделок на месяц — целое число от 0 до 1 000 000 (пусто — без плана)."),
    "analytics_settings.bad_plan_week": _("План сделок на неделю — целое число от 0 до 1 000 000 (пусто — без плана)."),
    "analytics_settings.bad_target": _("Цель по пропущенным — целое число от 0 до 10 000 звонков "
                                       "на менеджера в неделю (пусто — без цели)."),
    "analytics_settings.bad_flag": _("Производственный календарь: включён или выключен."),
})

WEEKDAYS = (_("Понедельник"), _("Вторник"), _("Среда"), _("Четверг"), _("Пятница"), _("Суббота"),
            _("Воскресенье"))
DATE_FIELDS = {"holidays": _("Дополнительные праздники"), "workdays": _("Дополнительные рабочие дни")}

_INT = re.compile(r"^\d{1,9}$")
_TIME = re.compile(r"^(\d{1,2})(?::(\d{2}))?$")
_RU_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_SEPARATORS = re.compile(r"[\s,;]+")


@dataclass(frozen=True)
class Values:
    """What the section stores, in the shapes of `models.AnalyticsSettings`."""

    success_seconds: int
    callback_hours: int
    service_level_seconds: int
    schedule: dict           # {"0": [start, end] | None, … "6": …}
    russian_holidays: bool
    holidays: list           # ISO dates, sorted
    workdays: list
    plan: dict               # {"month": N, "week": N}, a key only when set
    missed_target: int | None


class SettingsInvalid(Exception):
    """Every problem of the input at once: (message key, its parameters)."""

    def __init__(self, problems: list[tuple[str, dict]]):
        self.problems = problems
        super().__init__(", ".join(k for k, _ in problems))

    def texts(self) -> list[str]:
        return [text(key, params) for key, params in self.problems]


def text(key: str, params: dict | None = None) -> str:
    out = message(key)
    return out.format(**{k: str(v) for k, v in params.items()}) if params else out


# --- stored settings → the form ----------------------------------------------------------------------

def clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def show_date(day: date) -> str:
    return day.strftime("%d.%m.%Y")


def fields(s: Settings) -> dict[str, str]:
    """The form's fields (name → value as typed) for stored settings; checkboxes present when on."""
    out = {
        "success_seconds": str(s.metrics.success_seconds), "callback_hours": str(s.metrics.callback_hours),
        "service_level_seconds": str(s.metrics.service_level_seconds),
        "holidays": "\n".join(show_date(d) for d in sorted(s.holidays)),
        "workdays": "\n".join(show_date(d) for d in sorted(s.workdays)),
        "plan_month": _opt(s.plan.get("month")), "plan_week": _opt(s.plan.get("week")),
        "missed_target": _opt(s.missed_target), "version": str(s.version),
    }
    if s.russian_holidays:
        out["russian_holidays"] = "1"
    usual = next((h for h in s.schedule.values() if h), (9 * 60, 18 * 60))
    for d in range(7):
        hours = s.schedule.get(d)
        if hours:
            out[f"day{d}_work"] = "1"
        start, end = hours or usual
        out[f"day{d}_from"], out[f"day{d}_to"] = clock(start), clock(end)
    return out


def _opt(v) -> str:
    return "" if v is None else str(v)


def runs(days) -> list[tuple[date, date]]:
    """Consecutive days as (first, last) runs: «01.01–09.01» reads better than nine dates."""
    out: list[list[date]] = []
    for d in sorted(days):
        if out and (d - out[-1][1]).days == 1:
            out[-1][1] = d
        else:
            out.append([d, d])
    return [(a, b) for a, b in out]


# --- the form → values to store ----------------------------------------------------------------------

def parse(form, today: date) -> Values:
    """The admin's input as values to store, or SettingsInvalid naming every problem."""
    problems: list[tuple[str, dict]] = []

    def number(name: str, low: int, high: int, key: str, optional: bool = False) -> int | None:
        raw = _digits(form.get(name))
        if raw == "" and optional:
            return None
        if not _INT.match(raw) or not low <= int(raw) <= high:
            problems.append((key, {}))
            return None
        return int(raw)

    success = number("success_seconds", 0, SUCCESS_MAX, "analytics_settings.bad_success")
    window = number("callback_hours", WINDOW_MIN, WINDOW_MAX, "analytics_settings.bad_window")
    sl = number("service_level_seconds", SL_MIN, SL_MAX, "analytics_settings.bad_sl")

    schedule: dict[str, list[int] | None] = {}
    for d in range(7):
        if not _flag(form.get(f"day{d}_work"), problems):
            schedule[str(d)] = None
            continue
        start, end = _minutes(form.get(f"day{d}_from")), _minutes(form.get(f"day{d}_to"))
        if start is None or end is None:
            problems.append(("analytics_settings.bad_time", {"day": WEEKDAYS[d]}))
        elif start >= end:
            problems.append(("analytics_settings.bad_hours", {"day": WEEKDAYS[d]}))
        schedule[str(d)] = [start, end] if start is not None and end is not None else None

    russian = _flag(form.get("russian_holidays"), problems)
    lists = {name: _dates(form.get(name), label, today, problems) for name, label in DATE_FIELDS.items()}
    for both in sorted(set(lists["holidays"]) & set(lists["workdays"])):
        problems.append(("analytics_settings.both_dates", {"value": show_date(both)}))

    plan = {}
    for key in PLAN_KEYS:
        v = number(f"plan_{key}", 0, PLAN_MAX, f"analytics_settings.bad_plan_{key}", optional=True)
        if v is not None:
            plan[key] = v
    target = number("missed_target", 0, TARGET_MAX, "analytics_settings.bad_target", optional=True)

    if problems:
        raise SettingsInvalid(_unique(problems))
    return Values(success, window, sl, schedule, russian, [d.isoformat() for d in sorted(lists["holidays"])],
                  [d.isoformat() for d in sorted(lists["workdays"])], plan, target)


def version_of(form) -> int | None:
    """The settings' version the form was opened with; None when it is missing or not a number."""
    raw = (form.get("version") or "").strip()
    return int(raw) if _INT.match(raw) else None


def _digits(raw) -> str:
    # «1 000 000» as people write it in Russian: spaces (also non-breaking) between thousands.
    return re.sub(r"[ \u00a0\u202f]", "", raw) if isinstance(raw, str) else ""


def _flag(raw, problems: list) -> bool:
    if raw in (None, "", "0"):
        return False
    if raw in ("1", "on"):
        return True
    problems.append(("analytics_settings.bad_flag", {}))
    return False


def _minutes(raw) -> int | None:
    m = _TIME.match(raw.strip()) if isinstance(raw, str) else None
    if not m:
        return None
    hour, minute = int(m.group(1)), int(m.group(2) or 0)
    if minute > 59 or hour > 24 or (hour == 24 and minute):
        return None
    return hour * 60 + minute


def _dates(raw, label, today: date, problems: list) -> set[date]:
    words = [w for w in _SEPARATORS.split(raw if isinstance(raw, str) else "") if w]
    if len(words) > DATES_MAX:
        problems.append(("analytics_settings.many_dates", {"field": label}))
        return set()
    out: set[date] = set()
    for w in words:
        day = _date(w)
        if day is None:
            problems.append(("analytics_settings.bad_date", {"field": label, "value": w[:20]}))
        elif abs((day - today).days) > DATES_RANGE_DAYS:
            problems.append(("analytics_settings.far_date", {"field": label, "value": show_date(day)}))
        else:
            out.add(day)
    return out


def _date(word: str) -> date | None:
    m = _RU_DATE.match(word)
    parts = (m.group(3), m.group(2), m.group(1)) if m else None
    if parts is None:
        m = _ISO_DATE.match(word)
        parts = m.groups() if m else None
    if parts is None:
        return None
    try:
        return date(int(parts[0]), int(parts[1]), int(parts[2]))
    except ValueError:
        return None


def _unique(problems: list) -> list:
    seen, out = set(), []
    for key, params in problems:
        mark = (key, tuple(sorted((k, str(v)) for k, v in params.items())))
        if mark not in seen:
            seen.add(mark)
            out.append((key, params))
    return out
