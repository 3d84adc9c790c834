"""The report workbook (issue 13): «Сводка» in the fixed layout of DESIGN §5, the days with native charts, topics,
quality, the meeting agenda, employees, missed calls and every call of a period — in the portal's language
and time zone, every figure read from analytics/, streamed in write-only mode.

The same code serves the schedule, the on-demand report and `flask report` (reports/cli.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from itertools import chain, islice
from types import SimpleNamespace

from flask_babel import force_locale, gettext
from flask_babel import lazy_gettext as _l
from openpyxl.cell import WriteOnlyCell
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Alignment
from sqlalchemy import select

from ..analytics import access, call_list, cube, qa_figures, summary, tables
from ..analytics.metrics import Figures
from ..analytics.periods import MAX_DAYS, LocalPeriod, label_for
from ..analytics.recount import portal_tz
from ..analytics.settings import load as load_settings
from ..analytics.summary import KeyFigure, Line
from ..extensions import db
from ..models_base import utcnow
from . import xlsx
from .xlsx import Column, TableSheet
from .xlsx_stream import stream

# The sheets in their order (their titles are the portal's language at build time).
SUMMARY = _l("Сводка")
DAYS = _l("По дням")
TOPICS = _l("По темам")
QUALITY = _l("Оценка качества")
QA_RESULTS = _l("Итоги оценки")
CHECKLISTS = _l("По чек-листам")
AGENDA = _l("Планёрка")
EMPLOYEES = _l("Звонки по сотрудникам")
MISSED = _l("Пропущенные и потерянные")
CALLS = _l("Звонки")

# Marked red in the tables (no analytics setting holds them): shares of calls missed or lost, the service
# level and CSAT below these, a checklist item failed more often than FAILED_ITEM.
BAD_MISSED_SHARE = 0.10
BAD_LOST_SHARE = 0.05
BAD_SERVICE_LEVEL = 0.80
BAD_CSAT = 0.80
BAD_ITEM_FAILURE = 0.20
PASS_SHARE = 0.80          # a team's pass rate below 80 % is marked

# The QA figures of «Сводка»: read from qa_figures.summary, compared like the call figures.
QA_FIGURES = (
    KeyFigure("qa_scored", _l("Оценено звонков"), lambda s: s.scored),
    KeyFigure("qa_mean_score", _l("Средняя оценка, %"), lambda s: s.mean_score),
    KeyFigure("qa_pass_rate", _l("Доля прошедших оценку, %"), lambda s: s.pass_rate, "%"),
)
_CALLBACK = next(c for c in tables.FIGURE_COLUMNS if c.key == "callback_minutes")
CALLBACK_FIGURE = KeyFigure(_CALLBACK.key, _CALLBACK.label, _CALLBACK.value, better=_CALLBACK.better)

SUMMARY_HEADER_ROW = 6     # «Показатель | period | previous | change»; the figures start below it


@dataclass(frozen=True)
class Scope:
    departments: tuple[int, ...] = ()      # with sub-departments (analytics.access.department_users)
    users: tuple[int, ...] | None = None   # explicit users; None and no departments = the whole company


@dataclass
class Built:
    calls: int            # calls of the period in the scope (the «Звонки» sheet's rows)
    sheets: list[str]
    file_name: str        # e.g. «Отчёт по звонкам 30.11.2026–06.12.2026.xlsx» (portal's language)


def file_name(first: date, last: date) -> str:
    """The workbook's name in the current locale."""
    return gettext("Отчёт по звонкам %(first)s–%(last)s.xlsx", first=f"{first:%d.%m.%Y}", last=f"{last:%d.%m.%Y}")


def scope_users(portal_id: int, scope: Scope) -> frozenset[int] | None:
    """Whose calls the report counts: the departments' users (sub-departments too) ∩ the explicit users;
    None for the whole company."""
    users = None
    if scope.departments:
        users = access.department_users(portal_id, scope.departments)
    if scope.users is not None:
        users = frozenset(scope.users) if users is None else users & frozenset(scope.users)
    return users


def portal_language(portal) -> str:
    return "en" if (portal.language or "").lower().startswith("en") else "ru"


