"""The reviewer's work on one QA card: what the form shows, drafts, submit, «Нельзя оценить», and the card's fields.

One real score per card (`calibration_id` 0). The reviewer who saves its first draft holds the card;
another reviewer sees who holds it and may take it over only after the holder has been idle for
`HOLD`. Every write names the `revision` the form was opened at and is a compare-and-set on it, so a
stale or replayed form is refused instead of overwriting someone else's answers. A draft pins the
checklist version it was started with; answers for items of any other version are refused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ..calls.models import Call
from ..extensions import db
from ..jobs import app_task
from ..models_base import utcnow
from ..portals.models import Portal
from ..portals.rest import client_for
from ..portals.roles import names_for
from . import history, scoring, workload
from .bootstrap import setup_for
from .checklists import checklist, current_version, mark_used
from .models import Checklist, ChecklistVersion, QaScore, QaSetup

log = logging.getLogger(__name__)

HOLD = timedelta(minutes=30)        # a holder idle this long may be replaced by another reviewer
COMMENT_MAX, ITEM_COMMENT_MAX, REASON_MAX = 4000, 2000, 1000
FINAL = ("submitted", "unscorable")

# Called with (portal_id, score_id) after a submit or a re-score is committed (the manager's message …).
on_submitted: list[Callable[[int, int], None]] = []


class ReviewRefused(Exception):
    """A write the rules do not allow; `key` is a message key, `status` the HTTP answer, `details` extras."""

    def __init__(self, key: str, status: int = 409, **details):
        super().__init__(key)
        self.key, self.status, self.details = key, status, details


@dataclass
class FormState:
    call: Call
    setup: QaSetup
    score: QaScore | None
    checklist: Checklist | None
    version: ChecklistVersion | None
    topic: str = ""
    may_score: bool = False
    refusal: str | None = None          # why this viewer cannot score (a message key)
    holder_id: int | None = None        # another reviewer who holds the card
    holder_idle: bool = False           # … and may be taken over
    names: dict[int, str] = field(default_factory=dict)


def is_scorer(viewer) -> bool:
    return viewer.has("admin") or viewer.has("qa")


def real_score(portal_id: int, qa_item_id: int) -> QaScore | None:
    return db.session.scalar(select(QaScore).where(QaScore.portal_id == portal_id, QaScore.qa_item_id == qa_item_id,
                                                   QaScore.calibration_id == 0))


def card_call(portal_id: int, qa_item_id: int) -> Call | None:
    if not isinstance(qa_item_id, int) or qa_item_id <= 0:
        return None
    return db.session.scalar(select(Call).where(Call.portal_id == portal_id, Call.qa_item_id == qa_item_id))


def topic_checklist(portal_id: int, call_id: str) -> tuple[str, Checklist | None]:
    """(topic name, its checklist) for a call; topics sit above qa, so they are read here lazily."""
    from ..topics.service import topic, topic_of

    chosen = topic_of(portal_id, call_id)
    t = topic(portal_id, chosen.topic_id) if chosen else None
    if t is None:
        return "", None
    return t.name, checklist(portal_id, t.checklist_id)


def load(viewer, qa_item_id: int) -> FormState:
    call = card_call(viewer.portal_id, qa_item_id)
    setup = setup_for(viewer.portal_id)
    if call is None or setup is None:
        raise ReviewRefused("review.no_card", 404)
    score = real_score(viewer.portal_id, qa_item_id)
    topic_name, cl = topic_checklist(viewer.portal_id, call.call_id)
    version = db.session.get(ChecklistVersion, score.version_id) if score else (current_version(cl) if cl else None)
    if score is not None:
        cl = db.session.get(Checklist, score.checklist_id)
    st = FormState(call=call, setup=setup, score=score, checklist=cl, version=version, topic=topic_name)
    if not is_scorer(viewer):
        if not viewer.has("director") and call.portal_user_id != viewer.user_id:
            raise ReviewRefused("review.not_yours", 403)  # a manager sees only his own calls' scores
        st.refusal = "review.not_reviewer"
        if score is not None and score.status == "draft":
            st.score = None  # a draft is the reviewer's work in progress, not a result yet
    elif call.portal_user_id and call.portal_user_id == viewer.user_id:
        st.refusal = "review.own_call"
    elif score is None and version is None:
        st.refusal = "review.no_checklist"
    elif score is None and workload.sampling_state(viewer.portal_id, qa_item_id):
        st.refusal = "review.not_sampled"  # the weekly sample decides which calls are scored, not the reviewer
    else:
        st.may_score = True
    if score is not None and score.status == "draft" and score.reviewer_id != viewer.user_id:
        st.holder_id = score.reviewer_id
        st.holder_idle = score.updated_at is None or utcnow() - score.updated_at >= HOLD
    st.names = names_for(viewer.portal_id, [call.portal_user_id, score.reviewer_id if score else None,
                                            st.holder_id])
    return st


# --- parsing the form's JSON once, at the edge --------------------------------------------------------

@dataclass(frozen=True)
class FormInput:
    revision: int
    version_id: int
    answers: dict
    comments: dict
    comment: str
    for_meeting: bool
    reason: str


def _int(value, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ReviewRefused("review.bad_form", 400, field=key)
    if isinstance(value, str):
        if not value.isdigit() or len(value) > 12:
            raise ReviewRefused("review.bad_form", 400, field=key)
        value = int(value)
    if not 0 <= value < 2**31:
        raise ReviewRefused("review.bad_form", 400, field=key)
    return value


def _text(value, limit: int, key: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ReviewRefused("review.bad_form", 400, field=key)
    value = value.strip()
    if len(value) > limit:
        raise ReviewRefused("review.too_long", 400, field=key)
    return value


def parse(data) -> FormInput:
    if not isinstance(data, Mapping):
        raise ReviewRefused("review.bad_form", 400)
    answers, comments = data.get("answers") or {}, data.get("comments") or {}
    if not isinstance(answers, Mapping) or not isinstance(comments, Mapping) or len(answers) > 500 \
            or len(comments) > 500:
        raise ReviewRefused("review.bad_form", 400, field="answers")
    clean_answers = {}
    for key, value in answers.items():
        if not isinstance(key, str) or len(key) > 32:
            raise ReviewRefused("review.bad_form", 400, field="answers")
        if value is None or value == "":
            continue
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ReviewRefused("review.bad_form", 400, field="answers")
        clean_answers[key] = value
    clean_comments = {}
    for key, value in comments.items():
        if not isinstance(key, str) or len(key) > 32:
            raise ReviewRefused("review.bad_form", 400, field="comments")
        text = _text(value, ITEM_COMMENT_MAX, "comments")
        if text:
            clean_comments[key] = text
    flag = data.get("for_meeting", False)
    if flag in ("1", "true", 1):
        flag = True
    elif flag in ("0", "false", "", 0, None):
        flag = False
    if not isinstance(flag, bool):
        raise ReviewRefused("review.bad_form", 400, field="for_meeting")
    return FormInput(revision=_int(data.get("revision", 0), "revision"),
                     version_id=_int(data.get("version_id", 0), "version_id"),
                     answers=clean_answers, comments=clean_comments,
                     comment=_text(data.get("comment"), COMMENT_MAX, "comment"), for_meeting=flag,
                     reason=_text(data.get("reason"), REASON_MAX, "reason"))


# --- the checks every write makes ---------------------------------------------------------------------

def check_answers(sections: list, form: FormInput, complete: bool) -> scoring.Score | None:
    """Refuse answers for items this version does not have and answers off the scale; score when complete."""
    known = dict(scoring.items(sections))
    unknown = sorted((set(form.answers) | set(form.comments)) - set(known))
    if unknown:
        raise ReviewRefused("review.unknown_item", 400, items=unknown)
    if complete:
        try:
            return scoring.score(sections, form.answers)
        except scoring.AnswersRefused as exc:
            missing = [k for k, m in exc.problems if m == "scoring.unanswered"]
            if missing and len(missing) == len(exc.problems):
                raise ReviewRefused("review.incomplete", 400, items=missing) from exc
            raise ReviewRefused("review.bad_answer", 400, items=[k for k, _m in exc.problems]) from exc
    bad = [k for k, v in form.answers.items() if isinstance(scoring.item_value(known[k], v), str)]
    if bad:
        raise ReviewRefused("review.bad_answer", 400, items=sorted(bad))
    return None


def _writable(viewer, qa_item_id: int, form: FormInput, *, allow_final: bool) -> tuple[FormState, list]:
    st = load(viewer, qa_item_id)
    if not st.may_score:
        raise ReviewRefused(st.refusal or "review.not_reviewer", 403)
    score = st.score
    if score is None:
        if form.revision != 0:
            raise ReviewRefused("review.stale", 409)
        if form.version_id != st.version.id:
            raise ReviewRefused("review.version_changed", 409)
    else:
        if form.revision != score.revision:
            raise ReviewRefused("review.stale", 409, by=st.names.get(score.reviewer_id, ""))
        if form.version_id != score.version_id:
            raise ReviewRefused("review.version_changed", 409)
        if st.holder_id is not None and not st.holder_idle:
            raise ReviewRefused("review.held", 409, by=st.names.get(st.holder_id, ""))
        if score.status in FINAL and not allow_final:
            raise ReviewRefused("review.already_final", 409)
        if score.status in FINAL and score.reviewer_id != viewer.user_id and not viewer.has("admin"):
            raise ReviewRefused("review.not_your_score", 403)
    return st, st.version.sections


def insert_score(score: QaScore) -> QaScore:
    """Add a first score; a unique key lost to a concurrent first save is `review.stale`."""
    db.session.add(score)
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise ReviewRefused("review.stale", 409) from exc
    return score


def update_at_revision(score: QaScore, revision: int, values: dict) -> QaScore:
    """Compare-and-set: write `values` only if the score is still at the form's `revision`, else `review.stale`."""
    done = db.session.execute(
        update(QaScore).where(QaScore.id == score.id, QaScore.revision == revision)
        .values(revision=revision + 1, updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)).rowcount
    if not done:
        db.session.rollback()
        raise ReviewRefused("review.stale", 409)
    db.session.expire(score)
    return score


