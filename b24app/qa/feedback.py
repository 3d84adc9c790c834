"""The manager's side of a score: the chat message on submit, acknowledging, disputing, the arbiter's decision.

**Who sees a score.** Its manager (`QaScore.manager_id`), the portal's admins, directors and QA
reviewers, and the arbiter. Only real scores (`calibration_id` 0); calibration rounds are never shown.

**The message.** After a submit (`review.on_submitted`) the manager gets one bot message (the topics
bot; an `im.notify.system.add` notification where the bot API is missing) with the score, the
checklist, the failed items, the comment and a signed personal link to the read-only result. A
dispute tells the arbiter (or each app admin) the same way; a decision tells the manager. Each message
is a `QaNotice` row claimed before sending, keyed by (score, kind, revision, user): a re-delivered
job finds it taken and sends nothing twice.

**The rules.** The manager acknowledges, or disputes once within `dispute_days` of the submit with a
comment. The arbiter (`QaSettings.arbiter_id`, else an app admin) keeps the score or changes its
answers, each with a reason; a change is a compare-and-set on the score's `revision`, so a decision
made on a stale page is refused. Every action records its history event in the same commit.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ..bitrix import errors as E
from ..calls.models import Call
from ..extensions import db
from ..jobs import app_task
from ..models_base import utcnow
from ..portals.models import Portal, RoleGrant
from ..portals.rest import client_for
from ..portals.roles import names_for, roles_for
from . import feedback_texts as _texts  # noqa: F401  (registers the messages)
from . import history, scoring
from .models import ChecklistVersion, QaDispute, QaEvent, QaNotice, QaScore, QaSettings

log = logging.getLogger(__name__)

LINK_TTL = 75 * 86400           # longer than the longest dispute window (60 days)
DISPUTE_DAYS_MAX = 60
TEXT_MAX = 2000                 # a dispute's comment, a decision's reason
STALE = timedelta(minutes=5)    # a notice left "sending" this long by a dead worker is sent again
MAX_ATTEMPTS = 6
VIEW_ROLES = ("admin", "director", "qa")
DEFAULTS = {"dispute_days": 5, "arbiter_id": None, "notify_manager": True, "weekly_quota": 0}


class FeedbackRefused(Exception):
    def __init__(self, key: str, status: int = 409):
        super().__init__(key)
        self.key, self.status = key, status


@dataclass(frozen=True)
class Actor:
    """Who acts: a viewer inside the portal, or the user a personal link names."""

    portal_id: int
    user_id: int
    roles: frozenset

    def has(self, role: str) -> bool:
        return role in self.roles


def actor_of(viewer) -> Actor:
    return Actor(viewer.portal_id, viewer.user_id, frozenset(viewer.roles))


# --- settings, people ------------------------------------------------------------------------------

def settings_of(portal_id: int) -> QaSettings:
    """The portal's QA settings, or the defaults (unsaved) when it has none: reading never writes."""
    row = db.session.scalar(select(QaSettings).where(QaSettings.portal_id == portal_id))
    return row if row is not None else QaSettings(portal_id=portal_id, **DEFAULTS)


def admins(portal_id: int) -> list[int]:
    """The app's admins: granted the role, plus the user who installed the app."""
    ids = set(db.session.scalars(select(RoleGrant.user_id).where(RoleGrant.portal_id == portal_id,
                                                                 RoleGrant.role == "admin")))
    installer = db.session.scalar(select(Portal.installer_user_id).where(Portal.id == portal_id))
    if installer:
        ids.add(installer)
    return sorted(ids)


def arbiters(portal_id: int, settings: QaSettings | None = None) -> list[int]:
    settings = settings or settings_of(portal_id)
    return [settings.arbiter_id] if settings.arbiter_id else admins(portal_id)


def link_actor(portal: Portal, user_id: int) -> Actor:
    return Actor(portal.id, user_id, roles_for(portal.id, user_id, user_id == portal.installer_user_id))


# --- the personal link -------------------------------------------------------------------------------

def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="cq-qa-result")


def link_token(portal_id: int, score_id: int, user_id: int) -> str:
    return _serializer().dumps({"p": portal_id, "s": score_id, "u": user_id})


