"""Report periods in portal-local days: every named choice, custom ranges and their refusals, the comparison
period (whole calendar units against the previous unit), the UTC moments and the labels."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from b24app.analytics import metrics
from b24app.analytics.periods import LocalPeriod, PeriodError, add_months, label_for, resolve

MSK = timezone(timedelta(hours=3))
D = date


def _span(p: LocalPeriod) -> tuple[date, date]:
    return p.first, p.last


@pytest.mark.parametrize("key, today, first, last", [
    ("today", D(2026, 12, 7), D(2026, 12, 7), D(2026, 12, 7)),
    ("yesterday", D(2026, 12, 1), D(2026, 11, 30), D(2026, 11, 30)),      # across a month end
    ("yesterday", D(2027, 1, 1), D(2026, 12, 31), D(2026, 12, 31)),
    ("week", D(2026, 12, 2), D(2026, 11, 30), D(2026, 12, 2)),            # Wednesday; Monday is in November
    ("week", D(2026, 11, 30), D(2026, 11, 30), D(2026, 11, 30)),          # on Monday: that day only
    ("week", D(2026, 12, 6), D(2026, 11, 30), D(2026, 12, 6)),            # on Sunday: the whole week
    ("last_week", D(2026, 12, 2), D(2026, 11, 23), D(2026, 11, 29)),
    ("last_week", D(2026, 11, 30), D(2026, 11, 23), D(2026, 11, 29)),
    ("month", D(2026, 12, 7), D(2026, 12, 1), D(2026, 12, 7)),
    ("last_month", D(2026, 12, 7), D(2026, 11, 1), D(2026, 11, 30)),
    ("last_month", D(2027, 1, 15), D(2026, 12, 1), D(2026, 12, 31)),      # across a year end
    ("quarter", D(2026, 11, 20), D(2026, 10, 1), D(2026, 11, 20)),
    ("quarter", D(2026, 3, 31), D(2026, 1, 1), D(2026, 3, 31)),
    ("quarter", D(2026, 4, 1), D(2026, 4, 1), D(2026, 4, 1)),
    ("year", D(2026, 12, 7), D(2026, 1, 1), D(2026, 12, 7)),
    ("3m", D(2026, 5, 31), D(2026, 3, 1), D(2026, 5, 31)),                # 31 Feb does not exist: 28 Feb + 1
    ("3m", D(2024, 5, 31), D(2024, 3, 1), D(2024, 5, 31)),                # leap year: 29 Feb + 1
    ("3m", D(2026, 5, 15), D(2026, 2, 16), D(2026, 5, 15)),
    ("3m", D(2026, 2, 10), D(2025, 11, 11), D(2026, 2, 10)),              # across a year end
    ("30d", D(2026, 12, 5), D(2026, 11, 6), D(2026, 12, 5)),              # across a month end
])
def test_named_periods(key, today, first, last):
    p = resolve(key, today, None, None)
    assert (p.key, p.first, p.last) == (key, first, last)
    assert p.days == (last - first).days + 1


def test_thirty_days_is_the_default():
    today = D(2026, 12, 7)
    for key in (None, "", "  "):
        p = resolve(key, today, None, None)
        assert (p.key, p.days, p.last) == ("30d", 30, today)


def test_three_months_pinned_lengths():
    assert resolve("3m", D(2026, 5, 31), None, None).days == 92
    assert add_months(D(2026, 5, 31), -3) == D(2026, 2, 28)
    assert add_months(D(2024, 5, 31), -3) == D(2024, 2, 29)
    assert add_months(D(2026, 1, 31), 1) == D(2026, 2, 28)
    assert add_months(D(2026, 11, 30), 2) == D(2027, 1, 30)


@pytest.mark.parametrize("date_from, date_to, first, last", [
    ("2026-11-01", "2026-11-30", D(2026, 11, 1), D(2026, 11, 30)),
    ("01.11.2026", "30.11.2026", D(2026, 11, 1), D(2026, 11, 30)),        # DD.MM.YYYY, typed by hand
    ("1.11.2026", "2026-11-30", D(2026, 11, 1), D(2026, 11, 30)),
    (" 2026-11-28 ", " 04.12.2026 ", D(2026, 11, 28), D(2026, 12, 4)),    # across a month end
    ("2026-12-07", "2026-12-07", D(2026, 12, 7), D(2026, 12, 7)),
    ("2026-12-01", None, D(2026, 12, 1), D(2026, 12, 7)),                 # no end: up to today
    ("2026-12-01", "2026-12-08", D(2026, 12, 1), D(2026, 12, 8)),         # tomorrow is allowed
    ("2024-01-01", "2025-12-31", D(2024, 1, 1), D(2025, 12, 31)),         # exactly 731 days
])
def test_custom_ranges(date_from, date_to, first, last):
    p = resolve("custom", D(2026, 12, 7), date_from, date_to)
    assert _span(p) == (first, last) and p.key == "custom"


def test_the_longest_range_is_731_days():
    assert resolve("custom", D(2026, 12, 7), "2024-01-01", "2025-12-31").days == 731
    with pytest.raises(PeriodError) as e:
        resolve("custom", D(2026, 12, 7), "2023-12-31", "2025-12-31")     # 732 days
    assert e.value.message_key == "analytics.range_too_long"


@pytest.mark.parametrize("key, date_from, date_to, error", [
    ("month2", None, None, "analytics.unknown_period"),
    ("Today", None, None, "analytics.unknown_period"),
    ("7", None, None, "analytics.unknown_period"),
    ("custom", None, None, "analytics.bad_date"),
    ("custom", "", "2026-12-01", "analytics.bad_date"),
    ("custom", "2026-02-31", "2026-03-01", "analytics.bad_date"),
    ("custom", "31.02.2026", "01.03.2026", "analytics.bad_date"),
    ("custom", "2026-13-01", "2026-12-01", "analytics.bad_date"),
    ("custom", "2026/11/01", "2026-12-01", "analytics.bad_date"),
    ("custom", "11.01.26", "2026-12-01", "analytics.bad_date"),
    ("custom", "٢٠٢٦-١١-٠١", "2026-12-01", "analytics.bad_date"),        # non-ASCII digits
    ("custom", "0001-01-01", "0001-01-02", "analytics.bad_date"),        # before any telephony
    ("custom", "2026-11-01T00:00", "2026-12-01", "analytics.bad_date"),
    ("custom", "x" * 10_000, "2026-12-01", "analytics.bad_date"),
    ("custom", "2026-12-05", "2026-12-01", "analytics.dates_backwards"),
    ("custom", "05.12.2026", "01.12.2026", "analytics.dates_backwards"),
    ("custom", "2016-12-01", "2026-12-01", "analytics.range_too_long"),  # ten years
    ("custom", "2026-12-01", "2026-12-09", "analytics.range_in_future"),  # two days ahead
    ("custom", "2030-01-01", "2030-01-31", "analytics.range_in_future"),
])
def test_refusals(key, date_from, date_to, error):
    with pytest.raises(PeriodError) as e:
        resolve(key, D(2026, 12, 7), date_from, date_to)
    assert e.value.message_key == error


@pytest.mark.parametrize("period, previous", [
    # rolling choices: the same number of days just before
    (LocalPeriod("30d", D(2026, 11, 6), D(2026, 12, 5)), (D(2026, 10, 7), D(2026, 11, 5))),
    (LocalPeriod("today", D(2026, 12, 1), D(2026, 12, 1)), (D(2026, 11, 30), D(2026, 11, 30))),
    (LocalPeriod("week", D(2026, 11, 30), D(2026, 12, 2)), (D(2026, 11, 27), D(2026, 11, 29))),
    (LocalPeriod("last_week", D(2026, 11, 23), D(2026, 11, 29)), (D(2026, 11, 16), D(2026, 11, 22))),
    (LocalPeriod("3m", D(2026, 3, 1), D(2026, 5, 31)), (D(2025, 11, 29), D(2026, 2, 28))),  # 92 days
    (LocalPeriod("30d", D(2026, 11, 1), D(2026, 11, 30)), (D(2026, 10, 2), D(2026, 10, 31))),  # rolling stays
    # a month so far: the same number of days before it
    (LocalPeriod("month", D(2026, 12, 1), D(2026, 12, 7)), (D(2026, 11, 24), D(2026, 11, 30))),
    (LocalPeriod("quarter", D(2026, 10, 1), D(2026, 11, 20)), (D(2026, 8, 11), D(2026, 9, 30))),
    # whole calendar units: the previous whole unit
    (LocalPeriod("last_month", D(2026, 11, 1), D(2026, 11, 30)), (D(2026, 10, 1), D(2026, 10, 31))),
    (LocalPeriod("last_month", D(2026, 3, 1), D(2026, 3, 31)), (D(2026, 2, 1), D(2026, 2, 28))),
    (LocalPeriod("last_month", D(2024, 3, 1), D(2024, 3, 31)), (D(2024, 2, 1), D(2024, 2, 29))),
    (LocalPeriod("last_month", D(2027, 1, 1), D(2027, 1, 31)), (D(2026, 12, 1), D(2026, 12, 31))),
    (LocalPeriod("month", D(2026, 11, 1), D(2026, 11, 30)), (D(2026, 10, 1), D(2026, 10, 31))),
    (LocalPeriod("quarter", D(2026, 4, 1), D(2026, 6, 30)), (D(2026, 1, 1), D(2026, 3, 31))),
    (LocalPeriod("year", D(2025, 1, 1), D(2025, 12, 31)), (D(2024, 1, 1), D(2024, 12, 31))),
    (LocalPeriod("custom", D(2026, 2, 1), D(2026, 2, 28)), (D(2026, 1, 1), D(2026, 1, 31))),
    (LocalPeriod("custom", D(2026, 2, 1), D(2026, 3, 31)), (D(2025, 12, 4), D(2026, 1, 31))),  # two months: 59 days
])
def test_previous_period(period, previous):
    before = period.previous()
    assert _span(before) == previous
    assert before.key == period.key


def test_previous_of_last_month_for_march():
    p = resolve("last_month", D(2026, 4, 10), None, None)
    assert _span(p) == (D(2026, 3, 1), D(2026, 3, 31))
    assert _span(p.previous()) == (D(2026, 2, 1), D(2026, 2, 28))
    leap = resolve("last_month", D(2028, 4, 10), None, None)
    assert _span(leap.previous()) == (D(2028, 2, 1), D(2028, 2, 29))


def test_moments_are_local_midnights_in_utc():
    p = LocalPeriod("custom", D(2026, 11, 30), D(2026, 12, 1))    # across a month end
    m = p.moments(MSK)
    assert isinstance(m, metrics.Period)
    assert m.start == datetime(2026, 11, 29, 21, 0, tzinfo=UTC)
    assert m.end == datetime(2026, 12, 1, 21, 0, tzinfo=UTC)
    assert m.start.utcoffset() == timedelta(0)
    # A call at 23:30 Moscow time on 1 December is in; at 00:10 on 2 December it is not.
    assert m.start <= datetime(2026, 12, 1, 23, 30, tzinfo=MSK) < m.end
    assert not datetime(2026, 12, 2, 0, 10, tzinfo=MSK) < m.end
    assert LocalPeriod("today", D(2026, 12, 7), D(2026, 12, 7)).moments(None) == metrics.Period(
        datetime(2026, 12, 7, tzinfo=UTC), datetime(2026, 12, 8, tzinfo=UTC))


def test_moments_follow_daylight_saving_time():
    # The night Berlin moves its clocks forward has 23 hours: the local midnights, not 24-hour steps.
    m = LocalPeriod("today", D(2026, 3, 29), D(2026, 3, 29)).moments(ZoneInfo("Europe/Berlin"))
    assert m.start == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    assert m.end == datetime(2026, 3, 29, 22, 0, tzinfo=UTC)


@pytest.mark.parametrize("first, last, ru, en", [
    (D(2026, 12, 7), D(2026, 12, 7), "7 дек 2026", "7 Dec 2026"),
    (D(2026, 12, 1), D(2026, 12, 7), "1–7 дек 2026", "1–7 Dec 2026"),
    (D(2026, 5, 1), D(2026, 5, 9), "1–9 мая 2026", "1–9 May 2026"),
    (D(2026, 11, 28), D(2026, 12, 4), "28 ноя – 4 дек 2026", "28 Nov – 4 Dec 2026"),
    (D(2026, 12, 28), D(2027, 1, 3), "28 дек 2026 – 3 янв 2027", "28 Dec 2026 – 3 Jan 2027"),
    (D(2026, 11, 1), D(2026, 11, 30), "ноябрь 2026", "November 2026"),
    (D(2026, 10, 1), D(2026, 12, 31), "4 квартал 2026", "Q4 2026"),
    (D(2026, 1, 1), D(2026, 12, 31), "2026", "2026"),
    (D(2026, 11, 1), D(2026, 12, 31), "1 ноя – 31 дек 2026", "1 Nov – 31 Dec 2026"),
])
def test_labels(first, last, ru, en):
    assert label_for(first, last) == ru
    assert label_for(first, last, "en") == en
    p = LocalPeriod("custom", first, last)
    assert p.label_in("en") == en
    assert p.label == ru  # outside a request: Russian


def test_label_follows_the_request_language():
    from flask import g

    from b24app import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "TESTING": True})
    p = LocalPeriod("last_month", D(2026, 11, 1), D(2026, 11, 30))
    with app.test_request_context("/?LANG=en"):
        assert p.label == "November 2026"
    with app.test_request_context("/"):
        g.locale = "ru"
        assert p.label == "ноябрь 2026"