def _write(st: FormState, viewer, form: FormInput, values: dict) -> QaScore:
    """Create the card's score or set it at the form's revision; an idle holder's draft changes hands."""
    call, score = st.call, st.score
    if score is None:
        return insert_score(QaScore(
            portal_id=call.portal_id, qa_item_id=call.qa_item_id, call_id=call.call_id,
            manager_id=call.portal_user_id, reviewer_id=viewer.user_id, calibration_id=0,
            checklist_id=st.checklist.id, version_id=st.version.id, revision=1, **values))
    previous = score.reviewer_id
    took_over = previous != viewer.user_id and score.status == "draft"
    update_at_revision(score, form.revision, {**values, "reviewer_id": viewer.user_id if took_over else previous})
    if took_over:
        history.record(call.portal_id, call.qa_item_id, "takeover", viewer.user_id, score_id=score.id,
                       text=st.names.get(previous, ""))
    return score


# --- the three writes ---------------------------------------------------------------------------------

def save_draft(viewer, qa_item_id: int, data) -> QaScore:
    form = parse(data)
    st, sections = _writable(viewer, qa_item_id, form, allow_final=False)
    check_answers(sections, form, complete=False)
    values = {"answers": form.answers, "comments": form.comments, "comment": form.comment,
              "for_meeting": form.for_meeting, "status": "draft"}
    values["percent"] = partial_percent(sections, form.answers)
    new = st.score is None
    score = _write(st, viewer, form, values)
    if new:  # from the first answer on, an admin's edit makes a new version instead of changing this one
        mark_used(st.version)
        history.record(viewer.portal_id, qa_item_id, "draft", viewer.user_id, score_id=score.id)
    db.session.commit()
    return score


