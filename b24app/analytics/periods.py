"""Report periods in portal-local days: the named choices (today … year, any range), their comparison period,
the UTC moments they cover and their labels. Pure functions: the page turns a PeriodError into a message."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from .metrics import Period

DEFAULT_KEY = "30d"
KEYS = ("today", "yesterday", "week", "last_week", "month", "last_month", "quarter", "year", "3m", "30d",
        "custom")
MAX_DAYS = 731        # two years, one of them leap: a longer range is refused (the aggregates are kept per day)
FUTURE_DAYS = 1       # a range may end tomorrow: the viewer's "today" may be ahead of the portal's
EARLIEST = date(1970, 1, 1)  # no telephony before; keeps every date arithmetic below far from date.min

# Keys whose whole calendar unit (a month, a quarter, a year) is compared with the previous whole unit,
# so November is set against October (31 days), not against the 30 days before it. The rolling keys
# (today, 30d, 3m, weeks) always compare with the same number of days just before.
_CALENDAR_KEYS = frozenset({"month", "last_month", "quarter", "year", "custom"})

_ISO = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_RU = re.compile(r"([0-9]{1,2})\.([0-9]{1,2})\.([0-9]{4})")


class PeriodError(ValueError):
    """A period that cannot be shown; `message_key` names the text (registered in analytics.view)."""

    def __init__(self, message_key: str):
        self.message_key = message_key
        super().__init__(message_key)


@dataclass(frozen=True)
class LocalPeriod:
    """Portal-local days, both ends inclusive; `key` is the choice it came from (see KEYS)."""

    key: str
    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def previous(self) -> LocalPeriod:
        """The comparison period: the previous whole month/quarter/year when this period is one (for the
        calendar keys), otherwise the same number of days just before `first`. It keeps this period's key."""
        if self.key in _CALENDAR_KEYS:
            unit = _whole_unit(self.first, self.last)
            if unit:
                before = self.first - timedelta(days=1)
                start = {"year": date(before.year, 1, 1), "quarter": _quarter_start(before),
                         "month": before.replace(day=1)}[unit]
                return LocalPeriod(self.key, start, before)
        return LocalPeriod(self.key, self.first - timedelta(days=self.days), self.first - timedelta(days=1))

    def moments(self, tz: tzinfo | None) -> Period:
        """[local midnight of `first`, local midnight after `last`) as aware UTC moments."""
        tz = tz or UTC
        start = datetime.combine(self.first, time(), tzinfo=tz)
        end = datetime.combine(self.last + timedelta(days=1), time(), tzinfo=tz)
        return Period(start.astimezone(UTC), end.astimezone(UTC))

    def label_in(self, lang: str = "ru") -> str:
        return label_for(self.first, self.last, lang)

    @property
    def label(self) -> str:
        """The label in the request's language (Russian outside a request)."""
        return label_for(self.first, self.last, current_lang())


def resolve(key: str | None, today: date, date_from: str | None = None, date_to: str | None = None) -> LocalPeriod:
    """The period a page shows for a choice made on `today` (portal-local). Raises PeriodError."""
    key = (key or "").strip() or DEFAULT_KEY
    if key == "custom":
        first = parse_date(date_from)
        last = parse_date(date_to) if (date_to or "").strip() else today
        if last < first:
            raise PeriodError("analytics.dates_backwards")
    elif key in KEYS:
        first, last = _named(key, today)
    else:
        raise PeriodError("analytics.unknown_period")
    if (last - first).days + 1 > MAX_DAYS:
        raise PeriodError("analytics.range_too_long")
    if last > today + timedelta(days=FUTURE_DAYS):
        raise PeriodError("analytics.range_in_future")
    return LocalPeriod(key, first, last)