def link_for(portal_id: int, score_id: int, user_id: int) -> str:
    # The token rides in `auth=`: the log redaction masks that parameter in every request line.
    return f"{current_app.config['PUBLIC_URL']}/b24/qa/result?auth={link_token(portal_id, score_id, user_id)}"


def read_link(token: str) -> tuple[Portal, int, int]:
    """(portal, score id, user id) of a personal link; refused when forged, expired or of a removed install."""
    if not isinstance(token, str) or len(token) > 500:
        raise FeedbackRefused("feedback.link_invalid", 404)
    try:
        data = _serializer().loads(token, max_age=LINK_TTL)
    except SignatureExpired as exc:
        raise FeedbackRefused("feedback.link_expired", 410) from exc
    except BadSignature as exc:
        raise FeedbackRefused("feedback.link_invalid", 404) from exc
    if not isinstance(data, dict) or not all(isinstance(data.get(k), int) and not isinstance(data.get(k), bool)
                                             for k in ("p", "s", "u")):
        raise FeedbackRefused("feedback.link_invalid", 404)
    portal = db.session.get(Portal, data["p"])
    if portal is None or not portal.is_active:
        raise FeedbackRefused("feedback.link_invalid", 404)
    return portal, data["s"], data["u"]


# --- reading a score ----------------------------------------------------------------------------------

def may_view(actor: Actor, score: QaScore, settings: QaSettings) -> bool:
    return (score.manager_id == actor.user_id or any(actor.has(r) for r in VIEW_ROLES)
            or (settings.arbiter_id is not None and settings.arbiter_id == actor.user_id))


def may_decide(actor: Actor, score: QaScore, settings: QaSettings) -> bool:
    return actor.user_id != score.manager_id and (
        actor.has("admin") or (settings.arbiter_id is not None and settings.arbiter_id == actor.user_id))


def _score(portal_id: int, score_id) -> QaScore | None:
    if not isinstance(score_id, int) or isinstance(score_id, bool) or not 0 < score_id < 2**63:
        return None
    return db.session.scalar(select(QaScore).where(QaScore.portal_id == portal_id, QaScore.id == score_id,
                                                   QaScore.calibration_id == 0))


def score_for(actor: Actor, score_id) -> tuple[QaScore, QaSettings]:
    score = _score(actor.portal_id, score_id)
    if score is None or score.status == "draft" and not any(actor.has(r) for r in VIEW_ROLES):
        raise FeedbackRefused("feedback.not_found", 404)
    settings = settings_of(actor.portal_id)
    if not may_view(actor, score, settings):
        raise FeedbackRefused("feedback.not_yours", 403)
    return score, settings


def dispute_of(score: QaScore) -> QaDispute | None:
    return db.session.scalar(select(QaDispute).where(QaDispute.portal_id == score.portal_id,
                                                     QaDispute.score_id == score.id))


def version_of(score: QaScore) -> ChecklistVersion | None:
    return db.session.scalar(select(ChecklistVersion).where(ChecklistVersion.portal_id == score.portal_id,
                                                            ChecklistVersion.id == score.version_id))


def call_of(score: QaScore) -> Call | None:
    return db.session.scalar(select(Call).where(Call.portal_id == score.portal_id, Call.call_id == score.call_id))


def deadline(score: QaScore, settings: QaSettings) -> datetime | None:
    """Until when the manager may dispute; None when disputes are off or the score is not submitted."""
    if score.status != "submitted" or not score.submitted_at or not settings.dispute_days:
        return None
    return score.submitted_at + timedelta(days=settings.dispute_days)


def failed_items(sections: list, answers: Mapping) -> list[tuple[str, dict]]:
    """Items answered «нет» or 0 points, in checklist order."""
    out = []
    for key, item in scoring.items(sections):
        value = scoring.item_value(item, answers.get(key))
        if isinstance(value, int | float) and not isinstance(value, bool) and value == 0:
            out.append((key, item))
    return out


def percent_text(percent: float | None, lang: str = "ru") -> str:
    if percent is None:
        return _("нет данных")
    text = f"{percent:.1f}".rstrip("0").rstrip(".")
    return (text if lang == "en" else text.replace(".", ",")) + " %"


