"""Calibration: an admin picks a call and several reviewers; each scores it blind; the spread shows when all are in.

Blind means a reviewer sees only his own answers, and nobody sees the results until every reviewer of
the round has submitted. Calibration scores are QaScore rows with `calibration_id` = the round: they
never reach the CRM card, never set `calls.scored_at`, never notify the manager, and every figure of
a manager's results reads real scores (`calibration_id` 0) only.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from statistics import mean, pstdev

from sqlalchemy import select

from ..extensions import db
from ..models_base import utcnow
from ..portals.models import RoleGrant
from ..portals.roles import names_for
from . import history, review, scoring
from .checklists import current_version, mark_used
from .models import ChecklistVersion, QaCalibration, QaScore

MAX_REVIEWERS = 10


def reviewers_of(portal_id: int) -> set[int]:
    return set(db.session.scalars(select(RoleGrant.user_id).where(RoleGrant.portal_id == portal_id,
                                                                  RoleGrant.role.in_(("qa", "admin")))))


def calibrations(portal_id: int, limit: int = 30) -> list[QaCalibration]:
    return list(db.session.scalars(select(QaCalibration).where(QaCalibration.portal_id == portal_id)
                                   .order_by(QaCalibration.id.desc()).limit(limit)))


def get(portal_id: int, cal_id: int) -> QaCalibration | None:
    if not isinstance(cal_id, int) or not 0 < cal_id < 2**31:
        return None
    return db.session.scalar(select(QaCalibration).where(QaCalibration.portal_id == portal_id,
                                                         QaCalibration.id == cal_id))


def create(viewer, form) -> QaCalibration:
    """A round on one card with 2…10 reviewers (QA reviewers or admins, never the call's own manager)."""
    raw_item = str(form.get("qa_item_id") or "").strip()
    if not raw_item.isdigit() or len(raw_item) > 12:
        raise review.ReviewRefused("calibration.bad_card", 400)
    call = review.card_call(viewer.portal_id, int(raw_item))
    if call is None:
        raise review.ReviewRefused("calibration.bad_card", 404)
    picked = form.getlist("reviewers") if hasattr(form, "getlist") else form.get("reviewers") or []
    if not isinstance(picked, list) or not all(isinstance(p, str | int) for p in picked):
        raise review.ReviewRefused("calibration.bad_reviewers", 400)
    ids = {int(p) for p in map(str, picked) if p.isdigit() and len(p) <= 12}
    if len(ids) != len(picked) or not 2 <= len(ids) <= MAX_REVIEWERS or not ids <= reviewers_of(viewer.portal_id):
        raise review.ReviewRefused("calibration.bad_reviewers", 400)
    if call.portal_user_id in ids:
        raise review.ReviewRefused("calibration.own_call", 400)
    _topic, cl = review.topic_checklist(viewer.portal_id, call.call_id)
    if cl is None:
        raise review.ReviewRefused("review.no_checklist", 409)
    version = current_version(cl)
    cal = QaCalibration(portal_id=viewer.portal_id, qa_item_id=call.qa_item_id, call_id=call.call_id,
                        checklist_id=cl.id, version_id=version.id, reviewers=sorted(ids), created_by=viewer.user_id)
    db.session.add(cal)
    mark_used(version)
    db.session.flush()
    history.record(viewer.portal_id, call.qa_item_id, "calibration", viewer.user_id,
                   text=", ".join(names_for(viewer.portal_id, ids).values()))
    db.session.commit()
    return cal


def scores(cal: QaCalibration) -> list[QaScore]:
    return list(db.session.scalars(select(QaScore).where(QaScore.portal_id == cal.portal_id,
                                                         QaScore.calibration_id == cal.id)))


def scores_by_round(portal_id: int, rounds: list[QaCalibration]) -> dict[int, list[QaScore]]:
    """The scores of several rounds in one query (the settings section lists up to 30)."""
    out: dict[int, list[QaScore]] = {c.id: [] for c in rounds}
    if rounds:
        for s in db.session.scalars(select(QaScore).where(QaScore.portal_id == portal_id,
                                                          QaScore.calibration_id.in_(list(out)))):
            out[s.calibration_id].append(s)
    return out


def own_score(cal: QaCalibration, user_id: int) -> QaScore | None:
    return next((s for s in scores(cal) if s.reviewer_id == user_id), None)


def done(cal: QaCalibration) -> bool:
    submitted = {s.reviewer_id for s in scores(cal) if s.status == "submitted"}
    return set(cal.reviewers) <= submitted


def _writable(viewer, cal_id: int, data) -> tuple[QaCalibration, review.FormInput, QaScore | None, list]:
    cal = get(viewer.portal_id, cal_id)
    if cal is None:
        raise review.ReviewRefused("calibration.not_found", 404)
    if viewer.user_id not in cal.reviewers:
        raise review.ReviewRefused("calibration.not_invited", 403)
    form = review.parse(data)
    mine = own_score(cal, viewer.user_id)
    if form.version_id != cal.version_id:
        raise review.ReviewRefused("review.version_changed", 409)
    if form.revision != (mine.revision if mine else 0):
        raise review.ReviewRefused("review.stale", 409)
    if mine is not None and mine.status == "submitted":
        raise review.ReviewRefused("calibration.already_submitted", 409)
    sections = db.session.get(ChecklistVersion, cal.version_id).sections
    return cal, form, mine, sections


def _write(viewer, cal: QaCalibration, form: review.FormInput, mine: QaScore | None, values: dict) -> QaScore:
    if mine is None:
        return review.insert_score(QaScore(
            portal_id=cal.portal_id, qa_item_id=cal.qa_item_id, call_id=cal.call_id, manager_id=None,
            reviewer_id=viewer.user_id, calibration_id=cal.id, checklist_id=cal.checklist_id,
            version_id=cal.version_id, revision=1, **values))
    return review.update_at_revision(mine, form.revision, values)


def save_draft(viewer, cal_id: int, data) -> QaScore:
    cal, form, mine, sections = _writable(viewer, cal_id, data)
    review.check_answers(sections, form, complete=False)
    score = _write(viewer, cal, form, mine, {"answers": form.answers, "comments": form.comments,
                                             "comment": form.comment, "status": "draft",
                                             "percent": review.partial_percent(sections, form.answers)})
    db.session.commit()
    return score


def submit(viewer, cal_id: int, data) -> QaScore:
    cal, form, mine, sections = _writable(viewer, cal_id, data)
    result = review.check_answers(sections, form, complete=True)
    score = _write(viewer, cal, form, mine, {
        "answers": form.answers, "comments": form.comments, "comment": form.comment, "status": "submitted",
        "percent": result.percent, "critical_failed": result.critical_failed, "submitted_at": utcnow()})
    db.session.commit()
    return score


# --- the spread -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ItemSpread:
    key: str
    text: str
    answers: dict          # reviewer id → answer
    spread: float | None   # max − min item score in points of %, None when nobody scored it (all N/A)
    agreement: float       # share of reviewer pairs that gave the same answer, 0…1


@dataclass(frozen=True)
class Spread:
    totals: dict            # reviewer id → score %
    mean: float | None
    spread: float | None    # max − min of the totals
    stdev: float | None
    agreement: float        # mean item agreement, 0…1
    items: list[ItemSpread]


def _pair_agreement(values: list) -> float:
    pairs = list(combinations(values, 2))
    return sum(a == b for a, b in pairs) / len(pairs) if pairs else 1.0


def spread(sections: list, by_reviewer: dict[int, dict], totals: dict[int, float | None]) -> Spread:
    """How far the reviewers' scores lie apart, per item and in total (a plain function, tested on tables)."""
    items = []
    for key, it in scoring.items(sections):
        answers = {r: a.get(key) for r, a in by_reviewer.items()}
        values = [scoring.item_value(it, v) for v in answers.values()]
        numeric = [v * 100 for v in values if isinstance(v, float | int)]
        items.append(ItemSpread(key, it.get("text", ""), answers,
                                round(max(numeric) - min(numeric), 1) if numeric else None,
                                round(_pair_agreement([str(v) for v in answers.values()]), 3)))
    known = [t for t in totals.values() if t is not None]
    return Spread(
        totals=totals, mean=round(mean(known), 1) if known else None,
        spread=round(max(known) - min(known), 1) if known else None,
        stdev=round(pstdev(known), 1) if len(known) > 1 else None,
        agreement=round(mean(i.agreement for i in items), 3) if items else 1.0, items=items)


def results(viewer, cal_id: int) -> tuple[QaCalibration, Spread | None, list[QaScore]]:
    """The round and, once every reviewer has submitted, its spread; admins and its reviewers may look."""
    cal = get(viewer.portal_id, cal_id)
    if cal is None:
        raise review.ReviewRefused("calibration.not_found", 404)
    if not viewer.has("admin") and viewer.user_id not in cal.reviewers:
        raise review.ReviewRefused("calibration.not_invited", 403)
    rows = scores(cal)
    if not done(cal):
        return cal, None, rows
    sections = db.session.get(ChecklistVersion, cal.version_id).sections
    submitted = [s for s in rows if s.status == "submitted"]
    return cal, spread(sections, {s.reviewer_id: s.answers for s in submitted},
                       {s.reviewer_id: s.percent for s in submitted}), rows
