"""«Выгрузить в Excel» on every analytics view (A14): the objects the view renders — its tables, series and
totals, in its period, filters, sort and unit — written as sheets in the one look of reports/xlsx.py and sent
as a download. Nothing here counts a figure: every value is the page's own, only laid out as cells."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Sequence
from itertools import chain, islice
from urllib.parse import quote

from flask import Response, request
from flask_babel import gettext
from openpyxl.formatting.rule import ColorScaleRule
from openpyxl.styles import Font
from sqlalchemy import select
from werkzeug.wsgi import wrap_file

from ..analytics import tables
from ..analytics.page import SCENARIO_LABELS, TABS, Page
from ..extensions import db
from . import xlsx
from .xlsx import Column, TableSheet

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TOTAL_FONT = Font(bold=True)
MARKS = {"worst": (xlsx.BAD_FILL, xlsx.BAD_FONT), "best": (xlsx.GOOD_FILL, xlsx.GOOD_FONT),
         "bad": (xlsx.BAD_FILL, xlsx.BAD_FONT), "good": (xlsx.GOOD_FILL, xlsx.GOOD_FONT)}
SPOOL_BYTES = 16 << 20  # a workbook up to this stays in memory on its way out; a larger one goes to a temp file


def _signed(kind: str) -> str:
    """A change's format: the sign always shown; percentage points for shares."""
    if kind == "pp":
        pp = gettext("п. п.").replace('"', "")
        return f'+0.0" {pp}";-0.0" {pp}";0'
    return "+#,##0.0;-#,##0.0;0" if kind == "float" else "+#,##0;-#,##0;0"


def zone_name(tz) -> str:
    return tz.tzname(None) or "UTC"


def _number_kind(values: Iterable) -> str:
    return "float" if any(isinstance(v, float) for v in values) else "int"


# --- the download ------------------------------------------------------------------------------------------

class Export:
    """One download: the workbook, and the title block every sheet repeats — the period, the filters in words,
    the build time in the portal's time zone."""

    def __init__(self, page: Page, *, period: str | None = None, extra: Sequence[str] = ()):
        self.page = page
        self.wb = xlsx.new_workbook()
        p = page.state.period
        self.period = period or gettext("Период: %(dates)s (%(label)s)", dates=xlsx.sheet_dates(p.first, p.last),
                                        label=p.label)
        self.built = gettext("Сформировано %(at)s по времени портала (%(tz)s)",
                             at=page.now.astimezone(page.tz).strftime("%d.%m.%Y %H:%M"), tz=zone_name(page.tz))
        self.note = filters_text(page, extra)

    def sheet(self, title, columns: Sequence[Column], heading, *, sample: Sequence[Sequence] = (),
              note: str | None = None) -> TableSheet:
        return TableSheet(self.wb, str(title), columns, heading=str(heading), period=self.period, built=self.built,
                          note=self.note if note is None else note, sample=sample)

    def response(self, dates: str, ascii_dates: str) -> Response:
        """The workbook as an attachment named after the tab: «Сотрудники 01.11.2026–30.11.2026.xlsx»."""
        label = dict(TABS).get(request.endpoint, gettext("Аналитика звонков"))
        name = f"{label} {dates}.xlsx"
        ascii_name = f"{(request.endpoint or 'analytics').split('.')[-1]}-{ascii_dates}.xlsx"
        out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
        self.wb.save(out)
        size = out.tell()
        out.seek(0)
        resp = Response(wrap_file(request.environ, out), mimetype=XLSX, direct_passthrough=True)
        resp.headers["Content-Length"] = str(size)
        # RFC 6266/5987: the Russian name for browsers, an ASCII one for the rest
        resp.headers["Content-Disposition"] = (f"attachment; filename=\"{ascii_name}\"; "
                                               f"filename*=UTF-8''{quote(name)}")
        resp.headers["Cache-Control"] = "no-store"
        return resp


def period_response(ex: Export) -> Response:
    p = ex.page.state.period
    return ex.response(f"{p.first:%d.%m.%Y}–{p.last:%d.%m.%Y}", f"{p.first.isoformat()}-{p.last.isoformat()}")


