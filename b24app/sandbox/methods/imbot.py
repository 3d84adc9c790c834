"""imbot.v2.* (REST-FACTS §6.2): Bot.register, Command.register, Chat.Message.send/update, Event.get."""

from __future__ import annotations

from typing import Any

from ..dispatch import Call, MethodSpec
from ..envelope import RestError, argument_null
from .common import text


def _available(fn):
    """A portal without imbot.v2 (older on-premise core) knows none of these methods."""
    def run(call: Call) -> Any:
        if not call.state.settings.imbot_v2_available:
            raise RestError("ERROR_METHOD_NOT_FOUND", "Method not found!", 404)
        return fn(call)

    run.__name__ = fn.__name__
    return run


def _p(call: Call, name: str) -> Any:
    for k, v in call.params.items():
        if str(k).lower() == name.lower():
            return v
    return None


def _bot(call: Call) -> dict:
    raw = text(_p(call, "botId"))
    if not raw.isdigit():
        raise argument_null("botId")
    bot = call.state.im.bots.get(int(raw))
    if bot is None or bot["client_id"] != _client(call):
        raise RestError("BOT_NOT_FOUND", "Bot not found", 400)
    return bot


def _client(call: Call) -> str:
    # Under OAuth the bot belongs to the app (client_id); a webhook bot to its botToken.
    if call.caller.is_app:
        return call.state.settings.client_id
    return "webhook:" + text(_p(call, "botToken"))


def bot_register(call: Call) -> dict:
    fields = _p(call, "fields")
    if not isinstance(fields, dict) or not text(fields.get("code")):
        raise argument_null("code")
    props = fields.get("properties") if isinstance(fields.get("properties"), dict) else {}
    if not text(props.get("name")):
        raise argument_null("properties.name")
    if text(fields.get("eventMode")) == "webhook" and not text(fields.get("webhookUrl")):
        raise argument_null("webhookUrl")
    bot = call.state.im.register_bot(fields, _client(call))
    return _bot_view(call, bot)


def _bot_view(call: Call, bot: dict) -> dict:
    props = bot["properties"]
    name = " ".join(x for x in (text(props.get("name")), text(props.get("lastName"))) if x)
    return {"bot": {"id": bot["id"], "code": bot["code"], "type": bot["type"], "isHidden": bot["isHidden"],
                    "isSupportOpenline": bot["isSupportOpenline"], "isReactionsEnabled": bot["isReactionsEnabled"],
                    "backgroundId": None, "language": call.state.settings.language, "moduleId": "rest",
                    "eventMode": bot["eventMode"], "countMessage": 0, "countCommand": 0, "countChat": 0,
                    "countUser": 0},
            "users": [{"id": bot["id"], "active": True, "name": name, "firstName": text(props.get("name")),
                       "lastName": text(props.get("lastName")), "workPosition": text(props.get("workPosition")),
                       "color": text(props.get("color")) or "#df532d", "avatar": "",
                       "gender": text(props.get("gender")) or "M", "birthday": "", "extranet": False, "bot": True,
                       "connector": False, "externalAuthId": "bot", "status": "online", "idle": False,
                       "lastActivityDate": "", "absent": False, "departments": [1], "phones": False,
                       "type": "bot"}]}


def command_register(call: Call) -> dict:
    bot = _bot(call)
    fields = _p(call, "fields")
    if not isinstance(fields, dict):  # the old flat format (supported until 2026-09-30)
        fields = {"command": _p(call, "command"), "title": _p(call, "title"), "params": _p(call, "params")}
    if not text(fields.get("command")):
        raise argument_null("command")
    cmd = call.state.im.register_command(bot["id"], fields)
    return {"command": {"id": cmd["id"], "botId": cmd["botId"], "command": cmd["command"]}}


def message_send(call: Call) -> dict:
    bot = _bot(call)
    dialog = text(_p(call, "dialogId"))
    fields = _p(call, "fields") if isinstance(_p(call, "fields"), dict) else {}
    message = text(fields.get("message"))
    if not dialog:
        raise argument_null("dialogId")
    if not message and not fields.get("attach"):
        raise RestError("MESSAGE_EMPTY", "Message can't be empty", 400)
    if dialog.isdigit() and call.state.directory.user(int(dialog)) is None:
        raise RestError("DIALOG_NOT_FOUND", "Dialog not found", 400)
    if len(message) > 20000:
        raise RestError("MESSAGE_TOO_LONG", "Message is longer than 20000 characters", 400)
    try:
        msg = call.state.im.send(bot["id"], dialog, message, keyboard=fields.get("keyboard"),
                                 attach=fields.get("attach"), system=str(fields.get("system")).upper() in ("Y", "TRUE"),
                                 bot_id=bot["id"])
    except (LookupError, ValueError):
        raise RestError("DIALOG_NOT_FOUND", "Dialog not found", 400) from None
    return {"id": msg["id"], "uuidMap": {}}


def message_update(call: Call) -> bool:
    bot = _bot(call)
    fields = _p(call, "fields") if isinstance(_p(call, "fields"), dict) else {}
    mid = text(_p(call, "messageId"))
    ok = mid.isdigit() and call.state.im.update(
        int(mid), text=fields.get("message") if "message" in fields else None,
        keyboard=fields.get("keyboard") if "keyboard" in fields else None,
        attach=fields.get("attach") if "attach" in fields else None, author_id=bot["id"])
    if not ok:
        raise RestError("MESSAGE_NOT_FOUND", "Message not found", 400)
    return True


def event_get(call: Call) -> dict:
    bot = _bot(call)
    try:
        offset = int(text(_p(call, "offset")) or 0)
        limit = int(text(_p(call, "limit")) or 100)
    except ValueError:
        raise RestError("ERROR_ARGUMENT", "offset and limit must be numbers", 400) from None
    if not 1 <= limit <= 1000:
        raise RestError("ERROR_ARGUMENT", "limit must be between 1 and 1000", 400)
    return call.state.im.fetch_events(bot["id"], offset, limit)


METHODS = [
    MethodSpec("imbot.v2.bot.register", _available(bot_register), "imbot"),
    MethodSpec("imbot.v2.command.register", _available(command_register), "imbot"),
    MethodSpec("imbot.v2.chat.message.send", _available(message_send), "imbot"),
    MethodSpec("imbot.v2.chat.message.update", _available(message_update), "imbot"),
    MethodSpec("imbot.v2.event.get", _available(event_get), "imbot"),
]
