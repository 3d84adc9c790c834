"""Calibration pages: the settings section (start a round, see rounds), the blind form and the results."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, g, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _
from sqlalchemy import select

from ..calls.models import Call
from ..extensions import db
from ..messages import message, register
from ..models_base import utcnow
from ..portals.frame import frame_api, require_role
from ..portals.roles import names_for
from ..portals.routes import render_settings
from ..portals.sections import register as register_section
from . import calibration, clock, history, review
from .models import ChecklistVersion
from .routes import write_json
from .scoring import SCALES

bp = Blueprint("qa_calibration", __name__)
RECENT_DAYS, RECENT_CARDS = 30, 40

register({
    "calibration.created": _("Калибровка начата: контролёры увидят звонок в разделе «Калибровка»."),
    "calibration.bad_card": _("Выберите звонок с карточкой оценки."),
    "calibration.bad_reviewers": _("Выберите от 2 до 10 контролёров качества."),
    "calibration.own_call": _("Менеджер звонка не может участвовать в его калибровке."),
    "calibration.not_found": _("Калибровка не найдена."),
    "calibration.not_invited": _("Вас нет среди участников этой калибровки."),
    "calibration.submitted": _("Оценка для калибровки отправлена. Результаты откроются, когда оценят все участники."),
    "calibration.already_submitted": _("Вы уже отправили оценку в этой калибровке; изменить её нельзя."),
})


def _context(viewer) -> dict:
    if not (viewer.has("admin") or viewer.has("qa")):
        return {"calibration_visible": False}
    pid = viewer.portal_id
    rounds = calibration.calibrations(pid)
    by_round = calibration.scores_by_round(pid, rounds)
    progress = {c.id: (sum(1 for s in by_round[c.id] if s.status == "submitted"), len(c.reviewers)) for c in rounds}
    mine = [c for c in rounds if viewer.user_id in c.reviewers]
    ctx = {"calibration_visible": True, "calibration_rounds": rounds if viewer.has("admin") else mine,
           "calibration_progress": progress,
           "calibration_mine": {c.id: next((s for s in by_round[c.id] if s.reviewer_id == viewer.user_id), None)
                                for c in mine}}
    if viewer.has("admin"):
        recent = db.session.execute(
            select(Call.qa_item_id, Call.call_start_date, Call.phone_number, Call.portal_user_id)
            .where(Call.portal_id == pid, Call.qa_item_id > 0, Call.call_start_date >= utcnow() - timedelta(days=RECENT_DAYS))
            .order_by(Call.call_start_date.desc()).limit(RECENT_CARDS)).all()
        people = calibration.reviewers_of(pid)
        ctx |= {"calibration_cards": recent, "calibration_people": sorted(people)}
    names = names_for(pid, {u for c in rounds for u in c.reviewers}
                             | set(ctx.get("calibration_people", []))
                             | {r.portal_user_id for r in ctx.get("calibration_cards", [])})
    ctx |= {"calibration_names": names, "calibration_tz": clock.portal_tz(pid), "calibration_local": clock.local}
    return ctx


register_section("calibration", "qa/_calibration_section.html", _context, notices=("calibration.created",))


@bp.post("/b24/qa/calibrations")
@frame_api
@require_role("admin")
def create():
    try:
        cal = calibration.create(g.viewer, request.form)
    except review.ReviewRefused as exc:
        return render_settings(exc.key, "error", exc.status)
    return redirect(url_for("portals.settings", ft=g.frame_token, msg="calibration.created", _anchor=f"cal-{cal.id}"),
                    303)


def _form_state(cal) -> review.FormState:
    st = review.load(g.viewer, cal.qa_item_id)
    st.score = calibration.own_score(cal, g.viewer.user_id)
    st.version = db.session.get(ChecklistVersion, cal.version_id)
    st.holder_id, st.holder_idle = None, False
    own_call = st.call.portal_user_id == g.viewer.user_id
    st.may_score = g.viewer.user_id in cal.reviewers and not own_call
    st.refusal = None if st.may_score else ("review.own_call" if own_call else "calibration.not_invited")
    return st


@bp.get("/b24/qa/calibration/<int:cal_id>")
@frame_api
def form_page(cal_id: int):
    cal = calibration.get(g.viewer.portal_id, cal_id)
    if cal is None:
        return render_template("error.html", text=message("calibration.not_found")), 404
    if g.viewer.user_id not in cal.reviewers:
        if g.viewer.has("admin"):
            return redirect(url_for("qa_calibration.results_page", cal_id=cal_id, ft=g.frame_token))
        return render_template("error.html", text=message("calibration.not_invited")), 403
    st = _form_state(cal)
    return render_template(
        "qa/card_form.html", st=st, viewer=g.viewer, tz=clock.portal_tz(g.viewer.portal_id), local=clock.local,
        events=[], names=st.names, label=history.label, topics=[], scales=SCALES,
        refusal=message(st.refusal) if st.refusal else None, item_id=cal.qa_item_id, calibration=cal)


# A calibration score never reaches the card: its submit notice must not say «переведена в «Оценено»».
SAVED = {"draft": "review.draft_saved", "submitted": "calibration.submitted"}


@bp.post("/b24/qa/calibration/<int:cal_id>/draft")
@frame_api
def save_draft(cal_id: int):
    return write_json(calibration.save_draft, cal_id, SAVED)


@bp.post("/b24/qa/calibration/<int:cal_id>/submit")
@frame_api
def submit(cal_id: int):
    return write_json(calibration.submit, cal_id, SAVED)


@bp.get("/b24/qa/calibration/<int:cal_id>/results")
@frame_api
def results_page(cal_id: int):
    try:
        cal, result, rows = calibration.results(g.viewer, cal_id)
    except review.ReviewRefused as exc:
        return render_template("error.html", text=message(exc.key)), exc.status
    version = db.session.get(ChecklistVersion, cal.version_id)
    names = names_for(g.viewer.portal_id, cal.reviewers)
    submitted = {s.reviewer_id for s in rows if s.status == "submitted"}
    return render_template("qa/calibration_results.html", cal=cal, result=result, version=version, names=names,
                           submitted=submitted, viewer=g.viewer)
