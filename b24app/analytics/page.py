"""What every analytics page starts from: the viewer's URL state parsed and checked against his role,
the cube query it becomes, the names the filter bar offers, and links that keep the state."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from flask import g, jsonify, render_template, request, url_for
from sqlalchemy import select

from ..extensions import db
from ..models_base import utcnow
from ..portals import roles
from ..portals.frame import placement_view
from . import access, cube
from .recount import portal_tz, version
from .settings import Settings, load
from .view import ViewError, ViewState, parse

# The tabs of the analytics pages: (endpoint, label), kept in `order`.
TABS: list[tuple[str, object]] = []
_ORDER: dict[str, int] = {}


def tab(endpoint: str, label, order: int) -> None:
    """A page module adds its tab at import; `order` places it (overview 10, employees 20, departments 30,
    lines 40, clients 50, calls 60, missed board 70, quality 80, pivot 90)."""
    if endpoint not in _ORDER:
        _ORDER[endpoint] = order
        TABS.append((endpoint, label))
        TABS.sort(key=lambda t: _ORDER[t[0]])


@dataclass
class Page:
    viewer: object
    state: ViewState
    scope: access.Scope
    users: frozenset[int] | None       # whose calls count (scope ∩ filters); None: everyone's
    query: cube.Query
    tz: timezone
    settings: Settings
    today: date
    now: datetime
    names: dict[int, str] = field(default_factory=dict)  # the portal's employees the viewer may see
    version: int = 0  # the figures' version, read before them: the live refresh starts from it

    @property
    def previous(self) -> cube.Query:
        """The period to compare with (LocalPeriod.previous: a calendar unit before a calendar unit)."""
        p = self.state.period.previous()
        return self.query.between(p.first, p.last)

    def url(self, endpoint: str | None = None, **changes) -> str:
        """This view (or another page) with some of the state changed; the frame token rides along."""
        state = self.state.replace(**changes) if changes else self.state
        return url_for(endpoint or request.endpoint, ft=g.frame_token, **state.to_args())

    def user_name(self, user_id: int | None) -> str:
        if not user_id:
            from flask_babel import gettext

            return gettext("Без сотрудника")
        return self.names.get(user_id) or f"#{user_id}"


def open_page() -> Page:
    """Parse and check the request's state for `g.viewer`; raise ViewError (4xx) for anything wrong."""
    v = g.viewer
    seen = version(v.portal_id)
    tz = portal_tz(v.portal_id)
    now = utcnow()
    today = now.astimezone(tz).date()
    state = parse(request.args, portal_id=v.portal_id, today=today)
    scope = access.scope_for(v)
    users = access.effective_users(scope, state, v.portal_id)
    p = state.period
    q = cube.Query(v.portal_id, p.first, p.last, users=users,
                   lines=frozenset(state.lines) if state.lines else None,
                   directions=frozenset(state.directions) if state.directions else None,
                   topics=frozenset(state.topics) if state.topics else None,
                   scenarios=frozenset(state.scenarios) if state.scenarios else None)
    names = roles.names_for(v.portal_id, _visible_users(v.portal_id, scope))
    return Page(v, state, scope, users, q, tz, load(v.portal_id), today, now, names, seen)


def _visible_users(portal_id: int, scope: access.Scope):
    from ..portals.models import PortalUser

    ids = db.session.scalars(select(PortalUser.user_id).where(PortalUser.portal_id == portal_id)).all()
    return [u for u in ids if scope.users is None or u in scope.users]


def wants_json() -> bool:
    fmt = request.args.get("format")
    return fmt == "json" or (fmt != "xlsx" and request.accept_mimetypes.best == "application/json")


def wants_xlsx() -> bool:
    """«Выгрузить в Excel» (A14): the view's figures as a workbook download (reports/view_export.py)."""
    return request.args.get("format") == "xlsx"


# A view's own URL arguments beside the state (the call list's number and outcome): an export keeps them.
OWN_ARGS = ("phone", "outcome")


# The views that answer `?format=xlsx` with a workbook; another tab in the frame (the report builder) has no button.
XLSX_VIEWS = frozenset({"analytics.reports", "analytics.employees", "analytics.departments", "analytics.lines",
                        "analytics.hours", "analytics.clients", "analytics.calls", "analytics.missed",
                        "analytics.quality", "analytics.pivot"})


