"""When reports are due (a pure function, frozen clocks, a DST zone) and the schedule's tick on a real
installed sandbox portal: across a week and a month boundary in the portal's zone, over a DST change,
with the worker down over the hour, and for a portal that was uninstalled — one upload and one message
per report, never two."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select

from b24app.extensions import db
from b24app.portals.models import STATUS_UNINSTALLED, Portal
from b24app.reports import schedule
from b24app.reports.models import ReportRun

from .schedule_helpers import all_runs, chat_messages, configure, report_files, set_tz

MSK = timezone(timedelta(hours=3))
BERLIN = ZoneInfo("Europe/Berlin")


@dataclass
class S:
    weekly: bool = True
    monthly: bool = False
    hour: int = 9


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def every(start: datetime, end: datetime, step: timedelta):
    t = start
    while t <= end:
        yield t
        t += step


# --- the pure function -----------------------------------------------------------------------------

def test_weekly_is_due_from_monday_at_the_hour_in_the_portal_zone_for_the_previous_week():
    assert schedule.due_reports(S(), MSK, utc(2026, 11, 30, 5, 59)) == []           # 08:59 in Moscow
    due = [("weekly", date(2026, 11, 23), date(2026, 11, 29), "weekly:2026-11-23")]
    assert schedule.due_reports(S(), MSK, utc(2026, 11, 30, 6, 0)) == due            # 09:00 in Moscow
    assert schedule.due_reports(S(), MSK, utc(2026, 12, 1, 5, 59)) == due            # still due (catch-up window)
    assert schedule.due_reports(S(), MSK, utc(2026, 12, 1, 6, 0)) == []              # a day after: left alone
    assert schedule.due_reports(S(weekly=False), MSK, utc(2026, 11, 30, 6, 0)) == []  # switched off


def test_a_zone_ahead_of_utc_starts_its_monday_on_sunday_in_utc():
    vladivostok = timezone(timedelta(hours=10))
    assert schedule.due_reports(S(hour=0), vladivostok, utc(2026, 11, 29, 13, 59)) == []
    assert schedule.due_reports(S(hour=0), vladivostok, utc(2026, 11, 29, 14, 0)) == [
        ("weekly", date(2026, 11, 23), date(2026, 11, 29), "weekly:2026-11-23")]


def test_monthly_is_due_on_the_first_for_the_previous_month_across_the_year():
    s = S(weekly=False, monthly=True, hour=7)
    assert schedule.due_reports(s, MSK, utc(2026, 12, 1, 3, 59)) == []
    assert schedule.due_reports(s, MSK, utc(2026, 12, 1, 4, 0)) == [
        ("monthly", date(2026, 11, 1), date(2026, 11, 30), "monthly:2026-11-01")]
    assert schedule.due_reports(s, MSK, utc(2027, 1, 1, 4, 0)) == [
        ("monthly", date(2026, 12, 1), date(2026, 12, 31), "monthly:2026-12-01")]
    assert schedule.due_reports(s, MSK, utc(2027, 3, 1, 12, 0)) == [
        ("monthly", date(2027, 2, 1), date(2027, 2, 28), "monthly:2027-02-01")]
    # a Monday that is the 1st: both reports, each its own period and slot
    both = schedule.due_reports(S(weekly=True, monthly=True, hour=7), MSK, utc(2027, 2, 1, 4, 0))
    assert both == [("weekly", date(2027, 1, 25), date(2027, 1, 31), "weekly:2027-01-25"),
                    ("monthly", date(2027, 1, 1), date(2027, 1, 31), "monthly:2027-01-01")]


def test_in_berlin_the_monday_nine_oclock_report_fires_once_after_the_october_change():
    # 25.10.2026 03:00 CEST → 02:00 CET; Monday 26.10 09:00 is 08:00 UTC, not 07:00 as a week before
    assert schedule.due_reports(S(), BERLIN, utc(2026, 10, 26, 7, 59)) == []
    ticks = list(every(utc(2026, 10, 24, 0, 0), utc(2026, 10, 28, 0, 0), timedelta(minutes=15)))
    due = {t: schedule.due_reports(S(), BERLIN, t) for t in ticks}
    slots = {d[3] for found in due.values() for d in found}
    assert slots == {"weekly:2026-10-19"}
    assert min(t for t, found in due.items() if found) == utc(2026, 10, 26, 8, 0)
    # a week earlier (summer time) the same setting was due at 07:00 UTC
    assert schedule.due_reports(S(), BERLIN, utc(2026, 10, 19, 7, 0))[0][3] == "weekly:2026-10-12"
    # and in spring, after the switch to summer time, at 07:00 UTC again
    assert schedule.due_reports(S(), BERLIN, utc(2026, 3, 30, 6, 59)) == []
    assert schedule.due_reports(S(), BERLIN, utc(2026, 3, 30, 7, 0))[0][3] == "weekly:2026-03-23"


def test_send_now_takes_the_last_finished_week_and_month():
    assert schedule.last_period("weekly", date(2026, 12, 2)) == (date(2026, 11, 23), date(2026, 11, 29))
    assert schedule.last_period("weekly", date(2026, 11, 30)) == (date(2026, 11, 23), date(2026, 11, 29))
    assert schedule.last_period("monthly", date(2026, 12, 7)) == (date(2026, 11, 1), date(2026, 11, 30))
    assert schedule.last_period("monthly", date(2027, 1, 1)) == (date(2026, 12, 1), date(2026, 12, 31))


# --- the tick on a real portal -------------------------------------------------------------------------

def _ticks(live_app, times, tz_for=None, pid=None) -> dict[datetime, int]:
    started = {}
    for t in times:
        if tz_for is not None:
            set_tz(live_app, pid, tz_for(t))
        with live_app.ctx():
            started[t] = schedule.tick(t)
    return started


def _one_report(installed, live_app, pid, slot, first, last):
    [run] = all_runs(live_app, pid)
    assert (run.slot, run.first, run.last, run.status) == (slot, first, last, "done"), run.error
    assert run.requested_by == 0 and run.attempts == 1
    [f] = report_files(installed, first.year)
    assert f["NAME"] == run.file_name and run.disk_file_id == str(f["ID"])
    [msg] = chat_messages(installed)
    assert str(msg["id"]) == run.message_id
    period = f"{first:%d.%m.%Y}–{last:%d.%m.%Y}"
    assert period in msg["text"] and f"[URL={run.file_url}]" in msg["text"]
    assert installed.state.disk.content(f["ID"])[:2] == b"PK"  # an xlsx (a zip)
    return run


def test_the_weekly_report_is_made_once_across_the_week_boundary(installed, live_app):
    pid = configure(live_app, installed, weekly=True, hour=9)
    set_tz(live_app, pid, 180)
    started = _ticks(live_app, every(utc(2026, 11, 29, 18, 0), utc(2026, 12, 1, 12, 0), timedelta(minutes=30)))
    assert [t for t, n in started.items() if n] == [utc(2026, 11, 30, 6, 0)]
    assert sum(started.values()) == 1
    _one_report(installed, live_app, pid, "weekly:2026-11-23", date(2026, 11, 23), date(2026, 11, 29))


def test_the_monthly_report_is_made_once_across_the_month_boundary_in_a_far_east_zone(installed, live_app):
    pid = configure(live_app, installed, monthly=True, hour=8)
    set_tz(live_app, pid, 600)  # UTC+10: the 1st at 08:00 there is 22:00 UTC on the 30th
    started = _ticks(live_app, every(utc(2026, 11, 30, 12, 0), utc(2026, 12, 1, 12, 0), timedelta(minutes=30)))
    assert [t for t, n in started.items() if n] == [utc(2026, 11, 30, 22, 0)]
    _one_report(installed, live_app, pid, "monthly:2026-11-01", date(2026, 11, 1), date(2026, 11, 30))


def test_berlin_monday_at_nine_fires_once_over_the_dst_change(installed, live_app):
    pid = configure(live_app, installed, weekly=True, hour=9)

    def berlin_offset(t):  # the offset the portal's REST answers carry at that moment
        return int(t.astimezone(BERLIN).utcoffset().total_seconds() // 60)

    times = list(every(utc(2026, 10, 25, 0, 0), utc(2026, 10, 27, 12, 0), timedelta(hours=1)))
    started = _ticks(live_app, times, berlin_offset, pid)
    assert [t for t, n in started.items() if n] == [utc(2026, 10, 26, 8, 0)]
    _one_report(installed, live_app, pid, "weekly:2026-10-19", date(2026, 10, 19), date(2026, 10, 25))
    # the app still at the summer offset (the bot had not re-read it) fires an hour early — still once
    with live_app.ctx():
        assert schedule.tick(utc(2026, 10, 26, 7, 0)) == 0


def test_a_worker_stopped_over_the_hour_catches_up_exactly_once(installed, live_app):
    pid = configure(live_app, installed, weekly=True, hour=9)
    set_tz(live_app, pid, 180)
    before = _ticks(live_app, [utc(2026, 11, 30, 5, 0), utc(2026, 11, 30, 5, 55)])
    assert sum(before.values()) == 0 and all_runs(live_app, pid) == []
    # down from 05:55 to 11:20 UTC (08:55–14:20 in Moscow): the 09:00 tick never ran
    after = _ticks(live_app, [utc(2026, 11, 30, 11, 20), utc(2026, 11, 30, 11, 25), utc(2026, 11, 30, 15, 0),
                              utc(2026, 12, 1, 5, 55)])
    assert [t for t, n in after.items() if n] == [utc(2026, 11, 30, 11, 20)]
    _one_report(installed, live_app, pid, "weekly:2026-11-23", date(2026, 11, 23), date(2026, 11, 29))


def test_a_worker_back_after_the_catch_up_window_sends_nothing_for_that_week(installed, live_app):
    pid = configure(live_app, installed, weekly=True, hour=9)
    set_tz(live_app, pid, 180)
    assert sum(_ticks(live_app, [utc(2026, 12, 1, 6, 0), utc(2026, 12, 2, 9, 0)]).values()) == 0
    assert all_runs(live_app, pid) == [] and report_files(installed) == [] and chat_messages(installed) == []


def test_an_uninstalled_portal_gets_no_reports(installed, live_app):
    pid = configure(live_app, installed, weekly=True, monthly=True, hour=9)
    set_tz(live_app, pid, 180)
    with live_app.ctx():
        db.session.get(Portal, pid).status = STATUS_UNINSTALLED
        db.session.commit()
    assert sum(_ticks(live_app, [utc(2026, 11, 30, 6, 0), utc(2026, 12, 1, 6, 0)]).values()) == 0
    with live_app.ctx():
        assert db.session.scalar(select(ReportRun.id).where(ReportRun.portal_id == pid)) is None
    assert report_files(installed) == [] and chat_messages(installed) == []


def test_a_schedule_without_a_folder_or_a_chat_starts_nothing(installed, live_app):
    pid = configure(live_app, installed, weekly=True, storage_id="", dialog_id="")
    set_tz(live_app, pid, 180)
    assert sum(_ticks(live_app, [utc(2026, 11, 30, 6, 0)]).values()) == 0
    assert all_runs(live_app, pid) == []