def filters_text(page: Page, extra: Sequence[str] = ()) -> str:
    """The filter bar in words, as the page shows it, and whose calls the viewer sees."""
    from ..portals.models import PortalDepartment
    from ..topics.models import Topic

    s, pid = page.state, page.viewer.portal_id
    parts = []
    if s.users:
        parts.append(gettext("сотрудники: %(v)s", v=", ".join(page.user_name(u) for u in s.users)))
    if s.departments:
        names = dict(db.session.execute(select(PortalDepartment.department_id, PortalDepartment.name).where(
            PortalDepartment.portal_id == pid, PortalDepartment.department_id.in_(s.departments))).all())
        parts.append(gettext("отделы: %(v)s", v=", ".join(names.get(d) or f"#{d}" for d in s.departments)))
    if s.lines:
        parts.append(gettext("линии: %(v)s", v=", ".join(s.lines)))
    if s.directions:
        labels = {"incoming": gettext("Входящие"), "outgoing": gettext("Исходящие")}
        parts.append(gettext("направление: %(v)s", v=", ".join(labels[d] for d in s.directions)))
    if s.topics:
        names = dict(db.session.execute(select(Topic.id, Topic.name).where(
            Topic.portal_id == pid, Topic.id.in_(s.topics))).all())
        parts.append(gettext("темы: %(v)s", v=", ".join(names.get(t) or f"#{t}" for t in s.topics)))
    if s.scenarios:
        labels = dict(SCENARIO_LABELS)
        parts.append(gettext("время звонка: %(v)s", v=", ".join(str(labels[k]) for k in s.scenarios)))
    parts.extend(extra)
    text = (gettext("Фильтры: %(v)s.", v="; ".join(parts)) if parts else gettext("Фильтры: нет."))
    scope = {"own": gettext("Вы видите только свои звонки."),
             "departments": gettext("Вы видите звонки своих отделов.")}.get(page.scope.kind,
                                                                           gettext("Звонки всех сотрудников."))
    return f"{text} {scope}"


def sort_text(label, descending: bool) -> str:
    return gettext("сортировка: %(col)s, %(dir)s", col=label,
                   dir=gettext("по убыванию") if descending else gettext("по возрастанию"))


# --- rows ----------------------------------------------------------------------------------------------------

def append(sheet: TableSheet, values: Sequence, *, kinds: Sequence[str | None] = (), marks: Sequence[str | None] = (),
           formats: Sequence[str | None] = (), bold: bool = False) -> None:
    """One row whose cells may have their own kind (a column of mixed figures), a worst/best mark or a format."""
    cells = []
    for i, (value, col) in enumerate(zip(values, sheet.columns, strict=False)):
        kind = (kinds[i] if i < len(kinds) else None) or col.kind
        c = sheet.cell(value, kind)
        fmt = formats[i] if i < len(formats) else None
        if fmt and value is not None:
            c.number_format = fmt
        mark = marks[i] if i < len(marks) else None
        if mark in MARKS and value is not None:
            c.fill, c.font = MARKS[mark]
        elif bold:
            c.font = TOTAL_FONT
        cells.append(c)
    sheet.ws.append(cells)
    sheet.rows += 1


def _streamed(sheet_of: Callable[[list], TableSheet], rows: Iterable[Sequence]) -> tuple[TableSheet, Iterable]:
    """A sheet whose widths are fitted to the first rows, then every row streamed."""
    it = iter(rows)
    sample = list(islice(it, xlsx.SAMPLE_ROWS))
    sheet = sheet_of(sample)
    return sheet, chain(sample, it)


# --- a table of analytics/tables.py --------------------------------------------------------------------------

def _kind(col: tables.Column, values: Iterable, unit: str) -> str:
    if col.unit == tables.TEXT:
        return "text"
    if col.unit == tables.SHARE:
        return "percent"
    if col.unit == tables.TIME:
        return "hours" if unit == "h" else "minutes"
    if col.unit == tables.MOMENT:
        return "datetime"
    return _number_kind(values)


def _value(v, col: tables.Column, unit: str, tz):
    """A raw table value as a cell: time columns hold minutes and show in the page's unit; moments in the
    portal's time zone."""
    if v is None:
        return None
    if col.unit == tables.TIME and unit == "h":
        return v / 60
    if col.unit == tables.MOMENT:
        return v.astimezone(tz)
    return v