@dataclass
class Result:
    """What the result page shows and which actions it offers this actor."""

    score: QaScore
    settings: QaSettings
    version: ChecklistVersion | None
    call: Call | None
    dispute: QaDispute | None
    events: list[QaEvent]
    names: dict[int, str]
    deadline: datetime | None
    can_answer: bool = False        # the manager may acknowledge / dispute now
    can_dispute: bool = False
    can_decide: bool = False
    topic: str = ""
    failed: list[tuple[str, dict]] = field(default_factory=list)

    @property
    def failed_keys(self) -> set[str]:
        return {k for k, _item in self.failed}


def result(actor: Actor, score_id) -> Result:
    score, settings = score_for(actor, score_id)
    version = version_of(score)
    dispute = dispute_of(score)
    events = history.history_for(actor.portal_id, score.qa_item_id)
    # Calibration rounds score the same card blind: their events are not this score's story.
    events = [e for e in events if e.kind != "calibration" and e.score_id in (None, score.id)]
    due = deadline(score, settings)
    mine = actor.user_id == score.manager_id
    open_dispute = dispute is not None and dispute.status == "open"
    res = Result(score=score, settings=settings, version=version, call=call_of(score), dispute=dispute,
                 events=events, deadline=due,
                 names=names_for(actor.portal_id, [score.manager_id, score.reviewer_id, settings.arbiter_id,
                                                   dispute.arbiter_id if dispute else None]
                                 + [e.actor_id for e in events]))
    res.can_answer = mine and score.status == "submitted" and score.acknowledged_at is None and dispute is None
    res.can_dispute = res.can_answer and due is not None and utcnow() <= due
    res.can_decide = open_dispute and may_decide(actor, score, settings)
    res.failed = failed_items(version.sections if version else [], score.answers or {})
    from ..topics.service import topic, topic_of  # topics sit above qa

    chosen = topic_of(actor.portal_id, score.call_id)
    t = topic(actor.portal_id, chosen.topic_id) if chosen else None
    res.topic = t.name if t is not None else ""
    return res


# --- input ---------------------------------------------------------------------------------------------

def revision_of(raw) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise FeedbackRefused("feedback.bad_form", 400)
    if isinstance(raw, str):
        if not raw.isdigit() or len(raw) > 9:
            raise FeedbackRefused("feedback.bad_form", 400)
        raw = int(raw)
    if not 0 < raw < 2**31:
        raise FeedbackRefused("feedback.bad_form", 400)
    return raw


def _text(raw, required_key: str, long_key: str) -> str:
    if raw is None:
        raw = ""
    if not isinstance(raw, str):
        raise FeedbackRefused("feedback.bad_form", 400)
    text = raw.strip()
    if not text:
        raise FeedbackRefused(required_key, 400)
    if len(text) > TEXT_MAX:
        raise FeedbackRefused(long_key, 400)
    return text


# --- the manager's answer --------------------------------------------------------------------------------

def _answerable(actor: Actor, score_id, revision) -> tuple[QaScore, QaSettings, int]:
    rev = revision_of(revision)
    score, settings = score_for(actor, score_id)
    if actor.user_id != score.manager_id:
        raise FeedbackRefused("feedback.only_manager", 403)
    if score.status != "submitted":
        raise FeedbackRefused("feedback.not_submitted", 409)
    if rev != score.revision:
        raise FeedbackRefused("feedback.stale", 409)
    dispute = dispute_of(score)
    if dispute is not None:
        raise FeedbackRefused("feedback.dispute_open" if dispute.status == "open" else "feedback.already_disputed",
                              409)
    if score.acknowledged_at is not None:
        raise FeedbackRefused("feedback.already_acknowledged", 409)
    return score, settings, rev