def build(portal_id: int, first: date, last: date, out, *, scope: Scope = Scope(),
          progress: Callable[[int, str], None] | None = None, now: datetime | None = None) -> Built:
    """The full workbook for local days first..last (inclusive) into `out` (a path or a binary file object),
    in the portal's language and time zone. `progress(percent 0..100, stage text)` is called as sheets are done."""
    from ..portals.models import Portal

    portal = db.session.get(Portal, portal_id)
    if portal is None:
        raise ValueError(f"no portal {portal_id}")
    if last < first:
        raise ValueError("the period ends before it starts")
    if (last - first).days + 1 > MAX_DAYS:
        raise ValueError(f"the period is longer than {MAX_DAYS} days")
    lang = portal_language(portal)
    with force_locale(lang):
        return _Report(portal, first, last, scope, now or utcnow(), lang, progress).write(out)


# --- helpers -------------------------------------------------------------------------------------------------

def _s(text) -> str:
    return str(text) if text is not None else ""


def _local(moment: datetime | None, tz) -> datetime | None:
    return moment.astimezone(tz).replace(tzinfo=None) if moment is not None else None


def _figure_kind(col: tables.Column, values: Iterable) -> str:
    """The xlsx kind of an analytics table column: shares as percents, times in minutes, counts as integers."""
    if col.unit == tables.TEXT:
        return "text"
    if col.unit == tables.SHARE:
        return "percent"
    if col.unit == tables.TIME:
        return "minutes"
    if col.unit == tables.MOMENT:
        return "datetime"
    return "float" if any(isinstance(v, float) for v in values) else "int"


def _bad(key: str) -> dict:
    return {"missed_share": {"bad_above": BAD_MISSED_SHARE}, "lost_share": {"bad_above": BAD_LOST_SHARE},
            "service_level": {"bad_below": BAD_SERVICE_LEVEL}, "csat": {"bad_below": BAD_CSAT}}.get(key, {})


def _signed_format(unit: str, value) -> str:
    if unit == "%":
        pp = gettext("п. п.").replace('"', "")
        return f'+0.0" {pp}";-0.0" {pp}";0'
    return "+#,##0;-#,##0;0" if isinstance(value, int) else "+#,##0.0;-#,##0.0;0"


def _value_format(unit: str, value) -> str:
    if unit == "%":
        return xlsx.FORMATS["percent"]
    return xlsx.FORMATS["int"] if isinstance(value, int) else xlsx.FORMATS["float"]


