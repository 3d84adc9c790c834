"""The chat prompt: the app's bot asks a manager for the topic of a call that ended without one (Q4).

Which calls: ended, answered calls with a manager that the selection rules picked for QA (`review` or
`short`), from live intake (never the imported history: `source == "import"` rows and calls that
started before the app was installed are skipped), while `TopicSettings.prompt_enabled`.

When: CALLEND claims one `TopicPrompt` row per (portal, call) — the unique row is the "never twice"
guard, taken before anything is sent — due `GRACE` seconds later, because the CALL_CARD popup stays
open a little after hang-up and most managers pick the topic there. The send runs from a delayed job
and, whatever happens to that job, from the minute sweeper (`run_due`), which also picks up live
calls that reached the app without CALLEND (reconcile) and retries failed sends. Tests call
`send_due` / `remind_due` / `digest_due` / `poll_bot` with an explicit `now` instead of waiting.

How: a bot message (imbot.v2, fetch mode — see bot.py for why) with one button per active topic in
the manager's order (`ranked_for`), `PAGE` to a page, and «Другая тема…» paging the keyboard. A
press sets the topic (`choose(..., source="chat")`), edits the message (buttons removed) and thanks.
Where the bot API is missing or refuses, the same prompt goes as an `im.notify.system.add`
notification with a personal link to `/b24/topics/prompt/<token>` (a minimal page, framable by the
portal). A send that fails is retried with backoff, then falls back; nothing is dropped silently.

Then: one reminder after `reminder_minutes` (0 = off) and a daily digest at `digest_hour`
(portal-local; None = off) of the manager's calls still without a topic. A topic set any other way
(popup, settings) closes the prompt through the `service.on_topic_set` hook.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone

from flask import Blueprint, abort, current_app, g, render_template, request
from flask_babel import force_locale
from flask_babel import gettext as _
from huey import crontab
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import and_, select, update
from sqlalchemy.exc import IntegrityError

from .. import ratelimit
from ..bitrix import errors as E
from ..bitrix.payloads import DEFAULT_TZ_MINUTES
from ..calls.models import Call
from ..calls.rules import ANSWERED_CODE, REVIEW, SHORT
from ..extensions import db
from ..jobs import app_periodic_task, app_task, huey
from ..messages import message
from ..models_base import utcnow
from ..portals.frame import FrameRefused
from ..portals.models import STATUS_ACTIVE, Portal
from ..portals.rest import client_for
from ..security import cross_site
from . import bot, service
from .models import CallTopic, Topic, TopicBot, TopicPrompt, TopicSettings

bp = Blueprint("topic_prompts", __name__)
log = logging.getLogger(__name__)

GRACE = timedelta(seconds=60)       # the popup stays open ~65 s after hang-up; the prompt waits for it
CATCH_UP = timedelta(hours=24)      # live calls without a prompt row (e.g. recovered by reconcile)
DIGEST_DAYS = 7                     # the digest lists open prompts this recent
DIGEST_MAX = 10                     # calls listed (and buttons) in one digest
PAGE = 8                            # topic buttons per keyboard page
BOT_ATTEMPTS = 3                    # failed bot sends before falling back to a notification
MAX_ATTEMPTS = 12                   # failed sends in all before the prompt is marked failed
BACKOFF = (60, 120, 300, 600, 1800, 3600)  # s between attempts
STALE = timedelta(minutes=5)        # a "sending"/"answering" row older than this was left by a dead worker
LINK_TTL = 14 * 86400

PENDING, SENDING, SENT, NOTIFIED = "pending", "sending", "sent", "notified"
ANSWERING, ANSWERED, CLOSED, CANCELLED, FAILED = "answering", "answered", "closed", "cancelled", "failed"
OPEN = (SENT, NOTIFIED, FAILED)      # delivered (or given up) and still without a topic
NOT_DONE = (PENDING, SENDING, SENT, NOTIFIED, FAILED)


# --- which calls, and claiming the prompt ------------------------------------------------------------

def needs_topic(call: Call | None, portal: Portal | None, settings: TopicSettings | None = None) -> bool:
    if call is None or portal is None or not portal.is_active:
        return False
    if not call.ended or not call.portal_user_id or str(call.failed_code) != ANSWERED_CODE:
        return False
    if call.selection not in (REVIEW, SHORT) or call.scored_at is not None:
        return False
    if call.source == "import":
        return False  # the 90-day history: never prompt for it
    installed = portal.installed_at
    start = call.call_start_date
    if call.source != "event" and installed and start and start + timedelta(seconds=call.duration or 0) < installed:
        return False  # a statistics row of a call that was over before the app was there
    settings = settings or service.settings_for(portal.id)
    if not settings.prompt_enabled:
        return False
    return service.topic_of(portal.id, call.call_id) is None


def _call(portal_id: int, call_id: str) -> Call | None:
    return db.session.scalar(select(Call).where(Call.portal_id == portal_id, Call.call_id == call_id))


def claim(portal_id: int, call_id: str, due_at: datetime | None = None) -> TopicPrompt | None:
    """Take the one prompt row of a call that needs a topic; None when it needs none or is taken."""
    call, portal = _call(portal_id, call_id), db.session.get(Portal, portal_id)
    if not needs_topic(call, portal):
        return None
    row = TopicPrompt(portal_id=portal_id, call_id=call_id, user_id=call.portal_user_id,
                      status=PENDING, due_at=due_at or utcnow() + GRACE)
    db.session.add(row)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return None
    return row


def call_ended(portal_id: int, call_id: str) -> None:
    """The intake's hook after CALLEND stored the call: claim, and send once the grace period is over."""
    try:
        row = claim(portal_id, call_id)
        if row is not None:
            deliver_later.schedule((row.id,), delay=int(GRACE.total_seconds()) + 1)
    except Exception:  # never let the prompt break intake; the sweeper catches the call up
        db.session.rollback()
        log.exception("portal=%s call=%s: prompt not claimed", portal_id, call_id)