def xlsx_url(page: Page) -> str | None:
    """This view as an Excel download: its state (every page of it), its own arguments and the frame token."""
    if request.endpoint not in XLSX_VIEWS:
        return None
    own = {k: request.args.getlist(k) for k in OWN_ARGS if request.args.get(k)}
    return url_for(request.endpoint, ft=g.frame_token, **(request.view_args or {}),
                   **page.state.replace(page=1).to_args(), **own, format="xlsx")


def analytics_view(fn):
    """A page of the analytics: the viewer from the placement or the frame token, the state parsed
    into `page` (the view's first argument); a bad state, or a ViewError the view raises, is a 4xx
    page (or JSON) in the viewer's language, never a 500."""

    @placement_view
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(open_page(), *args, **kwargs)
        except ViewError as exc:  # the URL state, or a page's own arguments, refused
            return refuse(exc)

    return wrapper


def refuse(exc: ViewError):
    """A refused analytics request: the message in the viewer's language, as JSON or as a page."""
    if wants_json():
        return jsonify(error=exc.text), exc.status
    return render_template("analytics/error.html", text=exc.text), exc.status


def filter_options(page: Page) -> dict:
    """What the filter bar offers: employees, departments, lines and topics of the viewer's scope."""
    from ..calls.models import Call
    from ..portals.models import PortalDepartment
    from ..topics.models import Topic

    pid = page.viewer.portal_id
    deps = db.session.execute(select(PortalDepartment.department_id, PortalDepartment.name).where(
        PortalDepartment.portal_id == pid).order_by(PortalDepartment.name)).all()
    if page.scope.departments is not None:
        deps = [d for d in deps if d[0] in page.scope.departments]
    elif page.scope.users is not None:
        deps = []
    from .models import CallStat

    # The lines of the period, from the line grain's cells (a few thousand), not every cell there is
    lines = db.session.scalars(select(CallStat.line).where(
        CallStat.portal_id == pid, CallStat.grain == 3, CallStat.day >= page.query.first,
        CallStat.day <= page.query.last, CallStat.line != "").distinct().order_by(CallStat.line)).all()
    lines = sorted(set(lines) | set(page.state.lines))  # a chosen line stays offered in a period without it
    if not lines:
        lines = db.session.scalars(select(Call.portal_number).where(Call.portal_id == pid, Call.portal_number != "")
                                   .distinct().limit(200)).all()
    topics = db.session.execute(select(Topic.id, Topic.name, Topic.color).where(Topic.portal_id == pid)
                                .order_by(Topic.position, Topic.name)).all()
    users = sorted(page.names.items(), key=lambda kv: kv[1])
    return {"users": users, "departments": deps, "lines": list(lines), "topics": topics}


def layout(page: Page) -> dict:
    """The context `analytics/_layout.html` needs; a view adds its own to it."""
    from flask_babel import lazy_gettext as _l

    from .periods import resolve

    period_keys = [("today", _l("Сегодня")), ("yesterday", _l("Вчера")), ("week", _l("Неделя")),
                   ("month", _l("Месяц")), ("quarter", _l("Квартал")), ("year", _l("Год")),
                   ("3m", _l("3 месяца")), ("30d", _l("30 дней"))]
    partial = request.args.get("partial") == "1"  # live refresh: the page's own block, no frame around it
    return {
        "layout_template": "analytics/_partial.html" if partial else "analytics/_layout.html",
        "stats_version": page.version,
        "page": page, "tabs": TABS, "filters": filter_options(page), "period_keys": period_keys,
        "period_url": lambda key: page.url(period=resolve(key, page.today), page=1),
        "scenario_labels": SCENARIO_LABELS,
        "export_url": xlsx_url(page),
    }


def _scenario_labels():
    from flask_babel import lazy_gettext as _l

    return [("work", _l("Рабочее время")), ("after_hours", _l("Нерабочее время")),
            ("weekend", _l("Выходные")), ("holiday", _l("Праздники"))]


SCENARIO_LABELS = _scenario_labels()