def parse_date(raw: str | None) -> date:
    """YYYY-MM-DD (a date input) or DD.MM.YYYY (typed by hand)."""
    text = (raw or "").strip()
    m = _ISO.fullmatch(text)
    if m:
        y, mo, d = (int(x) for x in m.groups())
    else:
        m = _RU.fullmatch(text)
        if not m:
            raise PeriodError("analytics.bad_date")
        d, mo, y = (int(x) for x in m.groups())
    try:
        value = date(y, mo, d)
    except ValueError:
        raise PeriodError("analytics.bad_date") from None
    if value < EARLIEST:
        raise PeriodError("analytics.bad_date")
    return value


def _named(key: str, today: date) -> tuple[date, date]:
    if key == "today":
        return today, today
    if key == "yesterday":
        day = today - timedelta(days=1)
        return day, day
    if key == "week":
        return today - timedelta(days=today.weekday()), today
    if key == "last_week":
        monday = today - timedelta(days=today.weekday() + 7)
        return monday, monday + timedelta(days=6)
    if key == "month":
        return today.replace(day=1), today
    if key == "last_month":
        last = today.replace(day=1) - timedelta(days=1)
        return last.replace(day=1), last
    if key == "quarter":
        return _quarter_start(today), today
    if key == "year":
        return date(today.year, 1, 1), today
    if key == "3m":
        return add_months(today, -3) + timedelta(days=1), today
    if key == "30d":
        return today - timedelta(days=29), today
    raise PeriodError("analytics.unknown_period")


def add_months(day: date, months: int) -> date:
    """The same day `months` later (or earlier), clamped to the month's end: 31 May − 3 months = 28/29 Feb."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, _month_days(year, month + 1)))


def _month_days(year: int, month: int) -> int:
    nxt = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return (nxt - timedelta(days=1)).day


def _quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def _month_end(day: date) -> date:
    return date(day.year, day.month, _month_days(day.year, day.month))


def _whole_unit(first: date, last: date) -> str | None:
    """"year", "quarter" or "month" when [first, last] is exactly one such calendar unit."""
    if first.day != 1 or last != _month_end(last):
        return None
    if first == date(first.year, 1, 1) and last == date(first.year, 12, 31):
        return "year"
    if first == _quarter_start(first) and last == _month_end(add_months(first, 2)):
        return "quarter"
    if last == _month_end(first):
        return "month"
    return None


# --- labels ---------------------------------------------------------------------------------------------

_SHORT = {
    "ru": ("янв", "фев", "мар", "апр", "мая", "июн", "июл", "авг", "сен", "окт", "ноя", "дек"),
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
}
_FULL = {
    "ru": ("январь", "февраль", "март", "апрель", "май", "июнь", "июль", "август", "сентябрь", "октябрь",
           "ноябрь", "декабрь"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
}
_QUARTER = {"ru": "{n} квартал {y}", "en": "Q{n} {y}"}


def label_for(first: date, last: date, lang: str = "ru") -> str:
    """«7 дек 2026», «1–7 дек 2026», «28 ноя – 4 дек 2026», «ноябрь 2026», «4 квартал 2026», «2026»."""
    lang = lang if lang in _SHORT else "ru"
    short = _SHORT[lang]
    unit = _whole_unit(first, last)
    if unit == "year":
        return str(first.year)
    if unit == "quarter":
        return _QUARTER[lang].format(n=(first.month - 1) // 3 + 1, y=first.year)
    if unit == "month":
        return f"{_FULL[lang][first.month - 1]} {first.year}"
    end = f"{last.day} {short[last.month - 1]} {last.year}"
    if first == last:
        return end
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}–{end}"
    if first.year == last.year:
        return f"{first.day} {short[first.month - 1]} – {end}"
    return f"{first.day} {short[first.month - 1]} {first.year} – {end}"


def current_lang() -> str:
    """The request's language through flask_babel, "ru" when there is no request or no Babel."""
    try:
        from flask import has_request_context
        from flask_babel import get_locale
    except ImportError:  # pragma: no cover - both are dependencies of the app
        return "ru"
    if not has_request_context():
        return "ru"
    locale = get_locale()
    return "en" if locale is not None and locale.language == "en" else "ru"