def acknowledge(actor: Actor, score_id, revision) -> QaScore:
    score, _settings, rev = _answerable(actor, score_id, revision)
    now = utcnow()
    done = db.session.execute(update(QaScore).where(
        QaScore.portal_id == actor.portal_id, QaScore.id == score.id, QaScore.revision == rev,
        QaScore.acknowledged_at.is_(None)).values(acknowledged_at=now)
        .execution_options(synchronize_session=False)).rowcount
    if not done:  # a parallel click or a re-score got there first
        db.session.rollback()
        raise FeedbackRefused("feedback.stale", 409)
    history.record(actor.portal_id, score.qa_item_id, "acknowledge", actor.user_id, score_id=score.id,
                   percent=score.percent)
    db.session.commit()
    db.session.refresh(score)
    return score


def dispute(actor: Actor, score_id, revision, comment) -> QaDispute:
    text = _text(comment, "feedback.comment_required", "feedback.comment_long")
    score, settings, _rev = _answerable(actor, score_id, revision)
    if not settings.dispute_days:
        raise FeedbackRefused("feedback.disputes_off", 409)
    due = deadline(score, settings)
    if due is None or utcnow() > due:
        raise FeedbackRefused("feedback.dispute_late", 409)
    row = QaDispute(portal_id=actor.portal_id, score_id=score.id, manager_id=actor.user_id, comment=text,
                    status="open", old_percent=score.percent)
    db.session.add(row)
    history.record(actor.portal_id, score.qa_item_id, "dispute", actor.user_id, score_id=score.id,
                   percent=score.percent, text=text)
    try:
        db.session.commit()
    except IntegrityError as exc:  # the unique score_id: a second dispute raced the first
        db.session.rollback()
        raise FeedbackRefused("feedback.already_disputed", 409) from exc
    for user_id in arbiters(actor.portal_id, settings):
        if user_id != actor.user_id:
            notify(actor.portal_id, score.id, "dispute", score.revision, user_id)
    return row


# --- the arbiter's decision --------------------------------------------------------------------------------

def parse_answers(sections: list, raw: Mapping) -> dict:
    """Answers from the decision form (`a.<item id>` fields): every key must be an item of this version."""
    known = dict(scoring.items(sections))
    answers: dict = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not name.startswith("a."):
            continue
        key = name[2:]
        if key not in known or not isinstance(value, str) or len(value) > 8:
            raise FeedbackRefused("feedback.bad_answers", 400)
        if scoring.scale_of(known[key]) == "points" and value.isdigit():
            answers[key] = int(value)
        elif value:
            answers[key] = value
    return answers


def decide(actor: Actor, score_id, revision, outcome, reason, raw_answers: Mapping | None = None) -> QaDispute:
    rev = revision_of(revision)
    if outcome not in ("keep", "change"):
        raise FeedbackRefused("feedback.bad_form", 400)
    text = _text(reason, "feedback.reason_required", "feedback.reason_long")
    score, settings = score_for(actor, score_id)
    if not may_decide(actor, score, settings):
        raise FeedbackRefused("feedback.own_dispute" if actor.user_id == score.manager_id else "feedback.not_arbiter",
                              403)
    row = dispute_of(score)
    if row is None or row.status != "open":
        raise FeedbackRefused("feedback.no_open_dispute", 409)
    if rev != score.revision or score.status != "submitted":
        raise FeedbackRefused("feedback.stale", 409)
    old = score.percent
    values: dict = {}
    if outcome == "change":
        version = version_of(score)
        sections = version.sections if version else []
        answers = parse_answers(sections, raw_answers or {})
        try:
            new = scoring.score(sections, answers)
        except scoring.AnswersRefused as exc:
            raise FeedbackRefused("feedback.bad_answers", 400) from exc
        if answers == dict(score.answers or {}):
            raise FeedbackRefused("feedback.same_answers", 400)
        values = {"answers": answers, "percent": new.percent, "critical_failed": new.critical_failed}
        done = db.session.execute(update(QaScore).where(
            QaScore.portal_id == actor.portal_id, QaScore.id == score.id, QaScore.revision == rev)
            .values(revision=rev + 1, updated_at=utcnow(), **values)
            .execution_options(synchronize_session=False)).rowcount
        if not done:
            db.session.rollback()
            raise FeedbackRefused("feedback.stale", 409)
    now = utcnow()
    new_percent = values["percent"] if values else old
    closed = db.session.execute(update(QaDispute).where(
        QaDispute.portal_id == actor.portal_id, QaDispute.id == row.id, QaDispute.status == "open")
        .values(status="changed" if values else "kept", arbiter_id=actor.user_id, reason=text, old_percent=old,
                new_percent=new_percent, decided_at=now)
        .execution_options(synchronize_session=False)).rowcount
    if not closed:  # another arbiter decided meanwhile
        db.session.rollback()
        raise FeedbackRefused("feedback.no_open_dispute", 409)
    history.record(actor.portal_id, score.qa_item_id, "changed" if values else "kept", actor.user_id,
                   score_id=score.id, percent=new_percent, text=text)
    db.session.commit()
    db.session.refresh(score)
    db.session.refresh(row)
    if values:
        _push_to_card(score.id)
    if score.manager_id:
        notify(actor.portal_id, score.id, "decision", score.revision, score.manager_id)
    return row


