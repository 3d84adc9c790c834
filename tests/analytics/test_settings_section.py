"""The «Аналитика» settings section over real HTTP in the sandbox portal: an admin saves what the figures
are counted by (a change recounts the stored aggregates, a plan does not), every bad field is named at once
and nothing is saved, a stale form is refused with the input kept, directors and QA read, managers only get
the link to the analytics; and the form's parsing as a plain function at its boundaries."""

from __future__ import annotations

import re
from datetime import date, timedelta
from html.parser import HTMLParser

import pytest
import requests
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from b24app.analytics import cube, metrics, recount, settings_form
from b24app.analytics.models import AnalyticsSettings, StatsDirty
from b24app.analytics.settings import Settings, load
from b24app.extensions import db
from b24app.portals import roles
from b24app.portals.models import Portal

from ..platform.helpers import frame_token_from, open_placement

ADMIN, DIRECTOR, MANAGER, REVIEWER = 1, 2, 3, 5
TODAY = date(2026, 6, 15)


class _Form(HTMLParser):
    """The section's form as a browser would post it: inputs, checked boxes, textareas."""

    def __init__(self):
        super().__init__()
        self.inside, self.fields, self._area = False, MultiDict(), None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and a.get("data-testid") == "analytics-settings-form":
            self.inside = True
        elif self.inside and tag == "input" and a.get("name"):
            if a.get("type") != "checkbox" or "checked" in a:
                self.fields.add(a["name"], a.get("value") or "")
        elif self.inside and tag == "textarea":
            self._area = a["name"]
            self.fields.add(self._area, "")

    def handle_data(self, data):
        if self._area:
            self.fields.setlist(self._area, [self.fields.get(self._area) + data])

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._area = None
        elif tag == "form":
            self.inside = False


def _form(html: str) -> MultiDict:
    p = _Form()
    p.feed(html)
    assert p.fields, "the page has no analytics settings form"
    return p.fields


def _pid(live_app, sandbox) -> int:
    with live_app.ctx():
        return db.session.scalar(select(Portal.id).where(Portal.member_id == sandbox.member_id))


def _open(installed, live_app, user_id: int = ADMIN) -> tuple[str, str]:
    r = open_placement(installed, live_app, "/b24/app", user_id=user_id)
    assert r.status_code == 200, r.text[:500]
    return r.text, frame_token_from(r.text)


def _post(live_app, token: str, fields: MultiDict, **changes) -> requests.Response:
    data = MultiDict(fields)
    for k, v in changes.items():
        if v is None:
            data.poplist(k)
        else:
            data.setlist(k, [v])
    data.setlist("frame_token", [token])
    return requests.post(f"{live_app.url}/b24/analytics/settings", data=list(data.items(multi=True)),
                         timeout=120, allow_redirects=False)


def _snapshot(live_app, pid: int) -> tuple:
    with live_app.ctx():
        row = db.session.scalar(select(AnalyticsSettings).where(AnalyticsSettings.portal_id == pid))
        dirty = db.session.scalar(select(func.count()).select_from(StatsDirty).where(StatsDirty.portal_id == pid))
        cols = None if row is None else tuple(getattr(row, c.name) for c in AnalyticsSettings.__table__.columns)
        return cols, dirty, recount.version(pid)


