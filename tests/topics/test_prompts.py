"""The chat prompt for calls without a topic, against the sandbox portal over HTTP (bot in fetch mode).

Time is never waited for: the sweeper functions take `now`, and the bot's event queue is read by
calling `poll_bot` (what the minute loop does every few seconds).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlparse

import pytest
import requests

from b24app.calls.models import Call
from b24app.extensions import db
from b24app.models_base import utcnow
from b24app.qa.models import QaSetup
from b24app.topics import prompts, service
from b24app.topics.models import CallTopic, Topic, TopicBot, TopicPrompt

from ..calls.test_intake import add_stat_row, callend, fire, portal_id

MANAGER, OTHER = 2, 3
NO_IMBOT = "crm,telephony,call,placement,im,disk,user,department,userfieldconfig"


# --- helpers ------------------------------------------------------------------------------------------

def end_call_row(sandbox, **fields) -> dict:
    values = {"CALL_TYPE": "1", "CALL_DURATION": "95", "CALL_FAILED_CODE": "200",
              "PORTAL_USER_ID": str(MANAGER), **fields}
    row = add_stat_row(sandbox, **values)
    fire(sandbox, "ONVOXIMPLANTCALLEND", callend(row))
    return row


def end_call(sandbox, **fields) -> str:
    return end_call_row(sandbox, **fields)["CALL_ID"]


def msgs(sandbox, user_id=MANAGER) -> list[dict]:
    r = requests.get(f"{sandbox.url}/_sandbox/im/messages", params={"user_id": user_id}, timeout=10)
    r.raise_for_status()
    return r.json()


def bot_msgs(sandbox, user_id=MANAGER) -> list[dict]:
    return [m for m in msgs(sandbox, user_id) if m["author"]["kind"] == "bot"]


def notifications(sandbox, user_id=MANAGER) -> list[dict]:
    return [m for m in msgs(sandbox, user_id) if m["notification"]]


def message(sandbox, mid, user_id=MANAGER) -> dict:
    return next(m for m in msgs(sandbox, user_id) if m["id"] == mid)


def buttons(msg) -> list[str]:
    return [b["TEXT"] for b in msg["keyboard"] if b.get("TEXT")]


def press(sandbox, mid, text, user_id=MANAGER) -> dict:
    kb = message(sandbox, mid, MANAGER)["keyboard"]
    index = next(i for i, b in enumerate(kb) if b.get("TEXT") == text)
    r = requests.post(f"{sandbox.url}/_sandbox/im/press",
                      json={"user_id": user_id, "message_id": mid, "button_index": index}, timeout=10)
    r.raise_for_status()
    out = r.json()
    assert out["delivered"] and out["mode"] == "fetch", out
    return out


def pid_of(live_app, sandbox) -> int:
    return portal_id(live_app, sandbox.state.settings.member_id)


def prompt_of(live_app, call_id) -> TopicPrompt | None:
    with live_app.ctx():
        row = db.session.query(TopicPrompt).filter_by(call_id=call_id).one_or_none()
        if row is not None:
            db.session.expunge(row)
        return row


def aware(dt):
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


def send_due(live_app, now=None) -> int:
    with live_app.ctx():
        return prompts.send_due(now or utcnow())


def poll(live_app, sandbox) -> int:
    with live_app.ctx():
        return prompts.poll_bot(pid_of(live_app, sandbox))


def topic_of(live_app, call_id) -> tuple[str, str, int] | None:
    with live_app.ctx():
        ct = db.session.query(CallTopic).filter_by(call_id=call_id).one_or_none()
        if ct is None:
            return None
        return db.session.get(Topic, ct.topic_id).name, ct.source, ct.chosen_by


def card_topic(live_app, sandbox, call_id) -> str:
    with live_app.ctx():
        setup = db.session.query(QaSetup).one()
        call = db.session.query(Call).filter_by(call_id=call_id).one()
        etid, field, item_id = setup.entity_type_id, setup.fields["topic"], call.qa_item_id
    assert item_id, "the call has a QA card"
    r = requests.post(f"{sandbox.webhook_url}crm.item.get",
                      json={"entityTypeId": etid, "id": item_id, "useOriginalUfNames": "Y"}, timeout=10)
    return r.json()["result"]["item"].get(field) or ""


def prompted(live_app, sandbox, **fields) -> tuple[str, dict]:
    """A call ends without a topic and the grace period passes: the call and the bot's prompt message."""
    call_id = end_call(sandbox, **fields)
    row = prompt_of(live_app, call_id)
    assert row is not None and row.status == "pending"
    assert send_due(live_app, aware(row.due_at) + timedelta(seconds=1)) >= 1
    msg = next(m for m in bot_msgs(sandbox) if m["id"] == prompt_of(live_app, call_id).message_id)
    return call_id, msg


