"""The pivot: rows, columns and a measure chosen from the same figures, with totals."""

from __future__ import annotations

from flask import jsonify, redirect, render_template, request
from flask_babel import format_date, gettext
from flask_babel import lazy_gettext as _
from sqlalchemy import select

from ..extensions import db
from ..messages import register
from ..portals.models import PortalDepartment, PortalUser
from . import pivot as pv
from .blueprint import bp
from .cube import SCENARIO_NAMES
from .models import DIR_IN, DIR_OTHER, DIR_OUT
from .page import SCENARIO_LABELS, Page, analytics_view, layout, refuse, tab, wants_json, wants_xlsx
from .summary import display
from .view import ViewError

tab("analytics.pivot", _("Сводная"), 90)

register({
    "analytics.pivot_bad_group": _("Настройка сводной таблицы указана неверно. Выберите строки, столбцы и "
                                   "показатель в форме над таблицей."),
    "analytics.pivot_bad_dimension": _("Такого разреза для строк или столбцов нет. Выберите его из списка."),
    "analytics.pivot_bad_measure": _("Такого показателя нет. Выберите показатель из списка."),
    "analytics.pivot_same_dimension": _("Строки и столбцы сводной таблицы должны быть разными."),
})

DIMENSION_LABELS = {"manager": _("Сотрудник"), "department": _("Отдел"), "line": _("Линия"),
                    "direction": _("Направление"), "scenario": _("Время звонка"), "topic": _("Тема"),
                    "day": _("День"), "weekday": _("День недели"), "month": _("Месяц")}
WEEKDAYS = (_("Пн"), _("Вт"), _("Ср"), _("Чт"), _("Пт"), _("Сб"), _("Вс"))


def departments_of(portal_id: int, only: frozenset[int] | None) -> tuple[dict[int, frozenset[int]], dict[int, str]]:
    """Each department's users with its sub-departments' (as `access.department_users` counts them), in two
    queries for the whole portal; `only` limits which departments become rows (a head's own)."""
    rows = db.session.execute(select(PortalDepartment.department_id, PortalDepartment.parent_id,
                                     PortalDepartment.name).where(PortalDepartment.portal_id == portal_id)).all()
    children: dict[int, list[int]] = {}
    for did, parent, _name in rows:
        if parent is not None:
            children.setdefault(parent, []).append(did)
    direct: dict[int, set[int]] = {}
    for uid, deps in db.session.execute(select(PortalUser.user_id, PortalUser.departments)
                                        .where(PortalUser.portal_id == portal_id)):
        for d in deps or ():
            if isinstance(d, int):
                direct.setdefault(d, set()).add(uid)
    out: dict[int, frozenset[int]] = {}
    for did, _parent, _name in rows:
        if only is not None and did not in only:
            continue
        seen, todo, users = set(), [did], set()
        while todo:  # `seen` also stops a parent cycle in the portal's data
            d = todo.pop()
            if d not in seen:
                seen.add(d)
                users |= direct.get(d, set())
                todo.extend(children.get(d, ()))
        out[did] = frozenset(users)
    return out, {did: name for did, _p, name in rows}


def _labels(page: Page, names: dict) -> dict:
    scenarios = dict(SCENARIO_LABELS)
    directions = {DIR_IN: _("Входящие"), DIR_OUT: _("Исходящие"), DIR_OTHER: _("Другие")}
    return {
        "manager": page.user_name,
        "department": lambda k: names["department"].get(k) or f"#{k}",
        "line": lambda k: k or gettext("Без линии"),
        "direction": lambda k: str(directions.get(k, k)),
        "scenario": lambda k: str(scenarios.get(SCENARIO_NAMES.get(k), k)),
        "topic": lambda k: names["topic"].get(k) or (gettext("Без темы") if not k else f"#{k}"),
        "day": lambda k: format_date(k, "dd.MM.yyyy"),
        "weekday": lambda k: str(WEEKDAYS[k]),
        "month": lambda k: format_date(k, "LLLL yyyy").capitalize(),
    }