def catch_up(now: datetime) -> int:
    """Claim prompts for recent live calls that have none (CALLEND lost, call recovered by reconcile)."""
    q = (select(Call.portal_id, Call.call_id, Call.created_at)
         .join(Portal, Portal.id == Call.portal_id)
         .outerjoin(TopicPrompt, and_(TopicPrompt.portal_id == Call.portal_id, TopicPrompt.call_id == Call.call_id))
         .outerjoin(CallTopic, and_(CallTopic.portal_id == Call.portal_id, CallTopic.call_id == Call.call_id))
         .where(Portal.status == STATUS_ACTIVE, Call.ended.is_(True), Call.source != "import",
                Call.portal_user_id.is_not(None), Call.failed_code == ANSWERED_CODE,
                Call.selection.in_((REVIEW, SHORT)), Call.created_at >= now - CATCH_UP,
                TopicPrompt.id.is_(None), CallTopic.id.is_(None))
         .limit(500))
    made = 0
    for portal_id, call_id, stored_at in db.session.execute(q).all():
        # The call ended before the app stored it: a grace period after that at the latest.
        if claim(portal_id, call_id, due_at=max(now, stored_at + GRACE)) is not None:
            made += 1
    return made


# --- texts and keyboards --------------------------------------------------------------------------

def _tz(portal_id: int) -> timezone:
    row = db.session.scalar(select(TopicBot).where(TopicBot.portal_id == portal_id))
    minutes = row.tz_offset_minutes if row is not None and row.tz_offset_minutes is not None else DEFAULT_TZ_MINUTES
    return timezone(timedelta(minutes=minutes))