def partial_percent(sections: list, answers: Mapping) -> float | None:
    """The score of what is answered so far (what the live figure shows), None while nothing counts."""
    known = dict(scoring.items(sections))
    partial = [{"items": [dict(it, id=k) for k, it in known.items() if k in answers]}]
    try:
        return scoring.score(partial, answers).percent
    except scoring.AnswersRefused:
        return None


def submit(viewer, qa_item_id: int, data) -> QaScore:
    form = parse(data)
    st, sections = _writable(viewer, qa_item_id, form, allow_final=True)
    result = check_answers(sections, form, complete=True)
    again = st.score is not None and st.score.status in FINAL
    now = utcnow()
    values = {"answers": form.answers, "comments": form.comments, "comment": form.comment,
              "for_meeting": form.for_meeting, "status": "submitted", "percent": result.percent,
              "critical_failed": result.critical_failed, "submitted_at": now, "unscorable_reason": ""}
    score = _write(st, viewer, form, values)
    mark_used(st.version)
    db.session.execute(update(Call).where(Call.id == st.call.id, Call.scored_at.is_(None)).values(scored_at=now))
    history.record(viewer.portal_id, qa_item_id, "rescore" if again else "submit", viewer.user_id,
                   score_id=score.id, percent=result.percent, text=form.comment)
    db.session.commit()
    after_final(viewer.portal_id, score.id)
    return score