def table_sheet(ex: Export, table: tables.Table, *, title, heading,
                label: Callable[[tables.Row], object] | None = None,
                extra: Sequence[tuple[Column, Callable[[tables.Row], object]]] = ()) -> TableSheet:
    """A Table as the page draws it: its columns with the page's headings and unit, its rows in its order,
    the worst and best cells marked, the totals row last (bold, outside the autofilter so it stays last).
    `label` replaces the first column's text; `extra` columns follow the first one."""
    unit = ex.page.state.unit
    everything = [*table.rows, *([table.total] if table.total else [])]
    cols = list(table.columns)
    columns = [Column(str(cols[0].heading(unit)), "text"), *(c for c, _ in extra),
               *(Column(str(c.heading(unit)), _kind(c, (r.values.get(c.key) for r in everything), unit))
                 for c in cols[1:])]

    def line(row: tables.Row) -> list:
        first = label(row) if label and row is not table.total else row.values.get(cols[0].key)
        return [first, *(fn(row) for _, fn in extra),
                *(_value(row.values.get(c.key), c, unit, ex.page.tz) for c in cols[1:])]

    def marks(row: tables.Row) -> list:
        return [None, *(None for _ in extra), *(table.marks.get((row.key, c.key)) for c in cols[1:])]

    sheet = ex.sheet(title, columns, heading, sample=[line(r) for r in everything[:xlsx.SAMPLE_ROWS]])
    for row in table.rows:
        append(sheet, line(row), marks=marks(row))
    sheet.finish()
    if table.total:
        append(sheet, line(table.total), bold=True)
    return sheet


def table(page: Page, t: tables.Table, *, kind: str, title, portal_base: str = "") -> Response:
    """The employees, departments, lines or clients table (clients: all of them, not one page)."""
    sorted_by = next((c for c in t.columns if c.key == t.sort_key), None)
    extra_words = [sort_text(sorted_by.heading(page.state.unit), t.descending)] if sorted_by else []
    if kind == "lines" and page.state.group == "direction":
        extra_words.insert(0, gettext("по линиям и направлениям"))
    ex = Export(page, extra=extra_words)
    sheet_title = dict(TABS).get(page_endpoint(), title)
    if kind == "clients":
        crm = Column(gettext("Клиент в CRM"), "link")

        def crm_link(row):
            path = row.info.get("crm_path")
            return (row.info.get("crm_label"), portal_base + path) if path else None

        table_sheet(ex, t, title=sheet_title, heading=title, label=lambda r: r.info.get("spelled"),
                    extra=[(crm, crm_link)])
    elif kind == "departments":
        table_sheet(ex, t, title=sheet_title, heading=title,
                    extra=[(Column(gettext("Входит в отдел"), "text"), lambda r: r.info.get("parent") or None)])
    else:
        table_sheet(ex, t, title=sheet_title, heading=title)
    return period_response(ex)


def page_endpoint() -> str:
    return request.endpoint or ""


# --- the overview --------------------------------------------------------------------------------------------