def set_settings(live_app, sandbox, **values) -> None:
    with live_app.ctx():
        s = service.settings_for(pid_of(live_app, sandbox))
        for k, v in values.items():
            setattr(s, k, v)
        db.session.commit()


# --- the prompt ---------------------------------------------------------------------------------------

def test_install_registers_the_bot_once_with_its_command(installed, live_app):
    requests.post(f"{installed.url}/_sandbox/install", json={"finish": True}, timeout=60).raise_for_status()
    bots = list(installed.state.im.bots.values())
    assert [b["code"] for b in bots] == ["cq_topic_bot"] and bots[0]["eventMode"] == "fetch"
    assert [c["command"] for c in installed.state.im.commands.values()] == ["calltopic"]
    with live_app.ctx():
        row = db.session.query(TopicBot).one()
        assert (row.status, row.bot_id, row.tz_offset_minutes) == ("active", bots[0]["id"], 180)


def test_after_the_grace_period_the_manager_gets_topic_buttons(installed, live_app):
    stat = end_call_row(installed, PHONE_NUMBER="+79001234567")
    call_id = stat["CALL_ID"]
    row = prompt_of(live_app, call_id)
    assert row.user_id == MANAGER and aware(row.due_at) - utcnow() > timedelta(seconds=50)
    assert send_due(live_app, utcnow() + timedelta(seconds=30)) == 0  # the popup is still open
    assert bot_msgs(installed) == []
    assert send_due(live_app, aware(row.due_at) + timedelta(seconds=1)) == 1
    [msg] = bot_msgs(installed)
    assert "Выберите тему звонка" in msg["text"] and "+79001234567" in msg["text"] and "1 мин 35 с" in msg["text"]
    local = datetime.fromisoformat(stat["CALL_START_DATE"])  # the portal's time, as the manager knows it
    assert local.strftime("%d.%m %H:%M") in msg["text"]
    with live_app.ctx():
        ranked = [t.name for t in service.ranked_for(pid_of(live_app, installed), MANAGER)]
    assert buttons(msg) == ranked and len(ranked) == 5
    assert all(b["COMMAND"] == "calltopic" for b in msg["keyboard"] if b.get("TEXT"))
    assert prompt_of(live_app, call_id).status == "sent"
    assert send_due(live_app, aware(row.due_at) + timedelta(minutes=5)) == 0  # never twice


def test_a_press_sets_the_topic_on_the_call_and_its_card_edits_the_message_and_thanks(installed, live_app):
    call_id, msg = prompted(live_app, installed)
    press(installed, msg["id"], "Претензия")
    assert topic_of(live_app, call_id) is None  # the click waits in the bot's queue until it is read
    assert poll(live_app, installed) == 1
    assert topic_of(live_app, call_id) == ("Претензия", "chat", MANAGER)
    assert card_topic(live_app, installed, call_id) == "Претензия"
    edited = message(installed, msg["id"])
    assert edited["keyboard"] == [] and edited["edited"] and "«Претензия»" in edited["text"]
    thanks = bot_msgs(installed)[-1]
    assert thanks["id"] != msg["id"] and "Спасибо" in thanks["text"] and "Претензия" in thanks["text"]
    assert prompt_of(live_app, call_id).status == "answered"
    assert poll(live_app, installed) == 0  # confirmed: the event is not read twice


def test_one_callend_three_times_makes_one_prompt(installed, live_app):
    row = add_stat_row(installed, CALL_TYPE="1", CALL_DURATION="60", CALL_FAILED_CODE="200", PORTAL_USER_ID="2")
    fire(installed, "ONVOXIMPLANTCALLEND", callend(row), times=3)
    send_due(live_app, utcnow() + timedelta(minutes=2))
    with live_app.ctx():
        assert db.session.query(TopicPrompt).filter_by(call_id=row["CALL_ID"]).count() == 1
    assert len(bot_msgs(installed)) == 1