def _duration(seconds: int | None) -> str:
    s = int(seconds or 0)
    if s < 60:
        return _("%(s)d с", s=s)
    return _("%(m)d мин %(s)02d с", m=s // 60, s=s % 60)


CRM_PATHS = {"CONTACT": "contact", "COMPANY": "company", "LEAD": "lead", "DEAL": "deal"}


def call_line(portal: Portal, call: Call | None, call_id: str, bb: bool = True) -> str:
    """«Исходящий · +7 900 … · 12.05 14:32 · 2 мин 05 с» for a message (BB-codes) or a page (plain)."""
    if call is None:
        return _("Звонок %(id)s", id=call_id)
    direction = _("Исходящий звонок") if call.call_type == 1 else _("Входящий звонок")
    client = call.phone_number or _("номер скрыт")
    path = CRM_PATHS.get((call.crm_entity_type or "").upper())
    if bb and path and call.crm_entity_id:
        client = f"[URL={portal.origin}/crm/{path}/details/{call.crm_entity_id}/]{client}[/URL]"
    parts = [direction, client]
    start = call.call_start_date
    if start is not None:
        parts.append(start.astimezone(_tz(portal.id)).strftime("%d.%m %H:%M"))
    parts.append(_duration(call.conversation if call.conversation is not None else call.duration))
    return " · ".join(parts)


def _topic_button(prompt: TopicPrompt, t: Topic) -> dict:
    return {"TEXT": t.name, "COMMAND": bot.COMMAND, "COMMAND_PARAMS": f"pick {prompt.id} {t.id}", "BLOCK": "Y",
            "DISPLAY": "LINE", "BG_COLOR": t.color or "#2fc6f6", "TEXT_COLOR": "#ffffff"}


def _nav_button(prompt: TopicPrompt, text: str, page: int) -> dict:
    return {"TEXT": text, "COMMAND": bot.COMMAND, "COMMAND_PARAMS": f"page {prompt.id} {page}", "DISPLAY": "LINE",
            "BG_COLOR_TOKEN": "secondary"}


def keyboard(prompt: TopicPrompt, page: int = 0) -> list[dict]:
    """The topics in the manager's order, `PAGE` at a time; «Другая тема…» and «← Назад» page through."""
    topics = service.ranked_for(prompt.portal_id, prompt.user_id)
    pages = max(1, -(-len(topics) // PAGE))
    page = min(max(0, page), pages - 1)
    buttons: list[dict] = []
    for i, t in enumerate(topics[page * PAGE:(page + 1) * PAGE]):
        if i and i % 2 == 0:
            buttons.append({"TYPE": "NEWLINE"})
        buttons.append(_topic_button(prompt, t))
    nav = []
    if page > 0:
        nav.append(_nav_button(prompt, _("← Назад"), page - 1))
    if page + 1 < pages:
        nav.append(_nav_button(prompt, _("Другая тема…"), page + 1))
    if nav:
        buttons.append({"TYPE": "NEWLINE"})
        buttons.extend(nav)
    return buttons


def _ask_text(portal: Portal, prompt: TopicPrompt, reminder: bool = False) -> str:
    head = _("Напоминание: выберите тему звонка") if reminder else _("Выберите тему звонка")
    return f"[B]{head}[/B]\n{call_line(portal, _call(prompt.portal_id, prompt.call_id), prompt.call_id)}"


def _done_text(portal: Portal, prompt: TopicPrompt, ct: CallTopic | None) -> str:
    t = db.session.get(Topic, ct.topic_id) if ct is not None else None
    name = t.name if t is not None else "—"
    where = {"card": _("в карточке звонка"), "settings": _("в приложении")}.get(ct.source if ct else "", "")
    head = _("Тема звонка: «%(name)s» (выбрана %(where)s)", name=name, where=where) if where \
        else _("Тема звонка: «%(name)s»", name=name)
    return f"[B]✓ {head}[/B]\n{call_line(portal, _call(prompt.portal_id, prompt.call_id), prompt.call_id)}"


# --- the personal link (fallback and digest) -------------------------------------------------------

def _link_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="cq-topic-prompt")


def link_for(prompt: TopicPrompt) -> str:
    token = _link_serializer().dumps({"p": prompt.portal_id, "i": prompt.id, "u": prompt.user_id})
    return f"{current_app.config['PUBLIC_URL']}/b24/topics/prompt/{token}"


def _notify_text(portal: Portal, prompt: TopicPrompt, reminder: bool = False) -> str:
    head = _("Напоминание: выберите тему звонка") if reminder else _("Выберите тему звонка")
    line = call_line(portal, _call(prompt.portal_id, prompt.call_id), prompt.call_id)
    return f"[B]{head}[/B]\n{line}\n[URL={link_for(prompt)}]{_('Выбрать тему')}[/URL]"


def _notify(portal: Portal, user_id: int, text: str, tag: str) -> None:
    client_for(portal.member_id, max_attempts=3).call("im.notify.system.add", {
        "USER_ID": user_id, "MESSAGE": text, "TAG": tag})


# --- sending --------------------------------------------------------------------------------------

def _retry_later(prompt: TopicPrompt, now: datetime, exc: Exception) -> None:
    prompt.attempts += 1
    prompt.last_error = f"{getattr(exc, 'code', type(exc).__name__)}"[:255]
    if prompt.attempts >= MAX_ATTEMPTS:
        prompt.status = FAILED
        log.warning("portal=%s call=%s: prompt not delivered after %s attempts (%s)", prompt.portal_id,
                    prompt.call_id, prompt.attempts, prompt.last_error)
    else:
        prompt.status = PENDING
        prompt.due_at = now + timedelta(seconds=BACKOFF[min(prompt.attempts, len(BACKOFF)) - 1])
    db.session.commit()


def deliver(prompt_id: int, now: datetime | None = None) -> str:
    """Send one due prompt: claimed pending → sending, so the delayed job and the sweeper never both send."""
    now = now or utcnow()
    claimed = db.session.execute(update(TopicPrompt).where(
        TopicPrompt.id == prompt_id, TopicPrompt.status == PENDING, TopicPrompt.due_at <= now)
        .values(status=SENDING, updated_at=now)).rowcount
    db.session.commit()
    if not claimed:
        return "not due"
    prompt = db.session.get(TopicPrompt, prompt_id)
    portal = db.session.get(Portal, prompt.portal_id)
    if not needs_topic(_call(prompt.portal_id, prompt.call_id), portal):
        prompt.status, prompt.closed_at = CANCELLED, now
        db.session.commit()
        return "cancelled"
    settings = service.settings_for(portal.id)
    with force_locale(portal.language or "ru"):
        if prompt.channel != "notify":
            try:
                prompt.message_id = bot.send(portal, str(prompt.user_id), _ask_text(portal, prompt),
                                             keyboard(prompt, 0))
                prompt.status, prompt.channel, prompt.page = SENT, "bot", 0
            except bot.BotUnavailable:
                prompt.channel = "notify"
            except (E.BitrixError, ValueError, TypeError) as exc:
                if prompt.attempts + 1 < BOT_ATTEMPTS:
                    _retry_later(prompt, now, exc)
                    return "retry"
                prompt.attempts += 1
                prompt.last_error = str(getattr(exc, "code", type(exc).__name__))[:255]
                prompt.channel = "notify"
            db.session.commit()  # never hold a write transaction across a REST call (SQLite: one writer)
        if prompt.channel == "notify":
            try:
                _notify(portal, prompt.user_id, _notify_text(portal, prompt), f"cq_topic_{prompt.id}")
                prompt.status = NOTIFIED
            except E.BitrixError as exc:
                _retry_later(prompt, now, exc)
                return "retry"
    prompt.sent_at = now
    prompt.remind_at = now + timedelta(minutes=settings.reminder_minutes) if settings.reminder_minutes else None
    prompt.last_error = ""
    db.session.commit()
    return prompt.status


@app_task(retries=2, retry_delay=30)
def deliver_later(prompt_id: int) -> str:
    return deliver(prompt_id)


def _reset_stale(now: datetime) -> None:
    cutoff = now - STALE
    db.session.execute(update(TopicPrompt).where(TopicPrompt.status == SENDING, TopicPrompt.updated_at < cutoff)
                       .values(status=PENDING))
    db.session.execute(update(TopicPrompt).where(TopicPrompt.status == ANSWERING, TopicPrompt.updated_at < cutoff)
                       .values(status=SENT))
    db.session.commit()


def send_due(now: datetime | None = None) -> int:
    """Claim prompts the intake missed, then send every prompt whose grace period (or backoff) is over."""
    now = now or utcnow()
    _reset_stale(now)
    catch_up(now)
    due = db.session.scalars(select(TopicPrompt.id).where(TopicPrompt.status == PENDING, TopicPrompt.due_at <= now)
                             .order_by(TopicPrompt.due_at).limit(500)).all()
    sent = 0
    for pid in due:
        try:
            if deliver(pid, now) in (SENT, NOTIFIED):
                sent += 1
        except Exception:
            db.session.rollback()
            log.exception("prompt %s: delivery failed", pid)
    return sent


def _repost(portal: Portal, prompt: TopicPrompt, reminder: bool) -> None:
    """Ask again as a new message at the bottom of the chat; the old one loses its buttons."""
    if prompt.channel == "bot":
        try:
            old = prompt.message_id
            prompt.message_id = bot.send(portal, str(prompt.user_id), _ask_text(portal, prompt, reminder),
                                         keyboard(prompt, 0))
            prompt.status, prompt.page = SENT, 0
            db.session.commit()
            if old:
                bot.update(portal, old, _ask_text(portal, prompt) + "\n" + _("(вопрос повторён ниже)"), [])
            return
        except bot.BotUnavailable:
            prompt.channel = "notify"
            db.session.commit()
    _notify(portal, prompt.user_id, _notify_text(portal, prompt, reminder), f"cq_topic_{prompt.id}")
    prompt.status = NOTIFIED


def remind_due(now: datetime | None = None) -> int:
    """One reminder per prompt, `reminder_minutes` after it was sent, if the call still has no topic."""
    now = now or utcnow()
    due = db.session.scalars(select(TopicPrompt).where(
        TopicPrompt.status.in_((SENT, NOTIFIED)), TopicPrompt.remind_at.is_not(None), TopicPrompt.remind_at <= now,
        TopicPrompt.reminded_at.is_(None)).limit(500)).all()
    done = 0
    for prompt in due:
        portal = db.session.get(Portal, prompt.portal_id)
        prompt.reminded_at = now
        db.session.commit()
        if not needs_topic(_call(prompt.portal_id, prompt.call_id), portal):
            continue
        try:
            with force_locale(portal.language or "ru"):
                _repost(portal, prompt, reminder=True)
            db.session.commit()
            done += 1
        except E.BitrixError as exc:
            db.session.rollback()
            prompt = db.session.get(TopicPrompt, prompt.id)
            prompt.remind_at = now + timedelta(minutes=5)  # try again shortly
            db.session.commit()
            log.warning("prompt %s: reminder not sent: %s", prompt.id, exc.code)
    return done


def _open_prompts(portal_id: int, user_id: int, now: datetime) -> list[TopicPrompt]:
    rows = db.session.scalars(select(TopicPrompt).where(
        TopicPrompt.portal_id == portal_id, TopicPrompt.user_id == user_id, TopicPrompt.status.in_(OPEN),
        TopicPrompt.created_at >= now - timedelta(days=DIGEST_DAYS)).order_by(TopicPrompt.created_at)).all()
    portal = db.session.get(Portal, portal_id)
    return [p for p in rows if needs_topic(_call(portal_id, p.call_id), portal)]


def digest_for(portal: Portal, user_id: int, now: datetime) -> bool:
    prompts = _open_prompts(portal.id, user_id, now)
    if not prompts:
        return False
    shown = prompts[:DIGEST_MAX]
    with force_locale(portal.language or "ru"):
        head = _("Звонки без темы: %(n)d. Выберите тему, пожалуйста.", n=len(prompts))
        lines = []
        for i, p in enumerate(shown, 1):
            line = call_line(portal, _call(portal.id, p.call_id), p.call_id)
            lines.append(f"{i}. {line}" + ("" if p.channel == "bot" and p.status == SENT
                                           else f" — [URL={link_for(p)}]{_('выбрать тему')}[/URL]"))
        if len(prompts) > len(shown):
            lines.append(_("…и ещё %(n)d", n=len(prompts) - len(shown)))
        text = f"[B]{head}[/B]\n" + "\n".join(lines)
        buttons = []
        for i, p in enumerate(shown, 1):
            if p.channel == "bot" and p.status == SENT:
                if buttons:
                    buttons.append({"TYPE": "NEWLINE"})
                buttons.append({"TEXT": _("Выбрать тему: звонок %(i)d", i=i), "COMMAND": bot.COMMAND,
                                "COMMAND_PARAMS": f"show {p.id}", "DISPLAY": "LINE"})
        try:
            bot.send(portal, str(user_id), text, buttons)
        except bot.BotUnavailable:
            plain = f"[B]{head}[/B]\n" + "\n".join(
                f"{i}. {call_line(portal, _call(portal.id, p.call_id), p.call_id)} — "
                f"[URL={link_for(p)}]{_('выбрать тему')}[/URL]" for i, p in enumerate(shown, 1))
            _notify(portal, user_id, plain, f"cq_topic_digest_{user_id}")
    return True


def digest_due(now: datetime | None = None) -> int:
    """The daily digest: at `digest_hour` portal time, once a day, to every manager with open prompts."""
    now = now or utcnow()
    sent = 0
    rows = db.session.execute(select(Portal, TopicSettings).join(TopicSettings, TopicSettings.portal_id == Portal.id)
                              .where(Portal.status == STATUS_ACTIVE, TopicSettings.digest_hour.is_not(None))).all()
    for portal, settings in rows:
        local = now.astimezone(_tz(portal.id))
        state = bot.state_for(portal.id)
        if local.hour != settings.digest_hour or state.digest_on == local.date().isoformat():
            continue
        state.digest_on = local.date().isoformat()
        db.session.commit()
        users = db.session.scalars(select(TopicPrompt.user_id).where(
            TopicPrompt.portal_id == portal.id, TopicPrompt.status.in_(OPEN)).distinct()).all()
        for user_id in users:
            try:
                sent += digest_for(portal, user_id, now)
            except E.BitrixError as exc:
                db.session.rollback()
                log.warning("portal=%s user=%s: digest not sent: %s", portal.member_id, user_id, exc.code)
    return sent


@app_periodic_task(crontab(minute="*"))
def run_due() -> dict:
    now = utcnow()
    return {"sent": send_due(now), "reminded": remind_due(now), "digests": digest_due(now)}


# --- answers ----------------------------------------------------------------------------------------

def _say(portal: Portal, user_id: int, dialog_id: str | None, text: str) -> None:
    try:
        bot.send(portal, dialog_id or str(user_id), text)
    except bot.BotUnavailable:
        _notify(portal, user_id, text, f"cq_topic_reply_{user_id}")


def answer(portal: Portal, prompt: TopicPrompt, topic_id: int, user_id: int) -> tuple[str, CallTopic | None]:
    """The manager's choice from the chat or the link page: ("answered"|"same"|"already"|<refusal key>, choice)."""
    if user_id != prompt.user_id:
        return "topics.not_yours", None
    if prompt.status in (ANSWERED, CLOSED):
        ct = service.topic_of(prompt.portal_id, prompt.call_id)
        return ("same" if ct is not None and ct.topic_id == topic_id else "already"), ct
    before = prompt.status
    claimed = db.session.execute(update(TopicPrompt).where(TopicPrompt.id == prompt.id, TopicPrompt.status == before)
                                 .values(status=ANSWERING, updated_at=utcnow())).rowcount
    db.session.commit()
    if not claimed:  # a parallel click got it first
        db.session.refresh(prompt)
        return "same", service.topic_of(prompt.portal_id, prompt.call_id)
    try:
        ct, _changed = service.choose(prompt.portal_id, prompt.call_id, topic_id, user_id, source="chat")
    except service.TopicRefused as exc:
        db.session.rollback()
        done = exc.key == "topics.locked"
        db.session.execute(update(TopicPrompt).where(TopicPrompt.id == prompt.id)
                           .values(status=CLOSED if done else before))
        db.session.commit()
        db.session.refresh(prompt)
        return exc.key, None
    except Exception:
        db.session.rollback()
        db.session.execute(update(TopicPrompt).where(TopicPrompt.id == prompt.id).values(status=before))
        db.session.commit()
        raise
    db.session.execute(update(TopicPrompt).where(TopicPrompt.id == prompt.id)
                       .values(status=ANSWERED, topic_id=ct.topic_id, closed_at=utcnow()))
    db.session.commit()
    db.session.refresh(prompt)
    return "answered", ct


def handle_command(portal: Portal, data: dict) -> str:
    """One ONIMBOTV2COMMANDADD: a keyboard press on a prompt or a digest."""
    cmd = data.get("command") or {}
    if str(cmd.get("command") or "").lstrip("/") != bot.COMMAND:
        return "other command"
    parts = str(cmd.get("params") or "").split()
    user_id = int((data.get("user") or {}).get("id") or 0)
    chat = data.get("chat") or {}
    dialog = str(user_id) if str(chat.get("type") or "private") == "private" else str(chat.get("dialogId") or "")
    if len(parts) < 2 or not parts[1].isdigit():
        return "bad params"
    prompt = db.session.scalar(select(TopicPrompt).where(TopicPrompt.portal_id == portal.id,
                                                         TopicPrompt.id == int(parts[1])))
    if prompt is None:
        return "no prompt"
    action, arg = parts[0], (int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else 0)
    with force_locale(portal.language or "ru"):
        if user_id != prompt.user_id:
            _say(portal, user_id, dialog, message("topics.not_yours"))
            _restore_keyboard(portal, prompt, data)
            return "not yours"
        if action == "page":
            if prompt.status in (SENT, FAILED, NOTIFIED) and prompt.message_id:
                prompt.page = arg
                db.session.commit()
                bot.update(portal, prompt.message_id, _ask_text(portal, prompt), keyboard(prompt, arg))
            return "paged"
        if action == "show":
            if needs_topic(_call(portal.id, prompt.call_id), portal) and prompt.status in OPEN:
                prompt.channel = "bot"
                db.session.commit()
                _repost(portal, prompt, reminder=False)
                db.session.commit()
                return "reposted"
            _say(portal, user_id, dialog, message("prompt.already"))
            return "already"
        if action != "pick":
            return "bad action"
        outcome, ct = answer(portal, prompt, arg, user_id)
        if outcome == "answered":
            if prompt.message_id and prompt.channel == "bot":
                bot.update(portal, prompt.message_id, _done_text(portal, prompt, ct), [])
            name = db.session.get(Topic, ct.topic_id).name
            _say(portal, user_id, dialog, message("prompt.thanks").format(name=name))
            return "answered"
        if outcome == "same":
            return "same"  # a second press of the chosen topic: nothing changes, nothing is said
        if outcome == "already":
            _say(portal, user_id, dialog, message("prompt.already"))
            return "already"
        if outcome == "topics.archived":
            if prompt.message_id and prompt.channel == "bot":
                bot.update(portal, prompt.message_id, _ask_text(portal, prompt), keyboard(prompt, 0))
            _say(portal, user_id, dialog, message("prompt.archived"))
            return "archived"
        if outcome == "topics.locked" and prompt.message_id:
            bot.update(portal, prompt.message_id, _ask_text(portal, prompt).split("\n")[-1], [])
        else:
            _restore_keyboard(portal, prompt, data)
        _say(portal, user_id, dialog, message(outcome))
        return outcome


def _restore_keyboard(portal: Portal, prompt: TopicPrompt, data: dict) -> None:
    """A press with BLOCK=Y greys the buttons until the bot answers: give the open prompt its buttons back."""
    mid = int((data.get("message") or {}).get("id") or 0)
    if prompt.status in (SENT, FAILED, NOTIFIED) and mid and mid == prompt.message_id:
        bot.update(portal, mid, _ask_text(portal, prompt), keyboard(prompt, prompt.page))


def poll_bot(portal_id: int) -> int:
    """Read and handle the bot's events; the stored offset moves only past handled events."""
    portal = db.session.get(Portal, portal_id)
    state = bot.state_for(portal_id)
    if portal is None or not portal.is_active or state.status != "active" or not state.bot_id:
        return 0
    handled = 0
    for _round in range(10):
        page = bot.fetch_events(portal, state)
        events = page.get("events") or []
        for ev in events:
            try:
                if str(ev.get("type") or "").upper() == "ONIMBOTV2COMMANDADD":
                    handle_command(portal, ev.get("data") or {})
            except (E.TransientError, E.AuthError):
                db.session.rollback()
                state.event_offset = int(ev.get("eventId") or state.event_offset)  # confirm the earlier ones only
                db.session.commit()
                raise
            except Exception:  # a poison event must not block the queue
                db.session.rollback()
                log.exception("portal=%s bot event %s not handled", portal.member_id, ev.get("eventId"))
            handled += 1
        nxt = int(page.get("nextOffset") or 0)
        if nxt and nxt != state.event_offset:
            state.event_offset = nxt
            db.session.commit()
        if not page.get("hasMore"):
            break
        time.sleep(2)  # the docs ask for ≥ 2 s between pages
    return handled


@app_periodic_task(crontab(minute="*"))
def poll_bots() -> int:
    """Fetch-mode loop for one minute: every few seconds for portals with an open bot prompt, else every 30 s."""
    try:
        lock = huey.lock_task("cq-topic-bot-poll")
        lock.__enter__()
    except Exception:
        return 0  # the previous minute's loop is still running
    handled, last_idle = 0, 0.0
    try:
        deadline = time.monotonic() + 55
        while time.monotonic() < deadline:
            hot = set(db.session.scalars(select(TopicPrompt.portal_id).where(
                TopicPrompt.status.in_((SENT, ANSWERING)), TopicPrompt.channel == "bot").distinct()).all())
            ids = hot
            if time.monotonic() - last_idle >= 30:
                ids = set(db.session.scalars(select(TopicBot.portal_id).where(TopicBot.status == "active")).all())
                last_idle = time.monotonic()
            for pid in ids:
                try:
                    handled += poll_bot(pid)
                except E.BitrixError as exc:
                    db.session.rollback()
                    log.warning("portal=%s bot events not read: %s", pid, exc.code)
            db.session.close()
            time.sleep(3)
    finally:
        lock.__exit__(None, None, None)
    return handled


# --- a topic set elsewhere closes the prompt ------------------------------------------------------------

def _topic_set(portal_id: int, call_id: str, ct: CallTopic) -> None:
    prompt = db.session.scalar(select(TopicPrompt).where(TopicPrompt.portal_id == portal_id,
                                                         TopicPrompt.call_id == call_id))
    if prompt is None or prompt.status not in NOT_DONE:
        return  # none, or the chat itself is answering
    had_message = prompt.status == SENT and prompt.channel == "bot" and prompt.message_id
    closed = db.session.execute(update(TopicPrompt).where(
        TopicPrompt.id == prompt.id, TopicPrompt.status.in_(NOT_DONE))
        .values(status=CLOSED, topic_id=ct.topic_id, closed_at=utcnow())).rowcount
    db.session.commit()
    if closed and had_message:
        close_message(prompt.id)


@app_task(retries=5, retry_delay=30)
def close_message(prompt_id: int) -> str:
    """Edit the open prompt message: show the topic chosen elsewhere, remove the buttons."""
    prompt = db.session.get(TopicPrompt, prompt_id)
    if prompt is None or not prompt.message_id:
        return "nothing"
    portal = db.session.get(Portal, prompt.portal_id)
    with force_locale(portal.language or "ru"):
        bot.update(portal, prompt.message_id, _done_text(portal, prompt, service.topic_of(portal.id, prompt.call_id)), [])
    return "edited"


service.on_topic_set.append(_topic_set)


# --- install: register the bot ----------------------------------------------------------------------

def _register_bot(portal: Portal) -> None:
    try:
        bot.register(portal, force=True)
    except E.BitrixError as exc:  # transient: the first prompt registers it
        log.warning("portal=%s bot not registered at install: %s", portal.member_id, exc.code)


def _install_hook() -> None:
    from ..portals.lifecycle import after_install

    if _register_bot not in after_install:
        after_install.append(_register_bot)


_install_hook()


# --- the page a notification links to ---------------------------------------------------------------

def _prompt_from_token(token: str) -> tuple[Portal, TopicPrompt]:
    try:
        data = _link_serializer().loads(token, max_age=LINK_TTL)
    except SignatureExpired:
        abort(410)
    except BadSignature:
        abort(404)
    prompt = db.session.get(TopicPrompt, int(data.get("i") or 0))
    portal = db.session.get(Portal, int(data.get("p") or 0))
    if prompt is None or portal is None or not portal.is_active or prompt.portal_id != portal.id \
            or prompt.user_id != int(data.get("u") or 0):
        abort(404)
    return portal, prompt


@bp.route("/b24/topics/prompt/<token>", methods=["GET", "POST"])
def prompt_page(token: str):
    """Pick the topic of one call: opened from a notification link (the signed link names the manager)."""
    ratelimit.enforce("prompt")
    if cross_site():  # the link token is the credential; a page elsewhere must not answer for the manager
        raise FrameRefused("frame.cross_site", 403)
    portal, prompt = _prompt_from_token(token)
    g.locale = portal.language if portal.language in ("ru", "en") else "ru"
    g.frame_origin = portal.origin  # the portal may show it in its slider
    note, ok = "", False
    if request.method == "POST":
        topic_id = request.form.get("topic_id", type=int) or 0
        outcome, ct = answer(portal, prompt, topic_id, prompt.user_id)
        if outcome == "answered" and prompt.channel == "bot" and prompt.message_id:
            try:
                with force_locale(g.locale):
                    bot.update(portal, prompt.message_id, _done_text(portal, prompt, ct), [])
            except E.BitrixError:
                log.warning("prompt %s: message not edited after the page answer", prompt.id)
        ok = outcome in ("answered", "same")
        note = message("prompt.saved") if ok else message("prompt.already" if outcome == "already" else outcome)
    call = _call(portal.id, prompt.call_id)
    current = service.topic_of(portal.id, prompt.call_id)
    current_topic = db.session.get(Topic, current.topic_id) if current else None
    return render_template("topics/prompt.html", line=call_line(portal, call, prompt.call_id, bb=False),
                           topics=service.ranked_for(portal.id, prompt.user_id), current=current_topic,
                           note=note, ok=ok, token=token,
                           closed=prompt.status in (ANSWERED, CLOSED) or current is not None)
