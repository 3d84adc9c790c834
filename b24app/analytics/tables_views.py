"""Tables per employee, department, line and client, and the by-day and hour × weekday charts."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import current_app, jsonify, render_template
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ..extensions import db
from ..portals.models import Portal, PortalDepartment
from . import access, cube, tables
from .blueprint import bp
from .page import Page, analytics_view, layout, refuse, tab, wants_json, wants_xlsx
from .view import ViewError

tab("analytics.employees", _l("Сотрудники"), 20)
tab("analytics.departments", _l("Отделы"), 30)
tab("analytics.lines", _l("Линии"), 40)
tab("analytics.hours", _l("По часам"), 45)
tab("analytics.clients", _l("Клиенты"), 50)

LINE_GROUPS = ("", "direction")



def _link(page: Page, endpoint: str, **changes) -> str | None:
    """Another page with this view's period and filters and `changes`, from its first page in its own order;
    None (the row stays plain) when that page is not in this build."""
    if endpoint not in current_app.view_functions:
        return None
    return page.url(endpoint, **{"sort": "", "page": 1, "group": "", **changes})


def _no_group(page: Page) -> None:
    if page.state.group:
        raise ViewError("analytics.bad_group")


def _figures(page: Page, group_by: tuple[str, ...]) -> dict:
    return cube.figures(page.query, group_by, settings=page.settings, now=page.now)


def _render(page: Page, table: tables.Table, *, kind: str, title, hints=(), **extra):
    if wants_xlsx():
        from ..reports import view_export

        return view_export.table(page, table, kind=kind, title=title, portal_base=extra.get("portal_base", ""))
    if wants_json():
        return jsonify({"kind": kind, "period": {"first": page.state.period.first.isoformat(),
                                                 "last": page.state.period.last.isoformat()},
                        "unit": page.state.unit, **table.as_json(), **extra.pop("json", {})})
    extra.pop("json", None)
    return render_template("analytics/table.html", **layout(page), table=table, kind=kind, title=title,
                           hints=hints, text=tables.text, **extra)


@bp.route("/b24/analytics/employees", methods=["GET", "POST"])
@analytics_view
def employees(page: Page):
    try:
        _no_group(page)
        table = tables.employee_table(
            _figures(page, ("user",)), page.user_name,
            lambda uid: _link(page, "analytics.calls", users=(uid,)), page.state.sort)
    except ViewError as exc:
        return refuse(exc)
    return _render(page, table, kind="employees", title=_l("Показатели сотрудников"),
                   hints=[_l("Нажмите на строку, чтобы открыть звонки сотрудника.")])


def _departments(page: Page) -> list[tables.Department]:
    """The departments the viewer may see (a filter by department narrows them to those and their sub-departments)."""
    rows = db.session.execute(select(PortalDepartment.department_id, PortalDepartment.name, PortalDepartment.parent_id)
                              .where(PortalDepartment.portal_id == page.viewer.portal_id)).all()
    names = {did: name for did, name, _ in rows}
    visible = {did for did, _, _ in rows if page.scope.departments is None or did in page.scope.departments}
    if page.state.departments:
        children: dict[int, list[int]] = {}
        for did, _, parent in rows:
            children.setdefault(parent, []).append(did)
        wanted, todo = set(), list(page.state.departments)
        while todo:
            did = todo.pop()
            if did not in wanted:
                wanted.add(did)
                todo.extend(children.get(did, ()))
        visible &= wanted
    parents = {did: parent for did, _, parent in rows}
    # The parent is named beside a sub-department, not beside the company's own first-level departments.
    return [tables.Department(did, name or f"#{did}",
                              (names.get(parent) or "") if parents.get(parent) is not None else "")
            for did, name, parent in rows if did in visible]


@bp.route("/b24/analytics/departments", methods=["GET", "POST"])
@analytics_view
def departments(page: Page):
    try:
        _no_group(page)
        deps = _departments(page)
        pid = page.viewer.portal_id
        members = {d.department_id: access.department_users(pid, [d.department_id]) for d in deps}
        by_user = _figures(page, ("user",))
        # The totals row counts every call once, whoever's departments it falls in: the scope's own figure.
        total = tables.summed(by_user.values())
        table, idle = tables.department_table(
            deps, members, by_user, total, lambda did: _link(page, "analytics.employees", departments=(did,)),
            page.state.sort)
    except ViewError as exc:
        return refuse(exc)
    hints = [_l("Отдел включает свои подотделы. Сотрудник, который состоит в нескольких отделах, учитывается "
                "в каждом из них, поэтому сумма строк может быть больше итога: итог считает каждый звонок один раз.")]
    return _render(page, table, kind="departments", title=_l("Показатели отделов"), hints=hints,
                   idle=idle, json={"idle": [d.department_id for d in idle]})


@bp.route("/b24/analytics/lines", methods=["GET", "POST"])
@analytics_view
def lines(page: Page):
    try:
        group = page.state.group
        if group not in LINE_GROUPS:
            raise ViewError("analytics.bad_group")
        grouped = group == "direction"

        def link(line: str, direction: int | None) -> str:
            d = tables.DIRECTION_KEYS.get(direction)
            return _link(page, "analytics.employees", lines=(line,), **({"directions": (d,)} if d else {}))

        table = tables.line_table(_figures(page, ("line", "direction") if grouped else ("line",)), grouped, link,
                                  page.state.sort)
    except ViewError as exc:
        return refuse(exc)
    return _render(page, table, kind="lines", title=_l("Показатели линий"), grouped=grouped,
                   hints=[_l("Нажмите на строку, чтобы увидеть сотрудников этой линии.")],
                   json={"group": group})


def _portal_base(portal_id: int) -> str:
    domain, protocol = db.session.execute(select(Portal.domain, Portal.protocol).where(Portal.id == portal_id)).one()
    return f"{'https' if protocol == 1 else 'http'}://{domain}"


@bp.route("/b24/analytics/clients", methods=["GET", "POST"])
@analytics_view
def clients(page: Page):
    try:
        _no_group(page)
        found = tables.clients(page.query, page.settings, page.tz)

        calls = _link(page, "analytics.calls")

        def link(phone: str) -> str | None:
            return calls and calls + "&" + urlencode({"phone": phone})

        # The download holds every client; the page one page of them
        table = tables.client_table(found, link, page.state.sort, page.state.page,
                                    None if wants_xlsx() else tables.CLIENTS_PER_PAGE)
    except ViewError as exc:
        return refuse(exc)
    per_page = tables.CLIENTS_PER_PAGE
    more = page.state.page * per_page < table.count
    return _render(page, table, kind="clients", title=_l("Клиенты"),
                   hints=[_l("Клиент — номер телефона; карточка CRM открывается из последнего звонка, "
                             "к которому она привязана. Нажмите на номер, чтобы открыть звонки клиента.")],
                   portal_base=_portal_base(page.viewer.portal_id), per_page=per_page,
                   first=(page.state.page - 1) * per_page + 1 if table.rows else 0,
                   last_shown=(page.state.page - 1) * per_page + len(table.rows),
                   next_url=page.url(page=page.state.page + 1) if more else None,
                   prev_url=page.url(page=page.state.page - 1) if page.state.page > 1 else None,
                   json={"page": page.state.page, "per_page": per_page})


@bp.route("/b24/analytics/hours", methods=["GET", "POST"])
@analytics_view
def hours(page: Page):
    try:
        _no_group(page)
        if page.state.sort:
            raise ViewError("analytics.bad_sort")
    except ViewError as exc:
        return refuse(exc)
    q = page.query
    by_day = _figures(page, ("day",))
    days = tables.day_series(q.first, q.last, by_day)
    cells = cube.by_hour(q)
    grid, top = tables.heat(cells)
    peaks = tables.busiest(cells)
    if wants_xlsx():
        from ..reports import view_export

        return view_export.hours(page, days, tables.summed(by_day.values()), grid, peaks)
    if wants_json():
        return jsonify({"kind": "hours", "days": [{**d, "day": d["day"].isoformat()} for d in days],
                        "heat": [c for row in grid for c in row if c["calls"]], "busiest": peaks})
    chart = {"labels": [d["day"].strftime("%d.%m") for d in days],
             "series": [{"key": key, "label": str(label), "data": [d[key] for d in days]}
                        for key, label in tables.DAY_SERIES]}
    return render_template("analytics/hours.html", **layout(page), days=days, chart=chart, grid=grid, top=top,
                           peaks=peaks, weekdays=tables.WEEKDAYS, weekday_names=tables.WEEKDAY_NAMES, series=tables.DAY_SERIES)