def overview(page: Page, o) -> Response:
    """The key figures now against the previous period with the change, calls by day, top topics, scenarios."""
    from ..analytics import summary

    before = page.state.period.previous()
    ex = Export(page, period=gettext("Период: %(dates)s (%(label)s); предыдущий период: %(before)s (%(blabel)s)",
                                     dates=xlsx.sheet_dates(page.state.period.first, page.state.period.last),
                                     label=page.state.period.label,
                                     before=xlsx.sheet_dates(before.first, before.last), blabel=before.label))
    unit = page.state.unit
    callback = next(c for c in tables.FIGURE_COLUMNS if c.key == "callback_minutes")
    callback_fig = summary.KeyFigure(callback.key, callback.heading(unit),
                                     lambda f: _value(callback.value(f), callback, unit, page.tz), better=-1)
    shown = {line.figure.key for line in o.tiles}
    more = [summary.FIGURE[k] for k in ("missed_share", "lost_share", "awaiting_callback") if k not in shown]
    lines = [*o.tiles, *(summary.Line(k, k.value(o.now), k.value(o.before)) for k in more),
             summary.Line(callback_fig, callback_fig.value(o.now), callback_fig.value(o.before))]
    cols = [Column(gettext("Показатель"), "text"), Column(gettext("Период"), "float"),
            Column(gettext("Предыдущий период"), "float"), Column(gettext("Изменение"), "float"),
            Column(gettext("Пояснение"), "text")]

    def kind(line) -> str:
        if line.figure.unit == "%":
            return "percent"
        if line.figure.key in ("talk_minutes", "callback_minutes"):
            return "hours" if unit == "h" else "minutes"
        if line.figure.key == "talk_hours":
            return "hours"
        return _number_kind((line.now, line.before))

    def change_format(line) -> str:
        return _signed("pp" if line.figure.unit == "%" else "float" if kind(line) != "int" else "int")

    rows = [[str(line.figure.label), line.now, line.before, line.change, o.notes.get(line.figure.key)]
            for line in lines]
    sheet = ex.sheet(gettext("Показатели"), cols, gettext("Ключевые показатели"), sample=rows)
    for line, row in zip(lines, rows, strict=True):
        k = kind(line)
        append(sheet, row, kinds=(None, k, k, "float"), formats=(None, None, None, change_format(line)),
               marks=(None, None, None, line.verdict or None))
    pf = o.plan
    append(sheet, [gettext("План по сделкам"), pf.plan, None, None, None], kinds=(None, _number_kind([pf.plan])))
    append(sheet, [gettext("Факт: создано сделок"), pf.fact, None, None, None], kinds=(None, "int"))
    append(sheet, [gettext("Выполнено, %"), pf.done, None, None, None], kinds=(None, "percent"))
    sheet.finish(autofilter=False)

    day_cols = [Column(gettext("День"), "date"), Column(gettext("Принятые входящие"), "int"),
                Column(gettext("Пропущенные, перезвонили"), "int"), Column(gettext("Потерянные"), "int"),
                Column(gettext("Ждут перезвона"), "int"), Column(gettext("Исходящие состоявшиеся"), "int"),
                Column(gettext("Исходящие без ответа"), "int")]
    days = [[d.day, d.accepted, d.recovered, d.lost, d.awaiting, d.outgoing_connected, d.outgoing_failed]
            for d in o.days]
    sheet = ex.sheet(gettext("По дням"), day_cols, gettext("Звонки по дням"), sample=days)
    sheet.extend(days)
    sheet.finish()
    f = o.now
    append(sheet, [gettext("Итого"), f.accepted, f.recovered, f.lost, f.awaiting_callback, f.outgoing_connected,
                   f.outgoing - f.outgoing_connected], kinds=("text",), bold=True)

    topic_cols = [Column(gettext("Тема"), "text"), Column(gettext("Звонков"), "int"),
                  Column(gettext("Доля"), "percent"), Column(gettext("Предыдущий период"), "int")]
    topics = [[t.name, t.calls, t.share, t.before] for t in o.topics]
    sheet = ex.sheet(gettext("Темы"), topic_cols, gettext("Топ тем звонков"), sample=topics,
                     note=ex.note + " " + gettext("Доля — от звонков с темой за период."))
    sheet.extend(topics)
    sheet.finish()
    append(sheet, [gettext("Без темы"), o.no_topic[0], None, o.no_topic[1]])
    append(sheet, [gettext("Всего звонков с темой"), o.topic_calls, None, None], bold=True)

    sc_cols = [Column(gettext("Время звонка"), "text"), Column(gettext("Входящие"), "int"),
               Column(gettext("Пропущенные"), "int"), Column(gettext("Доля пропущенных"), "percent"),
               Column(gettext("Доля потерянных"), "percent")]
    scen = [[str(s.label), s.figures.incoming, s.figures.missed, s.figures.missed_share, s.figures.lost_share]
            for s in o.scenarios]
    sheet = ex.sheet(gettext("Время звонка"), sc_cols, gettext("Время звонка"), sample=scen)
    sheet.extend(scen)
    sheet.finish()
    append(sheet, [gettext("Итого"), f.incoming, f.missed, f.missed_share, f.lost_share], bold=True)
    return period_response(ex)


# --- by hour -------------------------------------------------------------------------------------------------

