"""The call list with filters and sorting, and one call opened: recording, client, QA card."""

from __future__ import annotations

from flask import g, jsonify, render_template, request, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _

from ..messages import message
from ..portals.frame import frame_api
from ..portals.roles import names_for
from ..qa.bootstrap import setup_for
from ..qa.routes import stream_record
from . import access, call_list, summary
from .blueprint import bp
from .page import TABS, Page, analytics_view, layout, refuse, tab, wants_json, wants_xlsx
from .view import ViewError

tab("analytics.calls", _("Звонки"), 60)

DIRECTION_LABELS = {1: _("Исходящий"), 2: _("Входящий"), 3: _("Входящий с переадресацией"), 4: _("Обратный звонок"),
                    5: _("Информационный")}
OUTCOME_LABELS = {"accepted": _("Принят"), "recovered": _("Перезвонили"), "lost": _("Потерян"),
                  "awaiting": _("Ждёт перезвона"), "outgoing_connected": _("Дозвонились"),
                  "outgoing_failed": _("Не дозвонились"), "other": _("Информационный")}
OUTCOME_FILTERS = (("accepted", _("Принятые")), ("missed", _("Пропущенные")), ("recovered", _("Перезвонили")),
                   ("lost", _("Потерянные")), ("awaiting", _("Ждут перезвона")), ("successful", _("Успешные")),
                   ("outgoing_connected", _("Исходящие с ответом")), ("outgoing_failed", _("Исходящие без ответа")))
CRM_LABELS = {"CONTACT": _("Контакт"), "COMPANY": _("Компания"), "LEAD": _("Лид"), "DEAL": _("Сделка")}


