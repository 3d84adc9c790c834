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


def _flag(value) -> bool:
    return text(value).upper() == "Y"


def recent_list(call: Call) -> dict:
    """The caller's recent dialogs (docs: api-reference/chats/im-recent-list.md), OFFSET/LIMIT paged."""
    p = upper(call.params)
    try:
        offset = int(text(p.get("OFFSET")) or 0)
        limit = int(text(p.get("LIMIT")) or 50)
    except ValueError:
        raise RestError("ERROR_ARGUMENT", "OFFSET and LIMIT must be numbers", 400) from None
    limit = max(1, min(limit, 200))
    items = call.state.im.recent(call.caller.user_id, chats=not _flag(p.get("SKIP_CHAT")),
                                 dialogs=not _flag(p.get("SKIP_DIALOG")))
    page_items = items[max(0, offset):max(0, offset) + limit]
    more = max(0, offset) + limit < len(items)
    return {"items": page_items, "hasMorePages": more, "hasMore": more, "copilot": {"chats": None},
            "messagesAutoDeleteConfigs": []}


def dialog_get(call: Call) -> dict:
    """A chat's data for a member (docs: api-reference/chats/im-dialog-get.md); ACCESS_ERROR otherwise."""
    dialog = text(upper(call.params).get("DIALOG_ID"))
    if not dialog:
        raise RestError("DIALOG_ID_EMPTY", "Dialog ID can't be empty", 400)
    if dialog.startswith("chat") and dialog[4:].isdigit():
        chat = call.state.im.chat(int(dialog[4:]))
        if chat is None or call.caller.user_id not in chat["users"]:
            raise RestError("ACCESS_ERROR", "You do not have access to the specified dialog", 403)
        return call.state.im.dialog_view(chat)
    user = call.state.directory.user(int(dialog)) if dialog.isdigit() else None
    if user is None:
        raise RestError("ACCESS_ERROR", "You do not have access to the specified dialog", 403)
    return {"id": str(user.id), "title": f"{user.name} {user.last_name}", "type": "private"}


METHODS = [
    MethodSpec("im.notify.system.add", notify_system, "im"),
    MethodSpec("im.notify.personal.add", notify_personal, "im"),
    MethodSpec("im.notify", notify_personal, "im"),
    MethodSpec("im.message.add", message_add, "im"),
    MethodSpec("im.message.update", message_update, "im"),
    MethodSpec("im.chat.add", chat_add, "im"),
    MethodSpec("im.recent.list", recent_list, "im"),
    MethodSpec("im.dialog.get", dialog_get, "im"),
]