def test_an_admin_saves_the_settings_and_reads_them_back(installed, live_app):
    html, token = _open(installed, live_app)
    assert 'data-testid="analytics-settings-form"' in html and "Открыть аналитику" in html
    assert 'href="#rules"' in html and 'id="rules"' in html  # greeting seconds live in the rules section
    form = _form(html)
    assert form["version"] == "0" and form["success_seconds"] == "30" and form.get("day5_work") is None
    pid = _pid(live_app, installed)
    with live_app.ctx():
        today = recount.local_day(recount.utcnow(), recount.portal_tz(pid))
    holiday, moved = today + timedelta(days=40), today - timedelta(days=300)
    r = _post(live_app, token, form, success_seconds="45", callback_hours="48", service_level_seconds="15",
              day0_from="8:30", day0_to="17:30", day4_to="24:00", day5_work="1", day5_from="10:00", day5_to="14:00",
              russian_holidays=None, holidays=f"{holiday:%d.%m.%Y}\n{holiday + timedelta(days=1)}",
              workdays=f" {moved:%d.%m.%Y} ", plan_month="1 200", plan_week="300", missed_target="5")
    assert r.status_code == 303 and "msg=analytics_settings.saved_recount" in r.headers["Location"]
    with live_app.ctx():
        s = load(pid)
        row = db.session.scalar(select(AnalyticsSettings).where(AnalyticsSettings.portal_id == pid))
        assert (row.version, row.updated_by) == (1, ADMIN)
    assert (s.metrics.success_seconds, s.metrics.callback_hours, s.metrics.service_level_seconds) == (45, 48, 15)
    assert s.schedule == {0: (510, 1050), 1: (540, 1080), 2: (540, 1080), 3: (540, 1080), 4: (540, 1440),
                          5: (600, 840), 6: None}
    assert not s.russian_holidays and s.holidays == {holiday, holiday + timedelta(days=1)} and s.workdays == {moved}
    assert s.plan == {"month": 1200, "week": 300} and s.missed_target == 5
    page = requests.get(f"{live_app.url}{r.headers['Location']}", timeout=30).text
    assert "Показатели пересчитываются" in page  # the notice the redirect carries
    again = _form(page)
    assert again["version"] == "1" and again["day4_to"] == "24:00" and again["plan_month"] == "1200"
    assert again.get("russian_holidays") is None and again["workdays"] == f"{moved:%d.%m.%Y}"
    # The page's own form posted back unchanged changes nothing the figures depend on.
    before = _snapshot(live_app, pid)
    r = _post(live_app, token, again)
    assert r.status_code == 303 and r.headers["Location"].endswith("msg=analytics_settings.saved")
    after = _snapshot(live_app, pid)
    assert after[2] == before[2] and after[1] == 0


def test_every_bad_field_is_named_at_once_and_nothing_is_saved(installed, live_app):
    html, token = _open(installed, live_app)
    form = _form(html)
    pid = _pid(live_app, installed)
    before = _snapshot(live_app, pid)
    far = date.today() + timedelta(days=800)
    r = _post(live_app, token, form, success_seconds="3601", callback_hours="0", service_level_seconds="x",
              day0_from="18:00", day0_to="09:00", day1_from="25:00", day2_to="24:01",
              holidays="32.01.2026\nзавтра", workdays=f"{far:%d.%m.%Y}", plan_month="-1",
              plan_week="1000001", missed_target="10 001")
    assert r.status_code == 400
    for words in ("Порог успешного звонка — целое число секунд от 0 до 3600",
                  "Окно перезвона — целое число часов от 1 до 168",
                  "Порог уровня обслуживания — целое число секунд от 1 до 600",
                  "Понедельник: начало рабочего дня должно быть раньше его конца",
                  "Вторник: время указывается как ЧЧ:ММ", "Среда: время указывается как ЧЧ:ММ",
                  "Дополнительные праздники: «32.01.2026» — не дата", "Дополнительные праздники: «завтра» — не дата",
                  f"Дополнительные рабочие дни: {far:%d.%m.%Y} — дальше двух лет",
                  "План сделок на месяц — целое число от 0 до 1 000 000",
                  "План сделок на неделю — целое число от 0 до 1 000 000",
                  "Цель по пропущенным — целое число от 0 до 10 000",
                  "Настройки аналитики не сохранены"):
        assert words in r.text, words
    kept = _form(r.text)
    assert kept["success_seconds"] == "3601" and kept["holidays"] == "32.01.2026\nзавтра"
    assert _snapshot(live_app, pid) == before
    r = _post(live_app, token, form, version="x")
    assert r.status_code == 400 and "Форма настроек аналитики повреждена" in r.text
    assert _snapshot(live_app, pid) == before