def clock(seconds) -> str:
    """A call's duration as telephony lists show it: 0:45, 12:05, 1:02:05; — for unknown."""
    if seconds is None:
        return "—"
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def span(seconds) -> str:
    """A time to callback or until the window closes, in words: 40 с, 35 мин, 2 ч 05 мин."""
    s = max(int(seconds or 0), 0)
    if s < 60:
        return gettext("%(s)s с", s=s)
    if s < 3600:
        return gettext("%(m)s мин", m=s // 60)
    return gettext("%(h)s ч %(m)s мин", h=s // 3600, m=f"{s % 3600 // 60:02d}")


def local_time(page: Page, moment) -> str:
    return moment.astimezone(page.tz).strftime("%d.%m.%Y %H:%M") if moment else "—"



def _call_url(page: Page, args: call_list.ListArgs, call_id: int) -> str:
    return url_for("analytics.call", call_id=call_id, ft=g.frame_token, **page.state.to_args(), **args.to_args())


def _list_url(pg: Page, args: call_list.ListArgs, **changes) -> str:
    state = pg.state.replace(**changes) if changes else pg.state
    return url_for("analytics.calls", ft=g.frame_token, **state.to_args(), **args.to_args())


def _row_json(page: Page, r: call_list.CallRow, args: call_list.ListArgs) -> dict:
    return {
        "id": r.id, "call_id": r.call_id, "start": r.start.astimezone(page.tz).isoformat(),
        "manager_id": r.user_id, "manager": page.user_name(r.user_id), "call_type": r.call_type,
        "direction": str(DIRECTION_LABELS.get(r.call_type, "")), "phone": r.phone,
        "crm": {"type": r.crm_type, "id": r.crm_id} if r.crm_type and r.crm_id else None, "line": r.line,
        "topic_id": r.topic_id, "topic": r.topic, "talk_seconds": r.talk, "wait_seconds": r.wait,
        "duration_seconds": r.duration, "outcome": r.outcome, "successful": r.successful,
        "callback_seconds": r.callback_seconds, "callback_by": r.callback_by,
        "window_left_seconds": r.left_seconds, "vote": r.vote, "qa_item_id": r.qa_item_id,
        "qa_status": r.qa_status or None, "qa_percent": r.qa_percent, "has_record": r.has_record,
        "url": _call_url(page, args, r.id),
    }


@bp.route("/b24/analytics/calls", methods=["GET", "POST"])
@analytics_view
def calls(page: Page):
    try:
        args = call_list.parse_args(request.args, page.state.sort)
    except ViewError as exc:
        return refuse(exc)
    if wants_xlsx():  # every call of the list, streamed: not the page's fifty
        from ..reports import view_export

        return view_export.calls(page, args, view_export.portal_base(page.viewer.portal_id))
    result = call_list.list_calls(page.query, args, page.settings, page.tz, page.now, page.state.page)
    if wants_json():
        return jsonify(total=call_list.COUNT_CAP if result.capped else result.total, total_capped=result.capped,
                       page=result.page, pages=result.pages, per_page=result.per_page, has_next=result.has_next,
                       sort=args.sort, phone=args.phone or None, outcome=args.outcome or None,
                       first=page.query.first.isoformat(), last=page.query.last.isoformat(),
                       calls=[_row_json(page, r, args) for r in result.rows])

    def sort_url(key: str) -> str:
        current = args.sort
        target = key if current == f"-{key}" else f"-{key}"  # a click sorts descending first, then flips
        return _list_url(page, args, sort=target, page=1)

    hidden = [(k, v) for k, vs in page.state.replace(page=1).to_args().items()
              for v in (vs if isinstance(vs, list) else [vs])]
    return render_template(
        "analytics/calls.html", **layout(page), args=args, result=result, cap=call_list.COUNT_CAP,
        outcome_filters=OUTCOME_FILTERS, outcome_labels=OUTCOME_LABELS, directions=DIRECTION_LABELS,
        crm_labels=CRM_LABELS, clock=clock, span=span, local_time=lambda m: local_time(page, m),
        show=summary.display, sort_url=sort_url, page_url=lambda n: _list_url(page, args, page=n),
        call_url=lambda cid: _call_url(page, args, cid), hidden=hidden,
        phone_url=lambda phone: url_for("analytics.calls", ft=g.frame_token,
                                        **page.state.replace(page=1).to_args(), phone=phone))


@bp.route("/b24/analytics/calls/<int:call_id>", methods=["GET", "POST"])
@analytics_view
def call(page: Page, call_id: int):
    row = call_list.one_call(page.viewer.portal_id, call_id, page.settings, page.now)
    if row is None:
        return refuse(ViewError("calls_list.not_found", 404))
    if not page.scope.allows_user(row.user_id or 0):
        return refuse(ViewError("calls_list.forbidden", 403))
    try:
        args = call_list.parse_args(request.args, page.state.sort)
    except ViewError:
        args = call_list.ListArgs()  # the way back to the list; a bad one there says so itself
    qa_path = None
    if row.qa_item_id:
        setup = setup_for(page.viewer.portal_id)
        if setup is not None and setup.entity_type_id:
            qa_path = f"/crm/type/{setup.entity_type_id}/details/{row.qa_item_id}/"
    crm_path = (f"/crm/{row.crm_type.lower()}/details/{row.crm_id}/"
                if row.crm_type in CRM_LABELS and row.crm_id else None)
    record_url = url_for("analytics.call_record", call_id=row.id, ft=g.frame_token) if row.has_record else None
    # who called the client back may be outside the viewer's names (another department's colleague)
    callback_name = names_for(page.viewer.portal_id, [row.callback_by]).get(row.callback_by) if row.callback_by else ""
    if wants_json():
        return jsonify(call={**_row_json(page, row, args), "crm_path": crm_path, "qa_path": qa_path,
                             "record_url": record_url, "callback_by_name": callback_name or None})
    return render_template(
        "analytics/call.html", page=page, tabs=TABS, row=row, args=args, qa_path=qa_path, crm_path=crm_path,
        record_url=record_url, back_url=_list_url(page, args), outcome_labels=OUTCOME_LABELS,
        directions=DIRECTION_LABELS, crm_labels=CRM_LABELS, clock=clock, span=span,
        local_time=lambda m: local_time(page, m), callback_name=callback_name)


@bp.get("/b24/analytics/calls/<int:call_id>/record")
@frame_api
def call_record(call_id: int):
    """The call's recording for the player on the call page: this portal's call, in the viewer's scope."""
    v = g.viewer
    found = call_list.recording_of(v.portal_id, call_id)
    if found is None:
        return jsonify(error=message("calls_list.not_found"), key="calls_list.not_found"), 404
    manager, file_id = found
    if not access.scope_for(v).allows_user(manager or 0):
        return jsonify(error=message("calls_list.forbidden"), key="calls_list.forbidden"), 403
    return stream_record(v.portal_id, file_id)