class _Report:
    """One build: the period and its comparison period, the scope, the portal's names and links, the sheets."""

    def __init__(self, portal, first: date, last: date, scope: Scope, now: datetime, lang: str,
                 progress: Callable[[int, str], None] | None):
        from ..portals.models import PortalDepartment, PortalUser
        from ..qa.bootstrap import setup_for

        self.portal, self.pid, self.lang, self.now = portal, portal.id, lang, now
        self.tz = portal_tz(self.pid)
        self.zone = self.tz.tzname(None) or "UTC"
        self.settings = load_settings(self.pid)
        self.scope = scope
        self.users = scope_users(self.pid, scope)
        self.q = cube.Query(self.pid, first, last, users=self.users)
        before = LocalPeriod("custom", first, last).previous()  # as the dashboard compares a custom period
        self.qp = self.q.between(before.first, before.last)
        self.kw = {"settings": self.settings, "now": now}
        self.progress = progress or (lambda _p, _s: None)
        self.names = dict(db.session.execute(select(PortalUser.user_id, PortalUser.name).where(
            PortalUser.portal_id == self.pid)).all())
        self.departments = dict(db.session.execute(select(PortalDepartment.department_id, PortalDepartment.name)
                                                   .where(PortalDepartment.portal_id == self.pid)).all())
        setup = setup_for(self.pid)
        self.qa_type = setup.entity_type_id if setup is not None and setup.entity_type_id else None
        self.origin = portal.origin
        self.wb = xlsx.new_workbook()
        self.sheets: list[str] = []
        self.period_text = gettext("Период: %(dates)s (%(label)s), время портала %(tz)s",
                                   dates=xlsx.sheet_dates(first, last), label=label_for(first, last, lang),
                                   tz=self.zone)
        self.built_text = gettext("Сформирован %(at)s (%(tz)s)",
                                  at=now.astimezone(self.tz).strftime("%d.%m.%Y %H:%M"), tz=self.zone)
        self.no_manager = gettext("Без сотрудника")
        self.scope_value = self._scope_value()
        self.scope_text = self._scope_text()
        self.card_text = gettext("Карточка %(n)s")  # read once: the call list asks for it on every row
        self.outcomes = {k: str(v) for k, v in _labels("OUTCOME_LABELS").items()}
        self.directions = {k: str(v) for k, v in _labels("DIRECTION_LABELS").items()}
        self.crm_labels = {k: str(v) for k, v in tables.CRM_LABELS.items()}

    # --- common --------------------------------------------------------------------------------------------

    def _scope_text(self) -> str:
        return gettext("Охват: %(what)s", what=self.scope_value)

    def _scope_value(self) -> str:
        if self.users is None:
            return gettext("Вся компания")
        parts = []
        if self.scope.departments:
            parts.append(gettext("Отделы: %(names)s", names=", ".join(
                self.departments.get(d) or f"#{d}" for d in self.scope.departments)))
        if self.scope.users is not None:
            parts.append(gettext("Сотрудники: %(names)s", names=", ".join(
                self.name(u) for u in self.scope.users) or "—"))
        return "; ".join(parts)

    def name(self, uid: int | None) -> str:
        if not uid:
            return self.no_manager
        return self.names.get(uid) or f"#{uid}"

    def sheet(self, title, columns: list[Column], *, note: str = "", sample=()) -> TableSheet:
        text = _s(title)
        self.sheets.append(text[:xlsx.SHEET_TITLE_MAX])
        full_note = " · ".join(p for p in (self.scope_text, note) if p)
        sheet = TableSheet(_PrintedBook(self.wb), text, columns, heading=text, period=self.period_text,
                           built=self.built_text, note=full_note, sample=sample)
        sheet.ws.print_title_rows = f"{sheet.header_row}:{sheet.header_row}"
        return sheet

    def crm_link(self, etype: str, eid: int | None):
        path = tables.crm_path(etype, eid)
        if not path:
            return None
        return (f"{self.crm_labels.get(etype, etype)} #{eid}", self.origin + path)

    def qa_link(self, item_id: int | None):
        if not item_id or not self.qa_type:
            return None
        return (self.card_text % {"n": item_id}, f"{self.origin}/crm/type/{self.qa_type}/details/{item_id}/")

    def write(self, out) -> Built:
        steps = [(SUMMARY, self.summary_sheet), (DAYS, self.days_sheet), (TOPICS, self.topics_sheet),
                 (QUALITY, self.quality_sheet), (QA_RESULTS, self.qa_results_sheet),
                 (CHECKLISTS, self.checklists_sheet), (AGENDA, self.agenda_sheet),
                 (EMPLOYEES, self.employees_sheet), (MISSED, self.missed_sheet), (CALLS, self.calls_sheet)]
        # the progress bar's share of each sheet: the list of every call is most of the work
        weights = [4, 4, 3, 3, 3, 3, 3, 4, 8, 65]
        done, calls = 0, 0
        for (title, step), weight in zip(steps, weights, strict=True):
            self.progress(min(99, done), _s(title))
            result = step()
            if title is CALLS:
                calls = result
            done += weight
        self.progress(99, gettext("Сохранение"))
        self.wb.save(out)
        self.progress(100, gettext("Готово"))
        return Built(calls=calls, sheets=list(self.sheets), file_name=file_name(self.q.first, self.q.last))

    # --- «Сводка» ------------------------------------------------------------------------------------------

    def summary_lines(self) -> list[Line]:
        now, before = cube.total(self.q, **self.kw), cube.total(self.qp, **self.kw)
        self.qa_now = qa_now = qa_figures.summary(self.q)
        qa_before = qa_figures.summary(self.qp)
        out = summary.lines(now, before)
        out.append(Line(CALLBACK_FIGURE, CALLBACK_FIGURE.value(now), CALLBACK_FIGURE.value(before)))
        out += [Line(k, k.value(qa_now), k.value(qa_before)) for k in QA_FIGURES]
        return out

    def summary_sheet(self) -> None:
        ws = self.wb.create_sheet(_s(SUMMARY))
        self.sheets.append(ws.title)
        self.summary_ws = ws
        for letter, width in (("A", 42), ("B", 22), ("C", 22), ("D", 16)):
            ws.column_dimensions[letter].width = width
        ws.freeze_panes = f"A{SUMMARY_HEADER_ROW + 1}"
        _print_setup(ws)

        def cell(value, *, font=None, fmt=None, fill=None):
            c = WriteOnlyCell(ws, value=value)
            if font is not None:
                c.font = font
            if fmt is not None:
                c.number_format = fmt
            if fill is not None:
                c.fill = fill
            return c

        before = self.qp
        # The block above the figures keeps the reading «label in A, value in B, previous in C».
        ws.append([cell(gettext("Отчёт по звонкам"), font=xlsx.TITLE_FONT)])
        ws.append([gettext("Период"), xlsx.sheet_dates(self.q.first, self.q.last),
                   xlsx.sheet_dates(before.first, before.last)])
        ws.append([gettext("Часовой пояс"), self.zone])
        ws.append([gettext("Сформирован"), cell(_local(self.now, self.tz), fmt=xlsx.FORMATS["datetime"])])
        ws.append([gettext("Охват"), self.scope_value])
        header = []
        for text in (gettext("Показатель"), label_for(self.q.first, self.q.last, self.lang),
                     gettext("Предыдущий период: %(label)s", label=label_for(before.first, before.last, self.lang)),
                     gettext("Изменение")):
            c = cell(text, font=xlsx.HEADER_FONT, fill=xlsx.HEADER_FILL)
            c.alignment = Alignment(wrap_text=True, vertical="top")
            header.append(c)
        ws.append(header)
        marks = {"bad": (xlsx.BAD_FILL, xlsx.BAD_FONT), "good": (xlsx.GOOD_FILL, xlsx.GOOD_FONT)}
        for line in self.summary_lines():
            unit = line.figure.unit
            row = [str(line.figure.label)]
            for v in (line.now, line.before):
                row.append(None if v is None else cell(v, fmt=_value_format(unit, v)))
            change = line.change
            if change is None:
                row.append(None)
            else:
                fill, font = marks.get(line.verdict, (None, None))
                row.append(cell(change, fmt=_signed_format(unit, line.now), fill=fill, font=font))
            ws.append(row)

    # --- «По дням» with the charts ----------------------------------------------------------------------

    def days_sheet(self) -> None:
        from ..analytics.overview_views import _days

        by_day = {k[0]: f for k, f in cube.figures(self.q, ("day",), **self.kw).items()}
        bars = _days(SimpleNamespace(query=self.q), by_day)  # the overview's chart: outcomes stacked by day
        cols = [Column(gettext("День"), "date"), Column(gettext("Принятые входящие"), "int"),
                Column(gettext("Пропущенные, перезвонили"), "int"), Column(gettext("Потерянные"), "int"),
                Column(gettext("Ждут перезвона"), "int"), Column(gettext("Исходящие состоявшиеся"), "int"),
                Column(gettext("Исходящие без ответа"), "int"),
                Column(_s(summary.FIGURE["incoming"].label), "int"), Column(_s(summary.FIGURE["missed"].label), "int"),
                Column(_s(summary.FIGURE["outgoing"].label), "int"),
                Column(_s(summary.FIGURE["missed_share"].label), "percent", bad_above=BAD_MISSED_SHARE),
                Column(_s(summary.FIGURE["lost_share"].label), "percent", bad_above=BAD_LOST_SHARE),
                Column(_s(summary.FIGURE["talk_minutes"].label), "minutes")]
        rows = []
        for b in bars:
            f = by_day.get(b.day) or Figures()
            rows.append([b.day, b.accepted, b.recovered, b.lost, b.awaiting, b.outgoing_connected, b.outgoing_failed,
                         f.incoming, f.missed, f.outgoing, f.missed_share, f.lost_share, f.talk_minutes])
        sh = self.sheet(DAYS, cols, sample=rows)
        sh.extend(rows)
        sh.finish()
        if rows:
            self._charts(sh)

    def _charts(self, sh: TableSheet) -> None:
        """Native charts on «Сводка» over the «По дням» table: calls by day stacked by outcome, missed vs lost."""
        top, first, last = sh.header_row, sh.first_data_row, sh.last_row
        days = Reference(sh.ws, min_col=1, min_row=first, max_row=last)

        stacked = BarChart()
        stacked.type, stacked.grouping, stacked.overlap = "col", "stacked", 100
        stacked.title = gettext("Звонки по дням")
        stacked.add_data(Reference(sh.ws, min_col=2, max_col=7, min_row=top, max_row=last), titles_from_data=True)
        stacked.set_categories(days)
        for s, color in zip(stacked.series, ("9DCF00", "2FC6F6", "FF5752", "FFA900", "7B68EE", "C6CDD3"),
                            strict=True):
            s.graphicalProperties.solidFill = color
            s.graphicalProperties.line.solidFill = color

        versus = LineChart()
        versus.title = gettext("Пропущенные и потерянные по дням")
        versus.add_data(Reference(sh.ws, min_col=9, min_row=top, max_row=last), titles_from_data=True)
        versus.add_data(Reference(sh.ws, min_col=4, min_row=top, max_row=last), titles_from_data=True)
        versus.set_categories(days)
        for s, color in zip(versus.series, ("FFA900", "FF5752"), strict=True):
            s.graphicalProperties.line.solidFill = color
            s.graphicalProperties.line.width = 28000
            s.smooth = False
        for chart in (stacked, versus):
            chart.height, chart.width = 7.5, 20
            chart.y_axis.title = gettext("Звонки")
            chart.x_axis.number_format = "DD.MM"
            chart.x_axis.delete = False
            chart.y_axis.delete = False
            chart.legend.position = "b"
        self.summary_ws.add_chart(stacked, "F2")
        self.summary_ws.add_chart(versus, "F18")

    # --- «По темам» ----------------------------------------------------------------------------------------

    def topics_sheet(self) -> None:
        from ..analytics.overview_views import calls_of

        now = {k[0]: f for k, f in cube.figures(self.q, ("topic",), **self.kw).items()}
        before = {k[0]: f for k, f in cube.figures(self.qp, ("topic",), **self.kw).items()}
        names = qa_figures.topic_names(self.pid, set(now) | set(before))
        keys = sorted((k for k in set(now) | set(before) if k),
                      key=lambda k: (-calls_of(now.get(k, Figures())), (names.get(k) or "").casefold(), k))
        if 0 in now or 0 in before:
            keys.append(0)
        values = []
        for k in keys:
            f, fb = now.get(k, Figures()), before.get(k, Figures())
            name = names.get(k) or (gettext("Без темы") if not k else f"#{k}")
            values.append([name, calls_of(f), calls_of(fb), *(c.value(f) for c in tables.FIGURE_COLUMNS)])
        fig_cols = [Column(_s(c.label), _figure_kind(c, (r[3 + i] for r in values)), **_bad(c.key))
                    for i, c in enumerate(tables.FIGURE_COLUMNS)]
        cols = [Column(gettext("Тема")), Column(gettext("Звонков"), "int"),
                Column(gettext("Звонков в предыдущем периоде"), "int"), *fig_cols]
        sh = self.sheet(TOPICS, cols, sample=values)
        sh.extend(values)
        sh.finish()

    # --- quality -------------------------------------------------------------------------------------------

    def _qa_columns(self, first: list[Column]) -> list[Column]:
        return [*first, Column(gettext("Оценено звонков"), "int"),
                Column(gettext("Средний балл, %"), "float", bad_below=qa_figures.PASS_PERCENT),
                Column(gettext("Доля прошедших (балл от %(n)s %%)", n=int(qa_figures.PASS_PERCENT)), "percent",
                       bad_below=PASS_SHARE),
                Column(gettext("Провалено критичных пунктов"), "int")]

    def quality_sheet(self) -> None:
        from ..analytics.quality_views import GROUP_LABELS, STAGE_LABELS

        s = self.qa_now
        stages = qa_figures.cards_by_stage(self.pid, self.q)
        groups = qa_figures.by_groups(self.q) if s.scored else {g: [] for g in qa_figures.GROUPS}
        self.by_manager = groups["manager"]
        rows: list[list] = []
        if s.scored:
            rows.append([gettext("Все оценки"), gettext("Итого"), s.scored, s.mean_score, s.pass_rate,
                         sum(r.critical_failed for r in self.by_manager)])
            for group in ("topic", "checklist", "reviewer"):
                found = groups[group]
                names = qa_figures.names(self.pid, group, [r.key for r in found])
                for r in found:
                    if group == "topic" and not r.key:
                        name = gettext("Без темы")
                    else:
                        name = names.get(r.key) or f"#{r.key}"
                    rows.append([str(GROUP_LABELS[group]), name, r.scored, r.mean_score, r.pass_rate,
                                 r.critical_failed])
        note = gettext("Карточки по стадиям: %(stages)s", stages=", ".join(
            f"{STAGE_LABELS[st.key]} — {st.count}" for st in stages))
        sh = self.sheet(QUALITY, self._qa_columns([Column(gettext("Разрез")), Column(gettext("Название"))]),
                        note=note, sample=rows)
        sh.extend(rows)
        sh.finish()

    def qa_results_sheet(self) -> None:
        s = self.qa_now
        rows = [[self.name(r.key), r.scored, r.mean_score, r.pass_rate, r.critical_failed] for r in self.by_manager]
        if rows:
            rows.append([gettext("Итого"), s.scored, s.mean_score, s.pass_rate,
                         sum(r.critical_failed for r in self.by_manager)])
        sh = self.sheet(QA_RESULTS, self._qa_columns([Column(gettext("Сотрудник"))]), sample=rows)
        sh.extend(rows)
        sh.finish()

    def checklists_sheet(self) -> None:
        items = qa_figures.items(self.q) if self.by_manager else []
        yes, no = gettext("да"), gettext("нет")
        rows = [[r.checklist, r.version, r.section, r.text, yes if r.critical else no, r.answered, r.failed,
                 r.failure_rate] for r in items]
        cols = [Column(gettext("Чек-лист")), Column(gettext("Версия"), "int"), Column(gettext("Раздел")),
                Column(gettext("Пункт"), width=50), Column(gettext("Критичный")), Column(gettext("Ответов"), "int"),
                Column(gettext("Провалов"), "int"),
                Column(gettext("Доля провалов"), "percent", bad_above=BAD_ITEM_FAILURE)]
        sh = self.sheet(CHECKLISTS, cols, sample=rows,
                        note=gettext("Провал — ответ «нет» или 0 баллов; ответы «не применимо» не считаются."))
        sh.extend(rows)
        sh.finish()

    def agenda_sheet(self) -> None:
        from ..calls.models import Call

        agenda = qa_figures.agenda(self.q) if self.by_manager else []
        topics = qa_figures.topic_names(self.pid, [a.topic_id for a in agenda])
        calls: dict[int, tuple] = {}
        ids = sorted({a.call_pk for a in agenda})
        for i in range(0, len(ids), 500):  # the client of each call: its number and CRM entity
            for cid, phone, etype, eid in db.session.execute(select(
                    Call.id, Call.phone_number, Call.crm_entity_type, Call.crm_entity_id).where(
                    Call.portal_id == self.pid, Call.id.in_(ids[i:i + 500]))):
                calls[cid] = (phone or "", etype or "", eid)
        rows = []
        for a in agenda:
            phone, etype, eid = calls.get(a.call_pk, ("", "", None))
            rows.append([_local(a.started, self.tz), self.name(a.manager_id), topics.get(a.topic_id, ""), phone,
                         a.percent, a.critical_failed, self.name(a.reviewer_id), a.comment,
                         self.qa_link(a.qa_item_id), self.crm_link(etype, eid)])
        cols = [Column(gettext("Звонок"), "datetime"), Column(gettext("Сотрудник")), Column(gettext("Тема")),
                Column(gettext("Клиент")),
                Column(gettext("Балл, %"), "float", bad_below=qa_figures.PASS_PERCENT),
                Column(gettext("Провалено критичных пунктов"), "int"), Column(gettext("Контролёр")),
                Column(gettext("Комментарий контролёра"), width=50), Column(gettext("Карточка оценки"), "link"),
                Column(gettext("Клиент в CRM"), "link")]
        sh = self.sheet(AGENDA, cols, sample=rows,
                        note=gettext("Звонки, отмеченные «Разобрать на планёрке»"))
        sh.extend(rows)
        sh.finish()

    # --- employees --------------------------------------------------------------------------------------

    def employees_sheet(self) -> None:
        by_user = cube.figures(self.q, ("user",), **self.kw)
        table = tables.employee_table(by_user, self.name, lambda _uid: None, "name")
        rows = [table.rows, [table.total] if table.rows and table.total else []]
        values = [[r.values.get(c.key) for c in table.columns] for r in chain(*rows)]
        cols = [Column(_s(c.label), _figure_kind(c, (v[i] for v in values)), **_bad(c.key))
                for i, c in enumerate(table.columns)]
        sh = self.sheet(EMPLOYEES, cols, sample=values)
        sh.extend(values)
        sh.finish()

    # --- missed calls and every call ------------------------------------------------------------------

    def _calls(self, outcome: str = "") -> Iterator[call_list.CallRow]:
        args = call_list.ListArgs(outcome=outcome, sort="start")
        return call_list.iter_calls(self.q, args, self.settings, self.tz, self.now)

    def missed_sheet(self) -> None:
        lost = self.outcomes["lost"]

        def line(r: call_list.CallRow) -> list:
            return [_local(r.start, self.tz), r.phone or None, self.crm_link(r.crm_type, r.crm_id),
                    self.name(r.user_id), r.line or None, r.topic or None, self.outcomes.get(r.outcome, r.outcome), _local(r.callback_at, self.tz),
                    self.name(r.callback_by) if r.callback_by else None, r.callback_seconds, r.left_seconds]

        cols = [Column(gettext("Время звонка"), "datetime"), Column(gettext("Клиент")),
                Column(gettext("Клиент в CRM"), "link"), Column(gettext("Чей звонок")), Column(gettext("Линия")),
                Column(gettext("Тема")), Column(gettext("Исход")), Column(gettext("Перезвонили"), "datetime"),
                Column(gettext("Кто перезвонил")), Column(gettext("Время до перезвона"), "duration"),
                Column(gettext("До конца окна перезвона"), "duration")]
        rows = map(line, self._calls("missed"))
        sample = list(islice(rows, xlsx.SAMPLE_ROWS))
        hours = self.settings.metrics.callback_hours
        sh = self.sheet(MISSED, cols, sample=sample, note=gettext(
            "Все пропущенные входящие; «%(lost)s» — не перезвонили за %(h)s ч", lost=lost, h=hours))
        stream(sh, chain(sample, rows))
        sh.finish()
        if sh.rows:
            top = f"$G{sh.first_data_row}"
            sh.ws.conditional_formatting.add(
                f"A{sh.first_data_row}:K{sh.last_row}",
                FormulaRule(formula=[f'{top}="{xlsx._quote(lost)}"'], fill=xlsx.BAD_FILL, font=xlsx.BAD_FONT))

    def calls_sheet(self) -> int:
        yes = gettext("да")

        def line(r: call_list.CallRow) -> list:
            return [_local(r.start, self.tz), self.name(r.user_id), self.directions.get(r.call_type), r.phone or None,
                    r.line or None, r.topic or None, self.outcomes.get(r.outcome, r.outcome), yes if r.successful else None,
                    r.wait, r.talk, r.duration, r.vote, r.qa_percent, self.crm_link(r.crm_type, r.crm_id),
                    self.qa_link(r.qa_item_id), r.call_id]

        cols = [Column(gettext("Начало"), "datetime"), Column(gettext("Сотрудник")), Column(gettext("Направление")),
                Column(gettext("Номер клиента")), Column(gettext("Линия")), Column(gettext("Тема")),
                Column(gettext("Исход")), Column(gettext("Успешный")), Column(gettext("Ожидание, с"), "seconds"),
                Column(gettext("Разговор"), "duration"), Column(gettext("Длительность"), "duration"),
                Column(gettext("Оценка клиента"), "int"),
                Column(gettext("Оценка качества, %"), "float", bad_below=qa_figures.PASS_PERCENT),
                Column(gettext("Клиент в CRM"), "link"), Column(gettext("Карточка оценки"), "link"),
                Column(gettext("ID звонка"), width=24)]
        rows = map(line, self._calls())
        sample = list(islice(rows, xlsx.SAMPLE_ROWS))
        sh = self.sheet(CALLS, cols, sample=sample)
        n = stream(sh, chain(sample, rows))
        sh.finish()
        return n


class _PrintedBook:
    """The workbook as TableSheet sees it: its sheets get the print setup before their first row, when a
    write-only sheet writes its properties."""

    def __init__(self, wb):
        self.wb = wb

    def create_sheet(self, title):
        ws = self.wb.create_sheet(title)
        _print_setup(ws)
        return ws


def _print_setup(ws) -> None:
    """Printed (or converted to PDF) landscape, as wide as the page, the header repeated on every page."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = "9"  # A4
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True


def _labels(name: str) -> dict:
    from ..analytics import calls_views

    return getattr(calls_views, name)
