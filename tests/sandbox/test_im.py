"""Messenger: notifications, im.message.add with a keyboard, imbot.v2 send/update/Event.get, and a
button press delivering ONIMBOTV2COMMANDADD to the bot's webhook (a tiny Flask app) or fetch queue."""

from __future__ import annotations

from urllib.parse import parse_qsl

import requests

from .helpers import admin, call, hook, tokens

KEYBOARD = {"BUTTONS": [{"TEXT": "Доставка", "COMMAND": "topic", "COMMAND_PARAMS": "delivery", "BLOCK": "Y"},
                        {"TYPE": "NEWLINE"},
                        {"TEXT": "Сайт", "LINK": "https://example.com"}]}


def test_notifications_and_messages(sandbox):
    nid = hook(sandbox, "im.notify.system.add", {"USER_ID": 3, "MESSAGE": "Оцените звонок"}).json()["result"]
    mid = hook(sandbox, "im.message.add", {"DIALOG_ID": "3", "MESSAGE": "Привет", "KEYBOARD": KEYBOARD}).json()["result"]
    assert isinstance(nid, int) and isinstance(mid, int)
    assert hook(sandbox, "im.message.update", {"MESSAGE_ID": mid, "MESSAGE": "Привет!"}).json()["result"] is True
    msgs = sandbox.state.im.messages_for(3)
    assert [m["id"] for m in msgs] == [nid, mid]
    assert msgs[0]["notification"] and msgs[0]["system"]
    assert msgs[1]["text"] == "Привет!" and msgs[1]["edited"] and msgs[1]["keyboard"][0]["COMMAND"] == "topic"
    chat = hook(sandbox, "im.chat.add", {"USERS": [3, 4], "TITLE": "Разбор", "MESSAGE": "Старт"}).json()["result"]
    assert any(m["chat_id"] == chat for m in sandbox.state.im.messages_for(4))
    assert hook(sandbox, "im.message.add", {"DIALOG_ID": "3"}).json()["error"] == "MESSAGE_EMPTY"
    assert admin(sandbox, "im/press", {"user_id": 3, "message_id": mid, "button_index": 2})["client_action"] == "LINK"


def test_bot_button_press_reaches_the_webhook(sandbox, stub_app):
    token = tokens(sandbox)["access_token"]
    reg = call(sandbox, "imbot.v2.Bot.register", token, {"fields": {
        "code": "topic_bot", "properties": {"name": "Тематизатор"}, "eventMode": "webhook",
        "webhookUrl": stub_app.url + "/bot"}}).json()["result"]
    bot_id = reg["bot"]["id"]
    assert reg["bot"]["eventMode"] == "webhook" and reg["users"][0]["bot"] is True
    again = call(sandbox, "imbot.v2.Bot.register", token, {"fields": {"code": "topic_bot",
                                                                      "properties": {"name": "Тематизатор"}}}).json()
    assert again["result"]["bot"]["id"] == bot_id  # idempotent by code
    call(sandbox, "imbot.v2.Command.register", token, {"botId": bot_id, "fields": {"command": "topic",
                                                                                  "title": {"ru": "Тема"}}})
    sent = call(sandbox, "imbot.v2.Chat.Message.send", token, {
        "botId": bot_id, "dialogId": "3", "fields": {"message": "Выберите тему", "keyboard": KEYBOARD}}).json()
    mid = sent["result"]["id"]
    assert sent["result"]["uuidMap"] == {}
    [msg] = [m for m in sandbox.state.im.messages_for(3) if m["id"] == mid]
    assert msg["author"]["kind"] == "bot" and msg["author"]["name"] == "Тематизатор"
    out = sandbox.state.im.press_button(3, mid, 0)
    assert out["delivered"] and out["mode"] == "webhook" and out["status"] == 200
    [post] = stub_app.received("/bot")
    form = dict(parse_qsl(post["raw"], keep_blank_values=True))
    assert form["event"] == "ONIMBOTV2COMMANDADD"
    assert (form["data[command][command]"], form["data[command][params]"], form["data[command][context]"]) == \
        ("topic", "delivery", "keyboard")
    assert form["data[message][id]"] == str(mid) and form["data[user][id]"] == "3"
    assert "auth[application_token]" in form and form["data[bot][auth][access_token]"]
    assert sandbox.state.im.message(mid)["keyboard"][0]["DISABLED"] == "Y"  # BLOCK=Y
    upd = call(sandbox, "imbot.v2.Chat.Message.update", token, {"botId": bot_id, "messageId": mid,
                                                                "fields": {"message": "Спасибо!", "keyboard": []}})
    assert upd.json()["result"] is True and sandbox.state.im.message(mid)["keyboard"] == []


def test_bot_fetch_mode_event_get(sandbox):
    token = tokens(sandbox)["access_token"]
    bot_id = call(sandbox, "imbot.v2.Bot.register", token, {"fields": {
        "code": "fetch_bot", "properties": {"name": "Бот"}}}).json()["result"]["bot"]["id"]
    mid = call(sandbox, "imbot.v2.Chat.Message.send", token, {
        "botId": bot_id, "dialogId": "4", "fields": {"message": "?", "keyboard": KEYBOARD}}).json()["result"]["id"]
    assert sandbox.state.im.press_button(4, mid, 0)["mode"] == "fetch"
    got = call(sandbox, "imbot.v2.Event.get", token, {"botId": bot_id}).json()["result"]
    [event] = got["events"]
    assert event["type"] == "ONIMBOTV2COMMANDADD" and event["data"]["command"]["context"] == "keyboard"
    assert got["hasMore"] is False and got["nextOffset"] == event["eventId"] + 1
    confirmed = call(sandbox, "imbot.v2.Event.get", token, {"botId": bot_id, "offset": got["nextOffset"]}).json()
    assert confirmed["result"]["events"] == []
    assert requests.get(f"{sandbox.url}/_sandbox/im/messages", params={"user_id": 4}, timeout=5).json()[0]["id"] == mid
