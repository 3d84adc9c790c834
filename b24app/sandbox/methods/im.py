"""im.* over state.im: notifications, messages (with keyboards) and chats (REST-FACTS §6.1)."""

from __future__ import annotations

from ..dispatch import Call, MethodSpec
from ..envelope import RestError
from .common import text, upper


def _notify(call: Call, personal: bool) -> int:
    p = upper(call.params)
    user_id = text(p.get("USER_ID"))
    if not user_id.isdigit():
        raise RestError("USER_ID_EMPTY", "Recipient ID can't be empty", 400)
    if call.state.directory.user(int(user_id)) is None:
        raise RestError("USER_NOT_FOUND", "User not found", 400)
    message = text(p.get("MESSAGE"))
    if not message and not p.get("ATTACH"):
        raise RestError("MESSAGE_EMPTY", "Message can't be empty", 400)
    return call.state.im.notify(int(user_id), message, author_id=call.caller.user_id if personal else 0,
                                tag=text(p.get("TAG")) or None, personal=personal, attach=p.get("ATTACH"))


def notify_system(call: Call) -> int:
    return _notify(call, False)


def notify_personal(call: Call) -> int:
    return _notify(call, True)


def message_add(call: Call) -> int:
    p = upper(call.params)
    dialog = text(p.get("DIALOG_ID"))
    if not dialog:
        raise RestError("DIALOG_ID_EMPTY", "Dialog ID can't be empty", 400)
    message = text(p.get("MESSAGE"))
    if not message and not p.get("ATTACH"):
        raise RestError("MESSAGE_EMPTY", "Message can't be empty", 400)
    if not dialog.startswith("chat") and (not dialog.isdigit() or call.state.directory.user(int(dialog)) is None):
        raise RestError("USER_NOT_FOUND", "User not found", 400)
    try:
        msg = call.state.im.send(call.caller.user_id, dialog, message, keyboard=p.get("KEYBOARD"),
                                 attach=p.get("ATTACH"), system=text(p.get("SYSTEM")).upper() == "Y")
    except LookupError:
        raise RestError("CHAT_ID", "Chat not found", 400) from None
    return msg["id"]


def message_update(call: Call) -> bool:
    p = upper(call.params)
    ok = call.state.im.update(int(text(p.get("MESSAGE_ID")) or 0),
                              text=p.get("MESSAGE") if "MESSAGE" in p else None,
                              keyboard=p.get("KEYBOARD") if "KEYBOARD" in p else None,
                              attach=p.get("ATTACH") if "ATTACH" in p else None, author_id=call.caller.user_id)
    if not ok:
        raise RestError("CANT_EDIT_MESSAGE", "Time has expired for modification or you don't have access", 400)
    return True


def chat_add(call: Call) -> int:
    p = upper(call.params)
    users = p.get("USERS") if isinstance(p.get("USERS"), list) else list((p.get("USERS") or {}).values()) \
        if isinstance(p.get("USERS"), dict) else []
    chat_id = call.state.im.add_chat([int(u) for u in users if str(u).isdigit()], text(p.get("TITLE")),
                                     call.caller.user_id, chat_type=text(p.get("TYPE")).upper() or "CHAT",
                                     entity_type=text(p.get("ENTITY_TYPE")), entity_id=text(p.get("ENTITY_ID")),
                                     description=text(p.get("DESCRIPTION")))
    if text(p.get("MESSAGE")):
        call.state.im.send(call.caller.user_id, f"chat{chat_id}", text(p.get("MESSAGE")))
    return chat_id


METHODS = [
    MethodSpec("im.notify.system.add", notify_system, "im"),
    MethodSpec("im.notify.personal.add", notify_personal, "im"),
    MethodSpec("im.notify", notify_personal, "im"),
    MethodSpec("im.message.add", message_add, "im"),
    MethodSpec("im.message.update", message_update, "im"),
    MethodSpec("im.chat.add", chat_add, "im"),
]