def hours(page: Page, days: list[dict], total, grid: list[list[dict]], peaks: dict) -> Response:
    """Calls by day (with the period's totals) and the hour × weekday grid of calls."""
    ex = Export(page)
    cols = [Column(gettext("День"), "date"), *(Column(str(label), "int") for _k, label in tables.DAY_SERIES)]
    rows = [[d["day"], *(d[k] for k, _l in tables.DAY_SERIES)] for d in days]
    sheet = ex.sheet(gettext("По дням"), cols, gettext("Звонки по дням"), sample=rows)
    sheet.extend(rows)
    sheet.finish()
    append(sheet, [gettext("Итого"), *(getattr(total, k) for k, _l in tables.DAY_SERIES)], kinds=("text",),
           bold=True)

    words = []
    if peaks.get("hour"):
        h = peaks["hour"]["hour"]
        words.append(gettext("Самый загруженный час — %(start)s–%(end)s (звонков: %(n)s).",
                             start=f"{h:02d}:00", end=f"{(h + 1) % 24:02d}:00", n=peaks["hour"]["calls"]))
    if peaks.get("weekday"):
        words.append(gettext("Самый загруженный день недели — %(day)s (звонков: %(n)s).",
                             day=tables.WEEKDAY_NAMES[peaks["weekday"]["weekday"]], n=peaks["weekday"]["calls"]))
    cols = [Column(gettext("День недели"), "text", width=8), *(Column(f"{h:02d}", "int", width=6) for h in range(24))]
    sheet = ex.sheet(gettext("По часам"), cols, gettext("Звонки по часам и дням недели"),
                     note=" ".join([ex.note, gettext("Время — по часовому поясу портала."), *words]))
    for wd, row in enumerate(grid):
        sheet.append([str(tables.WEEKDAYS[wd]), *(c["calls"] for c in row)])
    sheet.finish(autofilter=False)
    if any(c["calls"] for row in grid for c in row):
        # the page's heat map: the busier the hour, the darker
        sheet.ws.conditional_formatting.add(
            f"B{sheet.first_data_row}:Y{sheet.last_row}",
            ColorScaleRule(start_type="num", start_value=0, start_color="FFFFFF", end_type="max", end_color="2FC6F6"))
    return period_response(ex)


# --- the call list -------------------------------------------------------------------------------------------

def calls(page: Page, args, portal_base: str) -> Response:
    """Every call of the list under its filters, number, outcome and sort — streamed, not one page."""
    from ..analytics import call_list
    from ..analytics.calls_views import CRM_LABELS, DIRECTION_LABELS, OUTCOME_FILTERS, OUTCOME_LABELS
    from ..qa.bootstrap import setup_for

    words = []
    if args.phone:
        words.append(gettext("номер клиента: %(v)s", v=tables.spelled(args.phone)))
    if args.outcome:
        words.append(gettext("исход: %(v)s", v=dict(OUTCOME_FILTERS)[args.outcome]))
    sort_labels = {"start": gettext("Дата и время"), "talk": gettext("Разговор"), "wait": gettext("Ожидание"),
                   "duration": gettext("Длительность")}
    words.append(sort_text(sort_labels[args.sort.lstrip("-")], args.sort.startswith("-")))
    ex = Export(page, extra=words)
    setup = setup_for(page.viewer.portal_id)
    qa_type = setup.entity_type_id if setup is not None else None
    cols = [Column(gettext("Дата и время"), "datetime"), Column(gettext("Направление"), "text"),
            Column(gettext("Сотрудник"), "text"), Column(gettext("Клиент"), "text"),
            Column(gettext("Клиент в CRM"), "link"), Column(gettext("Линия"), "text"), Column(gettext("Тема"), "text"),
            Column(gettext("Разговор"), "duration"), Column(gettext("Ожидание"), "duration"),
            Column(gettext("Длительность"), "duration"), Column(gettext("Исход"), "text"),
            Column(gettext("Перезвонили через"), "duration"), Column(gettext("Успешный"), "text"),
            Column(gettext("Оценка клиента"), "int"), Column(gettext("Оценка качества"), "percent"),
            Column(gettext("Карточка оценки"), "link")]
    labels = {k: str(v) for k, v in OUTCOME_LABELS.items()}
    directions = {k: str(v) for k, v in DIRECTION_LABELS.items()}
    crm = {k: str(v) for k, v in CRM_LABELS.items()}
    yes = gettext("Да")
    card = gettext("Карточка оценки")
    outcome_at = 10

    def line(r) -> list:
        crm_path = tables.crm_path(r.crm_type, r.crm_id)
        return [r.start.astimezone(page.tz), directions.get(r.call_type), page.user_name(r.user_id), r.phone or None,
                (f"{crm[r.crm_type]} #{r.crm_id}", portal_base + crm_path) if crm_path else None,
                r.line or None, r.topic or None, r.talk, r.wait, r.duration, labels.get(r.outcome),
                r.callback_seconds, yes if r.successful else None, r.vote,
                r.qa_percent / 100 if r.qa_percent is not None else None,
                (card, f"{portal_base}/crm/type/{qa_type}/details/{r.qa_item_id}/")
                if qa_type and r.qa_item_id else None]

    rows = (line(r) for r in call_list.iter_calls(page.query, args, page.settings, page.tz, page.now))
    sheet, rows = _streamed(lambda sample: ex.sheet(gettext("Звонки"), cols, gettext("Звонки"), sample=sample), rows)
    lost = labels["lost"]
    for row in rows:
        # a lost call is the list's bad outcome: marked as the page colours it
        append(sheet, row, marks=[None] * outcome_at + ["bad" if row[outcome_at] == lost else None])
    sheet.finish()
    return period_response(ex)