def _push_to_card(score_id: int) -> None:
    """The changed score goes to the CRM card like a submit does (review's job, retried on its own)."""
    from . import review

    try:
        review.push_to_card(score_id)
    except Exception:  # the decision is saved; the card write is the job's to retry
        log.exception("score %s: the changed score was not written to its card", score_id)


# --- chat messages ---------------------------------------------------------------------------------------

def submitted(portal_id: int, score_id: int) -> None:
    """`review.on_submitted`: the manager's message about a new (or re-scored) result, when the portal wants it."""
    score = _score(portal_id, score_id)
    if score is None or score.status != "submitted" or not score.manager_id:
        return
    if not settings_of(portal_id).notify_manager:
        return
    notify(portal_id, score.id, "result", score.revision, score.manager_id)


def notify(portal_id: int, score_id: int, kind: str, revision: int, user_id: int) -> None:
    """Queue one message; the job claims its notice row, so queueing twice still sends once."""
    try:
        deliver_later(portal_id, score_id, kind, revision, user_id)
    except Exception:  # the caller's change is committed; a queue outage must not turn it into an error
        db.session.rollback()
        log.exception("portal=%s score %s: %s message to %s not queued", portal_id, score_id, kind, user_id)


def _claim(portal_id: int, score_id: int, kind: str, revision: int, user_id: int) -> QaNotice | None:
    where = (QaNotice.portal_id == portal_id, QaNotice.score_id == score_id, QaNotice.kind == kind,
             QaNotice.revision == revision, QaNotice.user_id == user_id)
    row = db.session.scalar(select(QaNotice).where(*where))
    if row is None:
        row = QaNotice(portal_id=portal_id, score_id=score_id, kind=kind, revision=revision, user_id=user_id,
                       status="sending", channel="", attempts=0, last_error="")
        db.session.add(row)
        try:
            db.session.commit()
            return row
        except IntegrityError:
            db.session.rollback()
            row = db.session.scalar(select(QaNotice).where(*where))
            if row is None:
                return None
    now = utcnow()
    stale = row.status == "sending" and row.updated_at is not None and now - row.updated_at >= STALE
    if row.status != "pending" and not stale:
        return None  # sent, given up, or being sent right now
    taken = db.session.execute(update(QaNotice).where(QaNotice.portal_id == portal_id, QaNotice.id == row.id,
                                                      QaNotice.status == row.status)
                               .values(status="sending", updated_at=now)
                               .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    if not taken:
        return None
    db.session.refresh(row)
    return row


def deliver(portal_id: int, score_id: int, kind: str, revision: int, user_id: int) -> str:
    """Send one notice unless it was sent already: "sent", "already", "cancelled" or "retry" (raises)."""
    from ..topics import bot

    notice = _claim(portal_id, score_id, kind, revision, user_id)
    if notice is None:
        return "already"
    score = _score(portal_id, score_id)
    portal = db.session.get(Portal, portal_id)
    obsolete = score is None or score.status != "submitted" or (kind == "result" and score.revision != revision)
    if portal is None or not portal.is_active or obsolete:
        notice.status = "cancelled"
        db.session.commit()
        return "cancelled"
    with force_locale(portal.language if portal.language in ("ru", "en") else "ru"):
        text = message_text(portal, score, kind, user_id)
        try:
            try:
                notice.message_id = bot.send(portal, str(user_id), text)
                notice.channel = "bot"
            except bot.BotUnavailable:
                notice.message_id = int(client_for(portal.member_id, max_attempts=3).call("im.notify.system.add", {
                    "USER_ID": user_id, "MESSAGE": text, "TAG": f"cq_qa_{notice.id}"}).result or 0) or None
                notice.channel = "notify"
        except (E.BitrixError, ValueError, TypeError) as exc:
            notice.attempts += 1
            notice.last_error = str(getattr(exc, "code", type(exc).__name__))[:255]
            notice.status = "failed" if notice.attempts >= MAX_ATTEMPTS else "pending"
            db.session.commit()
            log.warning("portal=%s score %s: %s message to %s not sent (%s)", portal_id, score_id, kind, user_id,
                        notice.last_error)
            if notice.status == "pending":
                raise  # the job's retry claims the pending row again
            return "failed"
    notice.status, notice.last_error = "sent", ""
    db.session.commit()
    return "sent"


@app_task(retries=MAX_ATTEMPTS - 1, retry_delay=60)
def deliver_later(portal_id: int, score_id: int, kind: str, revision: int, user_id: int) -> str:
    return deliver(portal_id, score_id, kind, revision, user_id)


def message_text(portal: Portal, score: QaScore, kind: str, user_id: int) -> str:
    """The message (BB codes) in the current locale: what happened, the facts, the link to the result."""
    from ..topics.prompts import call_line

    lang = portal.language or "ru"
    version = version_of(score)
    call = call_of(score)
    line = call_line(portal, call, score.call_id)
    link = link_for(portal.id, score.id, user_id)
    pct = percent_text(score.percent, lang)
    if kind == "result":
        lines = ["[B]" + _("Ваш звонок оценён: %(p)s", p=pct) + "[/B]", line]
        if version is not None:
            lines.append(_("Чек-лист: «%(name)s»", name=version.name))
        if score.critical_failed:
            lines.append(_("Не выполнен критичный пункт — оценка обнулена."))
        failed = failed_items(version.sections if version else [], score.answers or {})
        if failed:
            lines.append(_("Не выполнено:"))
            for _key, item in failed:
                mark = " [B](" + _("критичный пункт") + ")[/B]" if item.get("critical") else ""
                lines.append(f"— {item.get('text', '')}{mark}")
        if score.comment:
            lines.append(_("Комментарий проверяющего: %(c)s", c=score.comment))
        due = deadline(score, settings_of(portal.id))
        if due is not None:
            from .clock import local, portal_tz

            lines.append(_("Согласиться или оспорить оценку можно до %(d)s.", d=local(due, portal_tz(portal.id))))
        lines.append(f"[URL={link}]" + _("Открыть оценку") + "[/URL]")
        return "\n".join(lines)
    if kind == "dispute":
        row = dispute_of(score)
        who = names_for(portal.id, [score.manager_id]).get(score.manager_id, "")
        lines = ["[B]" + _("Оценку оспаривают: %(p)s", p=pct) + "[/B]", _("Менеджер: %(name)s", name=who), line]
        if row is not None:
            lines.append(_("Комментарий менеджера: %(c)s", c=row.comment))
        lines.append(f"[URL={link}]" + _("Рассмотреть спор") + "[/URL]")
        return "\n".join(lines)
    row = dispute_of(score)
    if row is not None and row.status == "changed":
        head = _("Решение по вашему спору: оценка изменена, %(old)s → %(new)s",
                 old=percent_text(row.old_percent, lang), new=percent_text(row.new_percent, lang))
    else:
        head = _("Решение по вашему спору: оценка оставлена (%(p)s)", p=pct)
    lines = [f"[B]{head}[/B]", line]
    if row is not None and row.reason:
        lines.append(_("Причина: %(r)s", r=row.reason))
    lines.append(f"[URL={link}]" + _("Открыть оценку") + "[/URL]")
    return "\n".join(lines)


def _hook() -> None:
    from . import review

    if submitted not in review.on_submitted:
        review.on_submitted.append(submitted)


_hook()