def test_directors_and_reviewers_read_managers_only_get_the_link(installed, live_app):
    pid = _pid(live_app, installed)
    with live_app.ctx():
        roles.grant(pid, DIRECTOR, "director", ADMIN)
        roles.grant(pid, REVIEWER, "qa", ADMIN)
    for user in (DIRECTOR, REVIEWER):
        html, token = _open(installed, live_app, user)
        assert 'data-testid="analytics-settings-view"' in html and "<fieldset disabled>" in html
        assert 'data-testid="analytics-settings-form"' not in html and 'value="30"' in html
        before = _snapshot(live_app, pid)
        r = requests.post(f"{live_app.url}/b24/analytics/settings", timeout=30, allow_redirects=False,
                          data={"frame_token": token, **settings_form.fields(Settings()), "success_seconds": "5"})
        assert r.status_code == 403
        assert _snapshot(live_app, pid) == before
    html, _token = _open(installed, live_app, MANAGER)
    assert 'data-testid="open-analytics"' in html and "/b24/reports?ft=" in html
    assert "analytics-settings" not in html and "Окно перезвона" not in html
    link = re.search(r'href="([^"]+)" data-testid="open-analytics"', html).group(1).replace("&amp;", "&")
    r = requests.get(f"{live_app.url}{link}", timeout=30)
    assert r.status_code == 200 and 'data-testid="analytics-tabs"' in r.text  # the pages of the CRM tab


def test_a_stale_form_is_refused_with_the_input_kept(installed, live_app):
    html, token = _open(installed, live_app)
    opened = _form(html)
    pid = _pid(live_app, installed)
    assert _post(live_app, token, opened, missed_target="4").status_code == 303  # another admin, first
    saved = _snapshot(live_app, pid)
    r = _post(live_app, token, opened, missed_target="7", plan_month="90")
    assert r.status_code == 409 and "изменил другой администратор" in r.text
    kept = _form(r.text)
    assert (kept["missed_target"], kept["plan_month"], kept["version"]) == ("7", "90", "1")
    assert _snapshot(live_app, pid) == saved
    r = _post(live_app, token, kept)  # saved again after reading the notice: now it applies
    assert r.status_code == 303
    with live_app.ctx():
        s = load(pid)
        assert (s.missed_target, s.plan, s.version) == (7, {"month": 90}, 2)


def test_a_new_success_threshold_recounts_the_history_and_a_plan_does_not(installed, live_app):
    html, token = _open(installed, live_app)
    form = _form(html)
    pid = _pid(live_app, installed)
    with live_app.ctx():
        tz = recount.portal_tz(pid)
        last = recount.local_day(recount.utcnow(), tz)
        first = last - timedelta(days=70)
        q = cube.Query(pid, first, last)
        period = metrics.Period(recount.day_bounds(first, tz)[0], recount.day_bounds(last, tz)[1])
        old = cube.total(q).successful_incoming
        assert old == metrics.total(pid, period).successful_incoming > 0
    _v0 = _snapshot(live_app, pid)[2]
    r = _post(live_app, token, form, success_seconds="120")
    assert r.status_code == 303 and "saved_recount" in r.headers["Location"]
    with live_app.ctx():
        new = cube.total(q).successful_incoming
        raw = metrics.total(pid, period, settings=metrics.MetricSettings(success_seconds=120)).successful_incoming
        assert new == raw and 0 < new < old
        assert db.session.scalar(select(func.count()).select_from(StatsDirty).where(StatsDirty.portal_id == pid)) == 0
    counted = _snapshot(live_app, pid)
    assert counted[2] > _v0
    form = _form(requests.get(f"{live_app.url}{r.headers['Location']}", timeout=30).text)
    r = _post(live_app, token, form, plan_month="500", plan_week="120", missed_target="3")
    assert r.status_code == 303 and r.headers["Location"].endswith("msg=analytics_settings.saved")
    after = _snapshot(live_app, pid)
    assert after[2] == counted[2] and after[1] == 0  # no day recounted
    with live_app.ctx():
        assert load(pid).plan == {"month": 500, "week": 120} and cube.total(q).successful_incoming == new