# --- the missed-calls board ----------------------------------------------------------------------------------

def board(page: Page, b, waiting, lost, name: Callable[[int], str], this_week: str, last_week: str) -> Response:
    """Missed and lost per manager this week against last (over the target in red), and the calls not called back."""
    ex = Export(page, period=gettext("Эта неделя: %(now)s (%(dates)s). Прошлая неделя: %(before)s (%(bdates)s).",
                                     now=this_week, dates=xlsx.sheet_dates(b.monday, b.today), before=last_week,
                                     bdates=xlsx.sheet_dates(b.last_monday, b.last_sunday)))
    target = (gettext("Цель: не больше %(n)s пропущенных у сотрудника за неделю.", n=b.target)
              if b.target is not None else gettext("Цель не задана."))
    trend = {"up": gettext("больше"), "down": gettext("меньше"), "same": gettext("так же")}
    cols = [Column(gettext("Сотрудник"), "text"), Column(gettext("Пропущено"), "int"),
            Column(gettext("Динамика к тем же дням прошлой недели"), "text", width=20),
            Column(gettext("Пропущено за те же дни прошлой недели"), "int", width=20),
            Column(gettext("Потеряно"), "int"), Column(gettext("Ждут перезвона"), "int"),
            Column(gettext("Перезвонили"), "int"), Column(gettext("Прошлая неделя: пропущено"), "int", width=16),
            Column(gettext("Прошлая неделя: потеряно"), "int", width=16)]

    def line(r, who) -> list:
        return [who, r.missed, trend[r.trend], r.missed_same_days, r.lost, r.awaiting, r.recovered,
                r.missed_last_week, r.lost_last_week]

    rows = [line(r, name(r.user_id)) for r in b.rows]
    sheet = ex.sheet(gettext("Пропущенные"), cols, gettext("Пропущенные звонки: эта неделя и прошлая"),
                     sample=rows, note=f"{ex.note} {target}")
    mark = {"over": "worst", "within": "best"}
    for r, row in zip(b.rows, rows, strict=True):
        append(sheet, row, marks=(None, mark.get(r.verdict)))
    sheet.finish()
    append(sheet, line(b.total, gettext("Вся команда")), bold=True)

    cols = [Column(gettext("Когда звонил клиент"), "datetime"), Column(gettext("Сотрудник"), "text"),
            Column(gettext("Клиент"), "text"), Column(gettext("Состояние"), "text"),
            Column(gettext("Осталось до конца окна перезвона"), "duration", width=18)]
    rows = [[c.start.astimezone(page.tz), name(c.user_id), c.phone or None,
             gettext("Ждёт перезвона") if c.awaiting else gettext("Потерян"), c.left_seconds if c.awaiting else None]
            for c in waiting + lost]
    scope = gettext("Здесь — только звонки, которые вам доступны.") if page.scope.kind != "all" else ""
    sheet = ex.sheet(gettext("Не перезвонили"), cols, gettext("Не перезвонили на этой неделе"), sample=rows,
                     note=" ".join(x for x in (ex.note, scope) if x))
    for c, row in zip(waiting + lost, rows, strict=True):
        append(sheet, row, marks=(None, None, None, None if c.awaiting else "bad"))
    sheet.finish()
    week = f"{b.monday:%d.%m.%Y}–{b.today:%d.%m.%Y}"
    return ex.response(week, f"{b.monday.isoformat()}-{b.today.isoformat()}")