def test_a_button_pressed_twice_changes_nothing_the_second_time(installed, live_app):
    call_id, msg = prompted(live_app, installed)
    press(installed, msg["id"], "Консультация")
    bot_id = msg["author"]["id"]
    first = installed.state.im.bot_events[bot_id][-1]["data"]
    installed.state.im.queue_event(bot_id, "ONIMBOTV2COMMANDADD", first)  # the same click from a second device
    assert poll(live_app, installed) == 2
    with live_app.ctx():
        chosen_at = db.session.query(CallTopic).filter_by(call_id=call_id).one().chosen_at
    after = bot_msgs(installed)
    assert sum("Спасибо" in m["text"] for m in after) == 1
    # and later still, another device presses a different (stale) button: refused, nothing changes
    with live_app.ctx():
        other_id = db.session.query(Topic).filter_by(name="Другое").one().id
    params = first["command"]["params"].rsplit(" ", 1)[0] + f" {other_id}"
    other = {**first, "command": {**first["command"], "params": params}}
    installed.state.im.queue_event(bot_id, "ONIMBOTV2COMMANDADD", other)
    assert poll(live_app, installed) == 1
    assert topic_of(live_app, call_id) == ("Консультация", "chat", MANAGER)
    with live_app.ctx():
        assert db.session.query(CallTopic).filter_by(call_id=call_id).one().chosen_at == chosen_at
    assert "уже выбрана" in bot_msgs(installed)[-1]["text"]
    assert message(installed, msg["id"])["keyboard"] == []


def test_a_press_by_another_user_is_refused_politely(installed, live_app):
    call_id, msg = prompted(live_app, installed)
    press(installed, msg["id"], "Претензия", user_id=OTHER)
    assert poll(live_app, installed) == 1
    assert topic_of(live_app, call_id) is None
    [reply] = bot_msgs(installed, OTHER)
    assert "другого сотрудника" in reply["text"]
    kb = message(installed, msg["id"])["keyboard"]  # BLOCK=Y greyed them; the manager gets them back
    assert buttons({"keyboard": kb}) == buttons(msg) and not any(b.get("DISABLED") == "Y" for b in kb)
    assert prompt_of(live_app, call_id).status == "sent"
    press(installed, msg["id"], "Претензия")
    poll(live_app, installed)
    assert topic_of(live_app, call_id) == ("Претензия", "chat", MANAGER)


def test_an_archived_topic_is_refused_and_the_current_list_offered(installed, live_app):
    call_id, msg = prompted(live_app, installed)
    with live_app.ctx():
        t = db.session.query(Topic).filter_by(name="Консультация").one()
        t.archived = True
        db.session.commit()
    press(installed, msg["id"], "Консультация")
    assert poll(live_app, installed) == 1
    assert topic_of(live_app, call_id) is None
    assert "в архиве" in bot_msgs(installed)[-1]["text"]
    kb = message(installed, msg["id"])["keyboard"]
    assert "Консультация" not in buttons({"keyboard": kb}) and len(buttons({"keyboard": kb})) == 4
    assert not any(b.get("DISABLED") == "Y" for b in kb)
    press(installed, msg["id"], "Другое")
    poll(live_app, installed)
    assert topic_of(live_app, call_id) == ("Другое", "chat", MANAGER)


def test_many_topics_page_through_other_topic(installed, live_app):
    with live_app.ctx():
        pid = pid_of(live_app, installed)
        db.session.add_all([Topic(portal_id=pid, name=f"Тема {i:02d}", position=100 + i) for i in range(10)])
        db.session.commit()
    call_id, msg = prompted(live_app, installed)
    first = buttons(msg)
    assert len(first) == prompts.PAGE + 1 and first[-1] == "Другая тема…"
    press(installed, msg["id"], "Другая тема…")
    poll(live_app, installed)
    second = buttons(message(installed, msg["id"]))
    assert second[0] not in first and "← Назад" in second and "Тема 09" in second
    press(installed, msg["id"], "Тема 09")
    poll(live_app, installed)
    assert topic_of(live_app, call_id) == ("Тема 09", "chat", MANAGER)


def test_a_topic_set_in_the_popup_closes_the_prompt(installed, live_app):
    call_id, msg = prompted(live_app, installed)
    with live_app.ctx():
        t = db.session.query(Topic).filter_by(name="Повторная продажа").one()
        service.choose(pid_of(live_app, installed), call_id, t.id, MANAGER, source="card")
    edited = message(installed, msg["id"])
    assert edited["keyboard"] == [] and "«Повторная продажа»" in edited["text"] and "в карточке звонка" in edited["text"]
    assert prompt_of(live_app, call_id).status == "closed"
    with live_app.ctx():
        assert prompts.remind_due(utcnow() + timedelta(hours=2)) == 0
    assert len(bot_msgs(installed)) == 1