def _spec(page: Page) -> pv.Spec:
    return pv.parse_spec(page.state.group)



@bp.route("/b24/analytics/pivot", methods=["GET", "POST"])
@analytics_view
def pivot(page: Page):
    try:
        if any(k in request.args for k in ("rows", "cols", "measure")):
            # The JS-free form: its choice becomes the URL state, and the page its bookmarkable address.
            rows, cols, measure = (request.args.get(k, "") for k in ("rows", "cols", "measure"))
            if rows == cols:  # one side was moved onto the other: they swap instead of refusing
                current = _spec(page)
                rows, cols = (rows, current.rows) if rows != current.rows else (current.cols, cols)
                if rows == pv.NONE:
                    rows, cols = cols, pv.NONE
            chosen = pv.checked(rows, cols, measure)
            return redirect(page.url(group=chosen.text), 303)
        spec = _spec(page)
    except ViewError as exc:
        return refuse(exc)
    pid = page.viewer.portal_id
    sides = {spec.rows, spec.cols}
    deps, dep_names = ({}, {})
    if "department" in sides:
        # A head sees his departments as rows; a manager's own calls fall in the departments he is in.
        deps, dep_names = departments_of(pid, page.scope.departments if page.scope.kind == "departments" else None)
    p = pv.build(page.query, spec, departments=deps, now=page.now, settings=page.settings)
    topic_names = {}
    if "topic" in sides:
        from .qa_figures import topic_names as _topic_names

        keys = p.rows if spec.rows == "topic" else p.cols
        topic_names = _topic_names(pid, keys)
    label = _labels(page, {"department": dep_names, "topic": topic_names})
    measure = p.measure
    hours = measure.key == "talk_minutes" and page.state.unit == "h"

    def val(f):
        v = p.value(f)
        return v / 60 if hours and v is not None else v

    def text(f):
        return display(val(f), measure.unit)

    def head(dim, key):
        return label[dim](key) if key is not None else gettext("Итого")

    rows = [{"key": pv.key_json(r), "label": head(spec.rows, r),
             "cells": [{"value": val(p.cells.get((r, c))), "text": text(p.cells.get((r, c)))} for c in p.cols],
             "total": {"value": val(p.row_totals.get(r)), "text": text(p.row_totals.get(r))}} for r in p.rows]
    cols = [{"key": pv.key_json(c), "label": head(spec.cols, c) if spec.cols != pv.NONE else gettext("Итого"),
             "total": {"value": val(p.col_totals.get(c)), "text": text(p.col_totals.get(c))}} for c in p.cols]
    measure_label = gettext("Время разговоров, ч") if hours else str(measure.label)
    data = {
        "spec": {"rows": spec.rows, "cols": spec.cols, "measure": spec.measure, "group": spec.text},
        "measure": {"key": measure.key, "label": measure_label, "unit": "h" if hours else measure.unit},
        "rows": rows, "cols": cols, "total": {"value": val(p.total), "text": text(p.total)},
        "rows_all": p.rows_all, "cols_all": p.cols_all, "truncated": p.truncated,
        "limits": {"rows": pv.MAX_ROWS, "cols": pv.MAX_COLS},
    }
    if wants_xlsx():
        from ..reports import view_export

        return view_export.pivot(page, data, DIMENSION_LABELS, spec.cols == pv.NONE)
    if wants_json():
        return jsonify(data)
    keep = {k: v for k, v in page.state.to_args().items() if k != "group"}
    return render_template(
        "analytics/pivot.html", **layout(page), pivot=data, spec=spec, one_col=spec.cols == pv.NONE,
        dimensions=[(d, DIMENSION_LABELS[d]) for d in pv.DIMENSIONS], none=pv.NONE,
        measures=[(k.key, k.label) for k in pv.MEASURES.values()], keep=keep,
        swap_url=page.url(group=pv.Spec(spec.cols, spec.rows, spec.measure).text)
        if spec.cols != pv.NONE else None)