# --- quality -------------------------------------------------------------------------------------------------

def _share(percent):
    """A score of 0..100 as the 0..1 share a percent format shows."""
    return None if percent is None else percent / 100


def quality(page: Page, s, stages, stage_labels, groups: dict, group_labels, group_titles, items, agenda,
            rounds, sort) -> Response:
    """The scores per manager, topic, checklist and reviewer in the page's sort, item failure rates, the
    team-meeting agenda and the calibration rounds."""
    from ..analytics import qa_figures

    words = []
    if sort:
        names = {"name": group_labels[sort[0]], "scored": gettext("Оценено"), "mean": gettext("Средний балл"),
                 "pass": gettext("Прошли"), "critical": gettext("Критичные провалы")}
        words.append(sort_text(f"{group_titles[sort[0]]} — {names[sort[1]]}", sort[2]))
    ex = Export(page, extra=words)
    cols = [Column(gettext("Показатель"), "text"), Column(gettext("Значение"), "int")]
    lines = [([gettext("Оценено звонков"), s.scored], "int"),
             ([gettext("Средний балл"), _share(s.mean_score)], "percent"),
             ([gettext("Доля прошедших (балл от %(n)s %%)", n=int(qa_figures.PASS_PERCENT)), s.pass_rate], "percent"),
             *(([gettext("Карточки по стадиям: %(s)s", s=stage_labels[st.key]), st.count], "int") for st in stages)]
    sheet = ex.sheet(gettext("Качество"), cols, gettext("Качество звонков"), sample=[v for v, _k in lines])
    for values, kind in lines:
        append(sheet, values, kinds=(None, kind))
    sheet.finish(autofilter=False)

    for group, rows in groups.items():
        cols = [Column(str(group_labels[group]), "text"), Column(gettext("Оценено"), "int"),
                Column(gettext("Средний балл"), "percent"), Column(gettext("Прошли"), "percent"),
                Column(gettext("Критичные провалы"), "int")]
        lines = [[r["name"], r["scored"], _share(r["mean_score"]), r["pass_rate"], r["critical_failed"]] for r in rows]
        sheet = ex.sheet(str(group_titles[group]), cols, group_titles[group], sample=lines)
        for line in lines:
            append(sheet, line, marks=(None, None, None, None, "worst" if line[4] else None))
        sheet.finish()

    cols = [Column(gettext("Чек-лист"), "text"), Column(gettext("Версия"), "int"), Column(gettext("Раздел"), "text"),
            Column(gettext("Пункт"), "text", width=50), Column(gettext("Критичный"), "text"),
            Column(gettext("Ответов"), "int"), Column(gettext("Провалов"), "int"),
            Column(gettext("Доля провалов"), "percent")]
    yes = gettext("Да")
    lines = [[r["checklist"], r["version"], r["section"] or None, r["text"], yes if r["critical"] else None,
              r["answered"], r["failed"], r["failure_rate"]] for r in items]
    sheet = ex.sheet(gettext("Провалы по пунктам"), cols, gettext("Провалы по пунктам чек-листов"), sample=lines,
                     note=ex.note + " " + gettext("Провал — ответ «нет» или 0 баллов; ответы «не применимо» не "
                                                  "считаются. Сначала пункты, которые проваливают чаще."))
    for i, (r, line) in enumerate(zip(items, lines, strict=True)):
        append(sheet, line, marks=[None] * 7 + ["worst" if r["failed"] and i < 3 else None])
    sheet.finish()

    cols = [Column(gettext("Звонок"), "datetime"), Column(gettext("Сотрудник"), "text"), Column(gettext("Тема"), "text"),
            Column(gettext("Балл"), "percent"), Column(gettext("Провален критичный пункт"), "text"),
            Column(gettext("Контролёр"), "text"), Column(gettext("Комментарий контролёра"), "text", width=50),
            Column(gettext("Карточка оценки"), "link")]
    base = portal_base(page.viewer.portal_id)
    card = gettext("Карточка оценки")
    lines = [[a["when"], a["manager"], a["topic"] or None, _share(a["percent"]), yes if a["critical_failed"] else None,
              a["reviewer"], a["comment"] or None, (card, base + a["card_path"]) if a["card_path"] else None]
             for a in agenda]
    sheet = ex.sheet(gettext("Разобрать на планёрке"), cols, gettext("Разобрать на планёрке"), sample=lines)
    for line in lines:
        append(sheet, line, marks=[None] * 4 + ["bad" if line[4] else None])
    sheet.finish()

    if rounds:
        cols = [Column(gettext("Раунд"), "date"), Column(gettext("Карточка"), "int"), Column(gettext("Оценили"), "int"),
                Column(gettext("Контролёров"), "int"), Column(gettext("Средний балл"), "percent"),
                Column(gettext("Разброс, п. п."), "float"), Column(gettext("Стандартное отклонение"), "float"),
                Column(gettext("Согласие"), "percent")]
        lines = [[r["when"].date(), r["qa_item_id"], r["submitted"], r["reviewers"],
                  *((_share(r["mean"]), r["spread"], r["stdev"], r["agreement"]) if r["done"] else (None,) * 4)]
                 for r in rounds]
        sheet = ex.sheet(gettext("Калибровка"), cols, gettext("Калибровка контролёров"), sample=lines)
        for line in lines:
            append(sheet, line, marks=[None] * 5 + ["worst" if line[5] is not None and line[5] >= 20 else None])
        sheet.finish()
    return period_response(ex)