def test_a_topic_chosen_during_the_grace_period_means_no_prompt(installed, live_app):
    call_id = end_call(installed)
    with live_app.ctx():
        t = db.session.query(Topic).filter_by(name="Претензия").one()
        service.choose(pid_of(live_app, installed), call_id, t.id, MANAGER, source="card")
    send_due(live_app, utcnow() + timedelta(minutes=2))
    assert bot_msgs(installed) == [] and prompt_of(live_app, call_id).status == "closed"


def test_one_reminder_after_the_set_delay(installed, live_app):
    call_id, msg = prompted(live_app, installed)
    sent_at = aware(prompt_of(live_app, call_id).sent_at)
    with live_app.ctx():
        assert prompts.remind_due(sent_at + timedelta(minutes=29)) == 0
        assert prompts.remind_due(sent_at + timedelta(minutes=31)) == 1
        assert prompts.remind_due(sent_at + timedelta(hours=3)) == 0
    ours = bot_msgs(installed)
    assert len(ours) == 2 and "Напоминание" in ours[1]["text"] and buttons(ours[1]) == buttons(msg)
    assert message(installed, msg["id"])["keyboard"] == []  # one live keyboard: the newest
    press(installed, ours[1]["id"], "Другое")
    poll(live_app, installed)
    assert topic_of(live_app, call_id) == ("Другое", "chat", MANAGER)


def test_no_reminder_when_it_is_off(installed, live_app):
    set_settings(live_app, installed, reminder_minutes=0)
    call_id, _msg = prompted(live_app, installed)
    with live_app.ctx():
        assert prompts.remind_due(utcnow() + timedelta(days=1)) == 0
    assert len(bot_msgs(installed)) == 1


def test_the_daily_digest_lists_calls_still_without_a_topic(installed, live_app):
    open_call, _m1 = prompted(live_app, installed, PHONE_NUMBER="+79005550001")
    done_call, m2 = prompted(live_app, installed, PHONE_NUMBER="+79005550002")
    press(installed, m2["id"], "Претензия")
    poll(live_app, installed)
    before = len(bot_msgs(installed))
    today = utcnow().date()
    at = lambda hour_utc: datetime(today.year, today.month, today.day, hour_utc, 5, tzinfo=UTC)  # noqa: E731
    with live_app.ctx():
        assert prompts.digest_due(at(14)) == 0      # 17:05 in Moscow: not yet
        assert prompts.digest_due(at(15)) == 1      # 18:05: the digest hour
        assert prompts.digest_due(at(15) + timedelta(minutes=30)) == 0  # once a day
    digest = bot_msgs(installed)[before]
    assert "Звонки без темы: 1" in digest["text"] and "+79005550001" in digest["text"]
    assert "+79005550002" not in digest["text"]
    press(installed, digest["id"], "Выбрать тему: звонок 1")  # asks again at the bottom of the chat
    poll(live_app, installed)
    again = bot_msgs(installed)[-1]
    assert buttons(again)[:1] and prompt_of(live_app, open_call).message_id == again["id"]
    press(installed, again["id"], "Другое")
    poll(live_app, installed)
    assert topic_of(live_app, open_call) == ("Другое", "chat", MANAGER)


def test_no_digest_when_it_is_off(installed, live_app):
    set_settings(live_app, installed, digest_hour=None)
    prompted(live_app, installed)
    with live_app.ctx():
        assert all(prompts.digest_due(utcnow() + timedelta(hours=h)) == 0 for h in range(24))


# --- which calls ------------------------------------------------------------------------------------------

def test_no_prompt_for_the_imported_history_or_calls_not_selected(installed, live_app):
    with live_app.ctx():
        assert db.session.query(Call).filter_by(source="import").count() > 0
    short = end_call(installed, CALL_DURATION="5")                     # too short: not selected
    missed = end_call(installed, CALL_DURATION="0", CALL_FAILED_CODE="304")
    incoming = end_call(installed, CALL_TYPE="2")                       # direction not selected by default
    assert send_due(live_app, utcnow() + timedelta(hours=1)) == 0
    with live_app.ctx():
        assert db.session.query(TopicPrompt).count() == 0
        assert {c.selection for c in db.session.query(Call).filter(Call.call_id.in_([short, missed, incoming]))} \
            == {"not_selected"}
    assert all(bot_msgs(installed, u) == [] for u in (1, 2, 3, 4))


def test_no_prompt_when_prompts_are_off(installed, live_app):
    set_settings(live_app, installed, prompt_enabled=False)
    end_call(installed)
    assert send_due(live_app, utcnow() + timedelta(minutes=5)) == 0
    assert bot_msgs(installed) == []


