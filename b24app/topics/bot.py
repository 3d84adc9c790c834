"""The app's chat bot (imbot.v2, REST-FACTS §6.2): registration, sending and editing its messages, reading its events.

Event mode: **fetch**. A keyboard press is an ONIMBOTV2COMMANDADD event. In webhook mode the portal
POSTs it once and "retries are not guaranteed" (§6.2, and §3.2: a failed delivery is dropped), so a
click made while the app restarts would be lost. In fetch mode the portal keeps the event until we
confirm it by passing a later `offset` to `imbot.v2.Event.get`, and we store that offset only after
the event is handled: nothing is lost, a crash means a re-read, and handling is idempotent. Clicks
still land within seconds: `prompts.poll_bots` polls every few seconds the portals that have an open
prompt (and every half minute the rest, as the docs advise when idle).

Only the bot API lives here; what the messages say and what a click does is in `prompts.py`.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask_babel import force_locale
from flask_babel import gettext as _

from ..bitrix import errors as E
from ..bitrix.payloads import portal_timezone
from ..extensions import db
from ..models_base import row_for_portal, utcnow
from ..portals.models import Portal
from ..portals.rest import client_for
from .models import TopicBot

log = logging.getLogger(__name__)

BOT_CODE = "cq_topic_bot"
COMMAND = "calltopic"
RECHECK_AFTER = timedelta(hours=6)  # an unavailable bot API is tried again after this long
# Errors meaning "this portal has no usable bot API for us" (not a passing outage).
PERMANENT = (E.MethodNotFound, E.AccessDenied)


class BotUnavailable(Exception):
    """The bot API cannot be used on this portal (method missing, scope not granted, registration refused)."""


def state_for(portal_id: int) -> TopicBot:
    return row_for_portal(TopicBot, portal_id)


def _client(portal: Portal):
    return client_for(portal.member_id, max_attempts=3)


def _remember_tz(row: TopicBot, time_block: dict) -> None:
    """The portal's UTC offset from the `time.date_start` every response carries (§8.4)."""
    tz = portal_timezone(time_block)
    if tz is not None:
        row.tz_offset_minutes = int(tz.utcoffset(None).total_seconds() // 60)


def register(portal: Portal, force: bool = False) -> TopicBot:
    """Register the bot and its keyboard command (both idempotent by code); remember the outcome.

    Never raises for a portal without the bot API: the row says `unavailable` and prompts fall back
    to notifications. A passing outage (transient error) leaves the row as it was.
    """
    row = state_for(portal.id)
    if not force and row.status == "active" and row.bot_id and row.command_id:
        return row
    client = _client(portal)
    with force_locale(portal.language or "ru"):
        name = _("Темы звонков")
        position = _("Бот приложения «Контроль качества звонков»")
    try:
        res = client.call("imbot.v2.Bot.register", {"fields": {
            "code": BOT_CODE, "type": "bot", "eventMode": "fetch",
            "properties": {"name": name, "workPosition": position, "color": "AQUA"}}})
        bot_id = int(((res.result or {}).get("bot") or {}).get("id") or 0)
        if not bot_id:
            raise E.BitrixError("BOT_NOT_REGISTERED", "no bot id in the answer")
        time_block = res.time
        with force_locale("ru"):
            title_ru = _("Тема звонка")
        with force_locale("en"):
            title_en = _("Тема звонка")
        cmd = client.call("imbot.v2.Command.register", {"botId": bot_id, "fields": {
            "command": COMMAND, "title": {"ru": title_ru, "en": title_en}, "hidden": True, "common": False}})
        command_id = int(((cmd.result or {}).get("command") or {}).get("id") or 0)
    except E.TransientError as exc:
        log.warning("portal=%s bot registration postponed: %s", portal.member_id, exc.code)
        raise
    except (E.BitrixError, ValueError, TypeError, AttributeError) as exc:
        code = getattr(exc, "code", type(exc).__name__)
        log.warning("portal=%s bot API unavailable: %s", portal.member_id, code)
        row.status, row.error, row.checked_at = "unavailable", str(code)[:255], utcnow()
        db.session.commit()
        return row
    _remember_tz(row, time_block)
    row.bot_id, row.command_id, row.status, row.error, row.checked_at = bot_id, command_id, "active", "", utcnow()
    db.session.commit()
    return row


def usable_bot(portal: Portal) -> TopicBot:
    """The registered bot, registering it when needed; BotUnavailable when the portal has none for us."""
    row = state_for(portal.id)
    if row.status == "unavailable":
        checked = row.checked_at
        if checked is not None and utcnow() - checked < RECHECK_AFTER:
            raise BotUnavailable(row.error)
    if row.status != "active" or not row.bot_id:
        row = register(portal, force=True)
    if row.status != "active":
        raise BotUnavailable(row.error)
    return row


def _mark_unavailable(row: TopicBot, exc: E.BitrixError) -> None:
    row.status, row.error, row.checked_at = "unavailable", str(exc.code)[:255], utcnow()
    db.session.commit()


def send(portal: Portal, dialog_id: str, message: str, keyboard: list | None = None) -> int:
    """Post a bot message; returns its ID. BotUnavailable when the bot API refuses for good."""
    row = usable_bot(portal)
    fields: dict = {"message": message, "urlPreview": "N"}
    if keyboard:
        fields["keyboard"] = {"BOT_ID": row.bot_id, "BUTTONS": keyboard}
    params = {"botId": row.bot_id, "dialogId": str(dialog_id), "fields": fields}
    try:
        res = _client(portal).call("imbot.v2.Chat.Message.send", params)
    except PERMANENT as exc:
        _mark_unavailable(row, exc)
        raise BotUnavailable(exc.code) from exc
    except E.BitrixError as exc:
        if exc.code != "BOT_NOT_FOUND":
            raise
        # The bot was deleted on the portal: register it again (same code) and send once more.
        row = register(portal, force=True)
        if row.status != "active":
            raise BotUnavailable(row.error) from exc
        params["botId"] = row.bot_id
        if keyboard:
            fields["keyboard"]["BOT_ID"] = row.bot_id
        res = _client(portal).call("imbot.v2.Chat.Message.send", params)
    result = res.result or {}
    return int(result.get("id") if isinstance(result, dict) else result)


def update(portal: Portal, message_id: int, message: str, keyboard: list | None = None) -> bool:
    """Edit a bot message; `keyboard=[]` removes the buttons. False when the message is gone."""
    row = state_for(portal.id)
    if not row.bot_id:
        return False
    fields: dict = {"message": message, "keyboard": {"BOT_ID": row.bot_id, "BUTTONS": keyboard} if keyboard else []}
    try:
        _client(portal).call("imbot.v2.Chat.Message.update",
                             {"botId": row.bot_id, "messageId": int(message_id), "fields": fields})
    except (E.TransientError, E.AuthError):
        raise
    except E.BitrixError as exc:  # deleted message or bot, method gone: nothing left to edit
        log.info("portal=%s bot message %s not edited: %s", portal.member_id, message_id, exc.code)
        return False
    return True


def fetch_events(portal: Portal, row: TopicBot, limit: int = 100) -> dict:
    """One imbot.v2.Event.get page after the stored offset (which confirms everything before it)."""
    params: dict = {"botId": row.bot_id, "limit": limit}
    if row.event_offset:
        params["offset"] = row.event_offset
    res = _client(portal).call("imbot.v2.Event.get", params)
    return res.result if isinstance(res.result, dict) else {}