def portal_base(portal_id: int) -> str:
    """The portal's own address, for links to its CRM pages."""
    from ..portals.models import Portal

    domain, protocol = db.session.execute(select(Portal.domain, Portal.protocol).where(Portal.id == portal_id)).one()
    return f"{'https' if protocol == 1 else 'http'}://{domain}"


# --- the pivot -----------------------------------------------------------------------------------------------

def pivot(page: Page, data: dict, dimensions: dict, one_col: bool) -> Response:
    """Rows × columns of the chosen measure with the row, column and grand totals, as the page shows them."""
    spec, measure = data["spec"], data["measure"]
    rows_label = str(dimensions[spec["rows"]])
    words = [gettext("строки: %(r)s; столбцы: %(c)s; показатель: %(m)s", r=rows_label,
                     c=gettext("только итог") if one_col else str(dimensions[spec["cols"]]), m=measure["label"])]
    ex = Export(page, extra=words)
    values = [c["value"] for r in data["rows"] for c in [*r["cells"], r["total"]]]
    kind = {"%": "percent", "h": "hours"}.get(measure["unit"]) or (
        "minutes" if measure["key"] == "talk_minutes" else _number_kind(values))
    corner = rows_label if one_col else f"{rows_label} \\ {dimensions[spec['cols']]}"
    cols = [Column(corner, "text"), *([] if one_col else [Column(str(c["label"]), kind) for c in data["cols"]]),
            Column(gettext("Итого"), kind)]
    lines = [[r["label"], *([] if one_col else [c["value"] for c in r["cells"]]), r["total"]["value"]]
             for r in data["rows"]]
    note = ex.note
    if data["truncated"]:
        note += " " + gettext("Показаны %(rows)s из %(rows_all)s строк и %(cols)s из %(cols_all)s столбцов; итоги "
                              "посчитаны по всем.", rows=len(data["rows"]), rows_all=data["rows_all"],
                              cols=len(data["cols"]), cols_all=data["cols_all"])
    sheet = ex.sheet(gettext("Сводная"), cols, measure["label"], sample=lines, note=note)
    for line in lines:
        append(sheet, line, bold=False)
    sheet.finish()
    append(sheet, [gettext("Итого"), *([] if one_col else [c["total"]["value"] for c in data["cols"]]),
                   data["total"]["value"]], bold=True)
    return period_response(ex)