def test_a_live_call_whose_callend_was_lost_is_caught_up(installed, live_app):
    requests.post(f"{installed.url}/_sandbox/settings", json={"drop_events_share": 1.0}, timeout=10)
    row = add_stat_row(installed, CALL_TYPE="1", CALL_DURATION="95", CALL_FAILED_CODE="200", PORTAL_USER_ID="2")
    fire(installed, "ONVOXIMPLANTCALLEND", callend(row))
    requests.post(f"{installed.url}/_sandbox/settings", json={"drop_events_share": 0.0}, timeout=10)
    from b24app.calls import history
    from b24app.portals.models import Portal
    with live_app.ctx():
        history.reconcile(db.session.get(Portal, pid_of(live_app, installed)))
    send_due(live_app, utcnow() + timedelta(minutes=5))  # claims it, due a grace period after the call ended
    send_due(live_app, utcnow() + timedelta(minutes=10))
    assert prompt_of(live_app, row["CALL_ID"]).status == "sent" and len(bot_msgs(installed)) == 1


# --- fallback ------------------------------------------------------------------------------------------

def _link(text: str) -> str:
    start = text.index("[URL=") + 5
    return text[start:text.index("]", start)]


def _pick_on_page(link: str, topic: str) -> str:
    page = requests.get(link, timeout=10)
    assert page.status_code == 200 and topic in page.text
    import re
    topic_id = re.search(r'value="(\d+)"[^>]*>' + topic, page.text.replace("\n", " "))
    assert topic_id, page.text
    done = requests.post(link, data={"topic_id": topic_id.group(1)}, timeout=10)
    assert done.status_code == 200
    return done.text


def test_without_the_bot_api_the_prompt_is_a_notification_with_a_link(make_sandbox, live_app):
    sandbox = make_sandbox(install=True, app_scope=NO_IMBOT)
    with live_app.ctx():
        assert db.session.query(TopicBot).one().status == "unavailable"
    call_id = end_call(sandbox)
    send_due(live_app, utcnow() + timedelta(minutes=2))
    assert bot_msgs(sandbox) == []
    [note] = notifications(sandbox)
    assert "Выберите тему звонка" in note["text"] and prompt_of(live_app, call_id).status == "notified"
    link = _link(note["text"])
    assert urlparse(link).netloc == urlparse(live_app.url).netloc
    assert "Спасибо" in _pick_on_page(link, "Претензия")
    assert topic_of(live_app, call_id) == ("Претензия", "chat", MANAGER)
    assert card_topic(live_app, sandbox, call_id) == "Претензия"
    assert requests.get(link + "x", timeout=10).status_code == 404  # a forged link opens nothing


def test_a_bot_send_failing_for_good_falls_back_to_a_notification(installed, live_app):
    requests.post(f"{installed.url}/_sandbox/settings", json={"imbot_v2_available": False}, timeout=10)
    call_id = end_call(installed)
    send_due(live_app, utcnow() + timedelta(minutes=2))
    assert prompt_of(live_app, call_id).status == "notified" and len(notifications(installed)) == 1


def test_a_failed_send_is_retried_and_nothing_is_lost(installed, live_app):
    requests.post(f"{installed.url}/_sandbox/settings",
                  json={"app_scope": NO_IMBOT.replace(",im,", ",")}, timeout=10)  # neither bot nor notify
    call_id = end_call(installed)
    first = utcnow() + timedelta(minutes=2)
    send_due(live_app, first)
    row = prompt_of(live_app, call_id)
    assert (row.status, row.attempts) == ("pending", 1) and aware(row.due_at) > first
    assert bot_msgs(installed) == [] and notifications(installed) == []
    requests.post(f"{installed.url}/_sandbox/settings", json={"app_scope": NO_IMBOT}, timeout=10)
    send_due(live_app, aware(row.due_at) + timedelta(seconds=1))
    assert prompt_of(live_app, call_id).status == "notified"
    [note] = notifications(installed)
    assert "Спасибо" in _pick_on_page(_link(note["text"]), "Другое")
    assert topic_of(live_app, call_id) == ("Другое", "chat", MANAGER)


@pytest.mark.parametrize("lang,text", [("en", "Choose"), ("ru", "Выберите тему звонка")])
def test_the_prompt_speaks_the_portal_language(installed, live_app, lang, text):
    from b24app.portals.models import Portal

    with live_app.ctx():
        db.session.get(Portal, pid_of(live_app, installed)).language = lang
        db.session.commit()
    _call_id, msg = prompted(live_app, installed)
    assert text in msg["text"]
