"""Messenger in memory: notifications, private and group chats, messages with keyboards, and
imbot.v2 bots (fetch queue or webhook). `press_button` plays a user's click on a keyboard button."""

from __future__ import annotations

import html
import json
import re
import threading
import time
from typing import Any

from markupsafe import Markup

from .envelope import iso


def parse_keyboard(value: Any) -> list[dict]:
    """KEYBOARD as {BOT_ID?, BUTTONS:[…]}, a bare array or a JSON string → list of button dicts."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except ValueError:
            return []
    if isinstance(value, dict):
        upper = {str(k).upper(): v for k, v in value.items()}
        if "BUTTONS" in upper:
            value = upper["BUTTONS"]
        elif all(str(k).isdigit() for k in value):
            value = [value[k] for k in sorted(value, key=lambda k: int(k))]
        else:
            value = [value]
    if isinstance(value, dict):
        value = list(value.values())
    out = []
    for button in value or []:
        if isinstance(button, dict):
            out.append({str(k).upper(): v for k, v in button.items()})
    return out


_BB = [
    (re.compile(r"\[URL=(https?://[^\]\s]+)\](.*?)\[/URL\]", re.I | re.S),
     lambda m: f'<a href="{m.group(1)}" target="_blank" rel="noopener">{m.group(2)}</a>'),
    (re.compile(r"\[URL\](https?://[^\[\s]+)\[/URL\]", re.I),
     lambda m: f'<a href="{m.group(1)}" target="_blank" rel="noopener">{m.group(1)}</a>'),
    (re.compile(r"\[(B|I|U|S)\](.*?)\[/\1\]", re.I | re.S),
     lambda m: f"<{m.group(1).lower()}>{m.group(2)}</{m.group(1).lower()}>"),
    (re.compile(r"\[BR\]", re.I), lambda m: "<br>"),
]


def bb_html(text: str) -> Markup:
    """The BB codes Bitrix24 renders in messages ([B], [I], [U], [S], [URL], [BR], line breaks) as safe HTML."""
    out = html.escape(str(text or ""), quote=True)
    for rx, repl in _BB:
        out = rx.sub(repl, out)
    return Markup(out.replace("\n", "<br>"))


class ImStore:
    def __init__(self, state: Any = None):
        self.state = state
        self._lock = threading.RLock()
        self.messages: list[dict[str, Any]] = []
        self.chats: dict[int, dict[str, Any]] = {}
        self.bots: dict[int, dict[str, Any]] = {}
        self.commands: dict[int, dict[str, Any]] = {}
        self.bot_events: dict[int, list[dict[str, Any]]] = {}
        self._next_message = 1
        self._next_chat = 1
        self._next_bot = 5000
        self._next_command = 1
        self._next_event = 1
        # A group chat the portal already has (the management's), for «pick an existing chat».
        self.add_chat([2, 5], "Руководство", 1, description="Руководители отделов")

    @property
    def tz(self):
        return self.state.tz if self.state is not None else None

    def _now(self) -> str:
        return iso(time.time(), self.tz) if self.tz else time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())

    # --- writing ----------------------------------------------------------------------------------

    def _add(self, **fields: Any) -> dict:
        with self._lock:
            msg = {"id": self._next_message, "date": self._now(), "keyboard": [], "attach": None, "system": False,
                   "notification": False, "edited": False, "edited_text": None, "tag": None, "bot_id": None,
                   "author_kind": "user", **fields}
            self._next_message += 1
            if msg.get("tag"):
                self.messages = [m for m in self.messages
                                 if not (m.get("tag") == msg["tag"] and m.get("to_user_id") == msg.get("to_user_id"))]
            self.messages.append(msg)
            return msg

    def notify(self, user_id: int, text: str, *, author_id: int = 0, tag: str | None = None,
               personal: bool = False, attach: Any = None) -> int:
        msg = self._add(chat_id=None, dialog_id=str(user_id), to_user_id=int(user_id), author_id=author_id,
                        author_kind="user" if personal else "system", text=str(text), notification=True,
                        system=not personal, tag=tag, attach=attach)
        return msg["id"]

    def add_chat(self, users: list[int], title: str, owner: int, *, chat_type: str = "CHAT",
                 entity_type: str = "", entity_id: str = "", description: str = "") -> int:
        with self._lock:
            chat_id = self._next_chat
            self._next_chat += 1
            members = [int(owner)] + [int(u) for u in users if int(u) != int(owner)]
            self.chats[chat_id] = {"id": chat_id, "title": title or f"Чат {chat_id}", "type": chat_type,
                                   "owner": int(owner), "users": members, "entity_type": entity_type,
                                   "entity_id": entity_id, "description": description}
            return chat_id

    def send(self, author_id: int, dialog_id: str, text: str, *, keyboard: Any = None, attach: Any = None,
             system: bool = False, bot_id: int | None = None) -> dict:
        dialog_id = str(dialog_id)
        chat_id = int(dialog_id[4:]) if dialog_id.startswith("chat") else None
        to_user = None if chat_id is not None else int(dialog_id)
        if chat_id is not None and chat_id not in self.chats:
            raise LookupError("CHAT_ID")
        return self._add(chat_id=chat_id, dialog_id=dialog_id, to_user_id=to_user, author_id=int(author_id),
                         author_kind="bot" if bot_id else "user", bot_id=bot_id, text=str(text or ""),
                         keyboard=parse_keyboard(keyboard) if keyboard else [], attach=attach, system=system)

    def update(self, message_id: int, *, text: str | None = None, keyboard: Any = None, attach: Any = None,
               author_id: int | None = None) -> bool:
        with self._lock:
            msg = self.message(message_id)
            if msg is None or (author_id is not None and msg["author_id"] != author_id):
                return False
            if text is not None:
                msg["edited"], msg["edited_text"], msg["text"] = True, str(text), str(text)
            if keyboard is not None:
                msg["keyboard"] = parse_keyboard(keyboard)
            if attach is not None:
                msg["attach"] = attach
            return True

    def message(self, message_id: int) -> dict | None:
        with self._lock:
            for m in self.messages:
                if m["id"] == int(message_id):
                    return m
            return None

    # --- reading -------------------------------------------------------------------------------------

    def messages_for(self, user_id: int) -> list[dict]:
        """Everything user `user_id` sees, oldest first: notifications, private dialogs (both ways), chats."""
        uid = int(user_id)
        with self._lock:
            out = []
            for m in self.messages:
                if m["chat_id"] is not None:
                    if uid not in self.chats.get(m["chat_id"], {}).get("users", []):
                        continue
                elif not (m.get("to_user_id") == uid or (m["author_id"] == uid and not m["notification"])):
                    continue
                bot = self.bots.get(m["bot_id"]) if m.get("bot_id") else None
                person = self.state.directory.user(m["author_id"]) if (
                    self.state is not None and not bot and m["author_kind"] == "user" and m["author_id"]) else None
                name = bot["properties"].get("name", "") if bot else \
                    f"{person.name} {person.last_name}" if person else ""
                out.append({**m, "keyboard": [dict(b) for b in m["keyboard"]], "html": bb_html(m["text"]),
                            "author": {"id": m["author_id"], "kind": m["author_kind"], "name": name},
                            "chat": self.chats.get(m["chat_id"]) if m["chat_id"] else None})
            return out

    def recent(self, user_id: int, *, chats: bool = True, dialogs: bool = True) -> list[dict]:
        """im.recent.list items of `user_id`: his group chats and private dialogs, the latest activity first
        (a chat without messages counts from its creation, i.e. its ID)."""
        uid = int(user_id)
        with self._lock:
            last: dict[str, dict] = {}
            for m in self.messages:
                if m["notification"]:
                    continue
                if m["chat_id"] is not None:
                    key = f"chat{m['chat_id']}"
                elif m["author_id"] == uid:
                    key = str(m["to_user_id"])
                elif m.get("to_user_id") == uid:
                    key = str(m["author_id"])
                else:
                    continue
                last[key] = m
            out = []
            if chats:
                for chat in self.chats.values():
                    if uid in chat["users"]:
                        out.append((last.get(f"chat{chat['id']}"), self._recent_chat(chat, last)))
            if dialogs:
                for key, m in last.items():
                    if not key.startswith("chat") and key.isdigit():
                        out.append((m, self._recent_user(int(key), m)))
            out.sort(key=lambda pair: -(pair[0]["id"] if pair[0] else 0))
            return [item for _m, item in out]

    def _recent_message(self, m: dict | None) -> dict | None:
        if m is None:
            return None
        return {"id": m["id"], "text": m["text"], "file": False, "author_id": m["author_id"], "attach": False,
                "sticker": None, "date": m["date"], "status": "received"}

    def _recent_chat(self, chat: dict, last: dict) -> dict:
        m = last.get(f"chat{chat['id']}")
        return {"id": f"chat{chat['id']}", "chat_id": chat["id"], "type": "chat", "title": chat["title"],
                "avatar": {"url": "", "color": "#4ba984"}, "message": self._recent_message(m), "counter": 0,
                "pinned": False, "unread": False, "date_update": m["date"] if m else self._now(),
                "chat": self.dialog_view(chat)}

    def _recent_user(self, user_id: int, m: dict) -> dict:
        user = self.state.directory.user(user_id) if self.state is not None else None
        name = f"{user.name} {user.last_name}" if user else str(user_id)
        return {"id": user_id, "chat_id": 0, "type": "user", "title": name,
                "avatar": {"url": "", "color": "#1eb4aa"}, "message": self._recent_message(m), "counter": 0,
                "pinned": False, "unread": False, "date_update": m["date"],
                "user": {"id": user_id, "active": bool(user and user.active), "name": name, "bot": False}}

    def dialog_view(self, chat: dict) -> dict:
        """A chat as im.dialog.get prints it."""
        return {"id": str(chat["id"]), "title": chat["title"], "owner": str(chat["owner"]), "extranet": False,
                "avatar": "", "color": "#4ba984", "type": "chat" if chat["type"] != "OPEN" else "open",
                "entity_type": chat["entity_type"], "entity_id": chat["entity_id"], "entity_data_1": "",
                "entity_data_2": "", "entity_data_3": "", "date_create": self._now(), "message_type": "C"}

    def chat(self, chat_id: int) -> dict | None:
        with self._lock:
            chat = self.chats.get(int(chat_id))
            return dict(chat, users=list(chat["users"])) if chat else None

    # --- bots (imbot.v2) -------------------------------------------------------------------------------

    def register_bot(self, fields: dict[str, Any], client_id: str) -> dict:
        with self._lock:
            code = str(fields.get("code") or "")
            for bot in self.bots.values():
                if bot["code"] == code and bot["client_id"] == client_id:
                    for key in ("eventMode", "webhookUrl", "type"):
                        if fields.get(key):
                            bot[key] = fields[key]
                    if isinstance(fields.get("properties"), dict):
                        bot["properties"].update(fields["properties"])
                    return bot
            bot_id = self._next_bot
            self._next_bot += 1
            bot = {"id": bot_id, "code": code, "type": fields.get("type") or "bot", "client_id": client_id,
                   "eventMode": fields.get("eventMode") or "fetch", "webhookUrl": fields.get("webhookUrl") or "",
                   "isHidden": bool(fields.get("isHidden", False)),
                   "isReactionsEnabled": fields.get("isReactionsEnabled", True) not in (False, "N", "false"),
                   "isSupportOpenline": bool(fields.get("isSupportOpenline", False)),
                   "properties": dict(fields.get("properties") or {})}
            self.bots[bot_id] = bot
            self.bot_events[bot_id] = []
            return bot

    def register_command(self, bot_id: int, fields: dict[str, Any]) -> dict:
        with self._lock:
            name = str(fields.get("command") or "").lstrip("/")
            for cmd in self.commands.values():
                if cmd["botId"] == bot_id and cmd["command"] == name:
                    cmd.update({k: v for k, v in fields.items() if k != "command"})
                    return cmd
            cmd = {"id": self._next_command, "botId": bot_id, "command": name, "title": fields.get("title") or {},
                   "params": fields.get("params") or {}, "common": bool(fields.get("common", False)),
                   "hidden": bool(fields.get("hidden", False))}
            self._next_command += 1
            self.commands[cmd["id"]] = cmd
            return cmd

    def queue_event(self, bot_id: int, kind: str, data: dict) -> dict:
        with self._lock:
            event = {"eventId": self._next_event, "type": kind, "date": self._now(), "data": data}
            self._next_event += 1
            self.bot_events.setdefault(bot_id, []).append(event)
            return event

    def fetch_events(self, bot_id: int, offset: int, limit: int) -> dict:
        with self._lock:
            queue = self.bot_events.setdefault(bot_id, [])
            if offset:  # passing an offset confirms every earlier event
                queue[:] = [e for e in queue if e["eventId"] >= offset]
            page = queue[:limit]
            more = len(queue) > len(page)
            nxt = page[-1]["eventId"] + 1 if page else (offset or (queue[0]["eventId"] if queue else self._next_event))
            return {"events": [dict(e) for e in page], "nextOffset": nxt, "hasMore": more}

    def press_button(self, user_id: int, message_id: int, button_index: int) -> dict:
        """A click on button `button_index` of the message's keyboard (NEWLINE entries count).
        COMMAND buttons send ONIMBOTV2COMMANDADD (context "keyboard") to the bot: queued in fetch mode,
        POSTed to its webhookUrl in webhook mode. ACTION buttons run on the client: nothing is sent."""
        msg = self.message(message_id)
        if msg is None:
            raise LookupError("message")
        try:
            button = msg["keyboard"][int(button_index)]
        except (IndexError, ValueError):
            raise LookupError("button") from None
        if button.get("ACTION") or button.get("LINK"):
            return {"delivered": False, "client_action": button.get("ACTION") or "LINK",
                    "value": button.get("ACTION_VALUE") or button.get("LINK")}
        if not button.get("COMMAND") or str(button.get("DISABLED", "N")).upper() == "Y":
            return {"delivered": False, "reason": "not a command button"}
        bot = self.bots.get(msg.get("bot_id") or 0) or self._bot_for_keyboard(msg)
        if bot is None:
            return {"delivered": False, "reason": "no bot"}
        if str(button.get("BLOCK", "N")).upper() == "Y":
            with self._lock:
                for b in msg["keyboard"]:
                    if b.get("COMMAND"):
                        b["DISABLED"] = "Y"
        cmd = next((c for c in self.commands.values() if c["botId"] == bot["id"]
                    and c["command"] == str(button["COMMAND"]).lstrip("/")), None)
        data = self._command_event(bot, cmd, button, msg, int(user_id))
        if bot["eventMode"] == "webhook" and bot["webhookUrl"]:
            return {"delivered": True, "mode": "webhook", **self._post(bot, "ONIMBOTV2COMMANDADD", data)}
        event = self.queue_event(bot["id"], "ONIMBOTV2COMMANDADD", data)
        return {"delivered": True, "mode": "fetch", "eventId": event["eventId"]}

    def _bot_for_keyboard(self, msg: dict) -> dict | None:
        for b in msg["keyboard"]:
            if b.get("BOT_ID") and int(b["BOT_ID"]) in self.bots:
                return self.bots[int(b["BOT_ID"])]
        return None

    def _command_event(self, bot: dict, cmd: dict | None, button: dict, msg: dict, user_id: int) -> dict:
        user = self.state.directory.user(user_id) if self.state is not None else None
        chat = self.chats.get(msg["chat_id"]) if msg["chat_id"] else None
        dialog = msg["dialog_id"] if chat else str(bot["id"])
        return {
            "bot": {"id": bot["id"], "code": bot["code"]},
            "command": {"id": cmd["id"] if cmd else 0, "command": str(button["COMMAND"]).lstrip("/"),
                        "params": str(button.get("COMMAND_PARAMS") or ""), "context": "keyboard"},
            "message": {"id": msg["id"], "chatId": msg["chat_id"] or 0, "authorId": msg["author_id"],
                        "text": msg["text"], "date": msg["date"]},
            "chat": {"id": chat["id"] if chat else 0, "dialogId": dialog,
                     "type": "chat" if chat else "private"},
            "user": {"id": user_id, "name": f"{user.name} {user.last_name}" if user else "",
                     "firstName": user.name if user else "", "lastName": user.last_name if user else "",
                     "bot": False},
            "language": self.state.settings.language if self.state is not None else "ru",
        }

    def _post(self, bot: dict, event: str, data: dict) -> dict:
        import requests

        from .events import auth_block, flatten
        state = self.state
        auth = auth_block(state, event, None, False) if state is not None else {}
        # The bot's callback tokens ride in data[bot][auth] (REST-FACTS §6.2); here the app's token for
        # the user who clicked, so the bot can answer at once.
        bot_auth = auth_block(state, event, data["user"]["id"], True) if state is not None else {}
        body = [("event", event)] + flatten("data", {**data, "bot": {**data["bot"], "auth": bot_auth}})
        body += [("ts", str(int(time.time())))] + flatten("auth", auth)
        try:
            r = requests.post(bot["webhookUrl"], data=body, timeout=state.settings.event_timeout if state else 5,
                              headers={"User-Agent": "Bitrix24 Webhook Engine"})
            return {"status": r.status_code}
        except requests.RequestException as exc:
            return {"status": None, "error": type(exc).__name__}