def unscorable(viewer, qa_item_id: int, data) -> QaScore:
    form = parse(data)
    if not form.reason:
        raise ReviewRefused("review.reason_required", 400, field="reason")
    st, _sections = _writable(viewer, qa_item_id, form, allow_final=True)
    if st.score is not None and st.score.status == "submitted":
        raise ReviewRefused("review.already_final", 409)
    values = {"status": "unscorable", "unscorable_reason": form.reason, "percent": None, "critical_failed": [],
              "submitted_at": utcnow(), "answers": form.answers if st.score is None else st.score.answers}
    score = _write(st, viewer, form, values)
    history.record(viewer.portal_id, qa_item_id, "unscorable", viewer.user_id, score_id=score.id, text=form.reason)
    db.session.commit()
    push_to_card(score.id)
    return score


def after_final(portal_id: int, score_id: int) -> None:
    """Write the result to the CRM card and tell whoever listens (the manager's message, …)."""
    push_to_card(score_id)
    for hook in on_submitted:
        try:
            hook(portal_id, score_id)
        except Exception:  # a listener's failure must not undo a saved score; it logs and retries itself
            log.exception("portal=%s score %s: an on_submitted hook failed", portal_id, score_id)


def card_updates(score: QaScore, setup: QaSetup, cl: Checklist | None, version: ChecklistVersion | None) -> dict:
    f = setup.fields
    final = score.status == "submitted"
    fields = {
        "stageId": setup.stages["done" if final else "skipped"],
        f["score"]: score.percent if final and score.percent is not None else "",
        f["comment"]: score.comment if final else score.unscorable_reason,
        f["discuss"]: "Y" if final and score.for_meeting else "N",
        f["reviewer"]: score.reviewer_id,
    }
    if cl is not None and version is not None:
        fields[f["checklist"]] = f"{version.name} · v{version.number}"
    return fields


@app_task(retries=8, retry_delay=20)
def push_to_card(score_id: int) -> str:
    """Write a final score to its QA card (fields and stage); the latest revision wins, re-runs are harmless."""
    score = db.session.get(QaScore, score_id)
    if score is None or score.status not in FINAL or score.calibration_id:
        return "nothing to write"
    setup, portal = setup_for(score.portal_id), db.session.get(Portal, score.portal_id)
    if setup is None or portal is None or not portal.is_active:
        return "no smart process"
    version = db.session.get(ChecklistVersion, score.version_id)
    cl = db.session.get(Checklist, score.checklist_id)
    client_for(portal.member_id).call("crm.item.update", {
        "entityTypeId": setup.entity_type_id, "id": score.qa_item_id, "useOriginalUfNames": "Y",
        "fields": card_updates(score, setup, cl, version)})
    return "card updated"