# --- the parsing as a plain function -----------------------------------------------------------------

def _valid(**changes) -> MultiDict:
    data = MultiDict(settings_form.fields(Settings()))
    for k, v in changes.items():
        if v is None:
            data.poplist(k)
        else:
            data.setlist(k, [v])
    return data


def _keys(**changes) -> list[str]:
    with pytest.raises(settings_form.SettingsInvalid) as e:
        settings_form.parse(_valid(**changes), TODAY)
    return [k for k, _ in e.value.problems]


def test_the_defaults_parse_to_the_defaults():
    v = settings_form.parse(_valid(), TODAY)
    assert (v.success_seconds, v.callback_hours, v.service_level_seconds) == (30, 24, 20)
    assert v.schedule == {**{str(d): [540, 1080] for d in range(5)}, "5": None, "6": None}
    assert v.russian_holidays and v.holidays == [] and v.plan == {} and v.missed_target is None


@pytest.mark.parametrize("field,good,bad", [
    ("success_seconds", ("0", "3600"), ("-1", "3601", "", "1.5", "abc")),
    ("callback_hours", ("1", "168"), ("0", "169", "")),
    ("service_level_seconds", ("1", "600"), ("0", "601", "")),
    ("plan_month", ("", "0", "1 000 000", "1\u00a0000"), ("-1", "1000001", "x")),
    ("plan_week", ("", "0", "1000000"), ("1000001",)),
    ("missed_target", ("", "0", "10000"), ("10001", "-3")),
])
def test_number_ranges(field, good, bad):
    for raw in good:
        settings_form.parse(_valid(**{field: raw}), TODAY)
    for raw in bad:
        assert len(_keys(**{field: raw})) == 1, raw


def test_the_working_day():
    v = settings_form.parse(_valid(day6_work="1", day6_from="00:00", day6_to="24:00", day0_from="9", day0_to="9:01"),
                            TODAY)
    assert v.schedule["6"] == [0, 1440] and v.schedule["0"] == [540, 541]
    assert settings_form.parse(_valid(day0_work=None, day0_from="zz"), TODAY).schedule["0"] is None  # a day off
    for start, end in (("10:00", "10:00"), ("18:00", "09:00")):
        assert _keys(day0_from=start, day0_to=end) == ["analytics_settings.bad_hours"]
    for start, end in (("24:01", "24:00"), ("9:60", "18:00"), ("-1:00", "18:00"), ("09:00", "25:00"), ("", "18:00")):
        assert _keys(day0_from=start, day0_to=end) == ["analytics_settings.bad_time"]
    assert _keys(day0_work="yes") == ["analytics_settings.bad_flag"]


def test_the_date_lists():
    v = settings_form.parse(_valid(holidays="2026-12-31, 30.12.2026;2026-12-31", workdays="1.11.2025"), TODAY)
    assert v.holidays == ["2026-12-30", "2026-12-31"] and v.workdays == ["2025-11-01"]
    near, far = TODAY + timedelta(days=731), TODAY + timedelta(days=732)
    settings_form.parse(_valid(holidays=f"{near:%d.%m.%Y}", workdays=f"{TODAY - timedelta(days=731):%d.%m.%Y}"), TODAY)
    assert _keys(holidays=f"{far:%d.%m.%Y}") == ["analytics_settings.far_date"]
    assert _keys(workdays="29.02.2026 2026-13-01") == ["analytics_settings.bad_date"] * 2
    assert _keys(holidays="31.12.2026", workdays="2026-12-31") == ["analytics_settings.both_dates"]
    many = "\n".join(f"{TODAY + timedelta(days=i):%d.%m.%Y}" for i in range(401))
    assert _keys(holidays=many) == ["analytics_settings.many_dates"]


def test_every_problem_is_named_once():
    keys = _keys(success_seconds="x", callback_hours="x", day0_work="2", day1_work="2", plan_week="x")
    assert keys == ["analytics_settings.bad_success", "analytics_settings.bad_window", "analytics_settings.bad_flag",
                    "analytics_settings.bad_plan_week"]
