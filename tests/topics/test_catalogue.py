"""The topic catalogue section of the settings page: validation in Russian with nothing saved, archive that
keeps past calls' topics, delete only when never used, the admin's order and the popup's order setting."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from b24app.extensions import db
from b24app.portals.models import Portal
from b24app.qa.models import Checklist
from b24app.topics import catalogue as cat
from b24app.topics.models import CallTopic, Topic, TopicSettings
from b24app.topics.service import TopicRefused, card_values, choose, ranked_for, topic_of

from ..platform.helpers import frame_token_from, open_placement

DEFAULT_NAMES = ["Новый клиент", "Повторная продажа", "Претензия", "Консультация", "Другое"]


def _token(installed, live_app, user_id=1):
    return frame_token_from(open_placement(installed, live_app, "/b24/app", user_id=user_id).text)


def _pid(live_app, sandbox) -> int:
    with live_app.ctx():
        return db.session.scalar(select(Portal.id).where(Portal.member_id == sandbox.member_id))


def _post(live_app, path, token, **data):
    return requests.post(f"{live_app.url}{path}", data={"frame_token": token, **data}, timeout=30)


def _topics(live_app, pid, archived=None) -> list[Topic]:
    with live_app.ctx():
        q = select(Topic).where(Topic.portal_id == pid).order_by(Topic.position, Topic.id)
        if archived is not None:
            q = q.where(Topic.archived.is_(archived))
        rows = list(db.session.scalars(q))
        db.session.expunge_all()
        return rows


def _snapshot(live_app, pid):
    return [(t.id, t.name, t.group, t.color, t.checklist_id, t.position, t.archived) for t in _topics(live_app, pid)]


def _by_name(live_app, pid, name) -> Topic:
    return next(t for t in _topics(live_app, pid) if t.name == name)


def _ranked(live_app, pid, user_id=None) -> list[str]:
    with live_app.ctx():
        return [t.name for t in ranked_for(pid, user_id)]


def _checklist_id(live_app, pid, name) -> int:
    with live_app.ctx():
        return db.session.scalar(select(Checklist.id).where(Checklist.portal_id == pid, Checklist.name == name))


# --- plain functions ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("form, expected", [
    ({"order_by": "manual", "prompt_enabled": "1", "reminder_minutes": "0", "digest_hour": "off"},
     cat.SettingsData("manual", True, 0, None)),
    ({"order_by": "usage", "reminder_minutes": "1440", "digest_hour": "0"}, cat.SettingsData("usage", False, 1440, 0)),
    ({"order_by": "usage", "reminder_minutes": " 30 ", "digest_hour": "23"}, cat.SettingsData("usage", False, 30, 23)),
    ({"order_by": "usage", "reminder_minutes": "5", "digest_hour": ""}, cat.SettingsData("usage", False, 5, None)),
])
def test_prompt_settings_are_parsed(form, expected):
    assert cat.parse_settings(MultiDict(form)) == expected


@pytest.mark.parametrize("form, keys", [
    ({"order_by": "random", "reminder_minutes": "30", "digest_hour": "18"}, ["catalogue.bad_order_by"]),
    ({"order_by": "usage", "reminder_minutes": "1441", "digest_hour": "18"}, ["catalogue.bad_reminder"]),
    ({"order_by": "usage", "reminder_minutes": "-1", "digest_hour": "18"}, ["catalogue.bad_reminder"]),
    ({"order_by": "usage", "reminder_minutes": "", "digest_hour": "18"}, ["catalogue.bad_reminder"]),
    ({"order_by": "usage", "reminder_minutes": "30", "digest_hour": "24"}, ["catalogue.bad_digest_hour"]),
    ({"order_by": "usage", "reminder_minutes": "x", "digest_hour": "-3"},
     ["catalogue.bad_reminder", "catalogue.bad_digest_hour"]),
])
def test_bad_prompt_settings_name_every_bad_field(form, keys):
    with pytest.raises(cat.CatalogueInvalid) as exc:
        cat.parse_settings(MultiDict(form))
    assert exc.value.keys == keys and exc.value.status == 400


def test_grouped_keeps_groups_together_in_order_of_first_topic():
    ts = [Topic(id=i, name=n, group=g) for i, (n, g) in enumerate(
        [("a", "X"), ("b", ""), ("c", "X"), ("d", "Y"), ("e", "")])]
    assert [(g, [t.name for t in items]) for g, items in cat.grouped(ts)] == [
        ("X", ["a", "c"]), ("", ["b", "e"]), ("Y", ["d"])]


def test_topic_forms_are_validated_against_the_portal(installed, live_app):
    pid = _pid(live_app, installed)
    with live_app.ctx():
        sales = _checklist_id(live_app, pid, "Продажа")
        ok = cat.parse_topic(MultiDict({"name": "  Возврат   товара ", "group": " Сервис ", "color": "#AABBCC",
                                        "checklist_id": str(sales)}), pid)
        assert ok == cat.TopicData("Возврат товара", "Сервис", "#aabbcc", sales)
        assert cat.parse_topic(MultiDict({"name": "Без цвета"}), pid) == cat.TopicData("Без цвета", "", "#2fc6f6", None)
        assert cat.parse_topic(MultiDict({"name": "Ок", "group": "ПРОДАЖИ"}), pid).group == "Продажи"
        cases = [({"name": ""}, ["catalogue.name_empty"], 400),
                 ({"name": "я" * 81}, ["catalogue.name_long"], 400),
                 ({"name": "Ок", "group": "г" * 81}, ["catalogue.group_long"], 400),
                 ({"name": "Ок", "color": "red"}, ["catalogue.bad_color"], 400),
                 ({"name": "Ок", "color": "#12345g"}, ["catalogue.bad_color"], 400),
                 ({"name": "Ок", "checklist_id": "abc"}, ["catalogue.bad_checklist"], 400),
                 ({"name": "Ок", "checklist_id": "99999"}, ["catalogue.bad_checklist"], 400),
                 ({"name": "новый КЛИЕНТ"}, ["catalogue.name_taken"], 409),  # Cyrillic, any case
                 ({"name": "Новый  клиент", "color": "blue"}, ["catalogue.bad_color", "catalogue.name_taken"], 400)]
        for form, keys, status in cases:
            with pytest.raises(cat.CatalogueInvalid) as exc:
                cat.parse_topic(MultiDict(form), pid)
            assert (exc.value.keys, exc.value.status) == (keys, status), form
        mine = db.session.scalar(select(Topic).where(Topic.portal_id == pid, Topic.name == "Новый клиент"))
        assert cat.parse_topic(MultiDict({"name": "НОВЫЙ клиент"}), pid, current=mine).name == "НОВЫЙ клиент"


# --- over HTTP --------------------------------------------------------------------------------------------

def test_install_gives_five_topics_mapped_to_checklists_and_the_section_shows_them(installed, live_app):
    pid = _pid(live_app, installed)
    topics = _topics(live_app, pid)
    with live_app.ctx():
        lists = {c.id: c.name for c in db.session.scalars(select(Checklist).where(Checklist.portal_id == pid))}
    assert [(t.name, lists.get(t.checklist_id)) for t in topics] == [
        ("Новый клиент", "Продажа"), ("Повторная продажа", "Продажа"), ("Претензия", "Претензия"),
        ("Консультация", "Общий"), ("Другое", "Общий")]
    page = open_placement(installed, live_app, "/b24/app").text
    assert 'data-testid="topic-catalogue"' in page and "Темы звонков" in page and 'data-testid="topic-add-form"' in page
    assert page.count('data-testid="topic-row"') == 5
    for name in DEFAULT_NAMES:
        assert f'data-name="{name}"' in page
    assert "Продажа <span class=\"muted\">— пунктов: 8</span>" in page  # the read-only checklist list


def test_an_admin_adds_and_edits_a_topic(installed, live_app):
    pid, token = _pid(live_app, installed), _token(installed, live_app)
    complaint = _checklist_id(live_app, pid, "Претензия")
    r = _post(live_app, "/b24/topics/catalogue", token, name="Возврат", group="Сервис", color="#FF00AA",
              checklist_id=str(complaint))
    assert r.status_code == 200 and r.history[0].status_code == 303 and "Тема добавлена." in r.text
    assert 'data-name="Возврат"' in r.text
    new = _by_name(live_app, pid, "Возврат")
    assert (new.group, new.color, new.checklist_id, new.archived) == ("Сервис", "#ff00aa", complaint, False)
    # a new topic joins the end of its group, groups stay together
    assert [t.name for t in _topics(live_app, pid, archived=False)] == [
        "Новый клиент", "Повторная продажа", "Претензия", "Консультация", "Возврат", "Другое"]
    r = _post(live_app, f"/b24/topics/catalogue/{new.id}", token, name="Возврат товара", group="",
              color="#00aa00", checklist_id="")
    assert r.status_code == 200 and "Тема сохранена." in r.text
    t = _by_name(live_app, pid, "Возврат товара")
    assert (t.id, t.group, t.color, t.checklist_id) == (new.id, "", "#00aa00", None)


def test_a_duplicate_name_is_refused_with_409_and_nothing_saved(installed, live_app):
    pid, token = _pid(live_app, installed), _token(installed, live_app)
    before = _snapshot(live_app, pid)
    r = _post(live_app, "/b24/topics/catalogue", token, name=" новый   КЛИЕНТ ", group="Продажи", color="#123456")
    assert r.status_code == 409 and "Активная тема с таким названием уже есть." in r.text
    assert 'data-testid="catalogue-errors"' in r.text and 'value=" новый   КЛИЕНТ "' in r.text  # input kept
    other = _by_name(live_app, pid, "Другое")
    r = _post(live_app, f"/b24/topics/catalogue/{other.id}", token, name="претензия", group="Новая группа",
              color="#000000")
    assert r.status_code == 409 and "Активная тема с таким названием уже есть." in r.text
    assert _snapshot(live_app, pid) == before


@pytest.mark.parametrize("form, text", [
    ({"name": "Ок", "color": "red"}, "в формате #rrggbb"),
    ({"name": "Ок", "color": "#fff"}, "в формате #rrggbb"),
    ({"name": ""}, "Введите название темы."),
    ({"name": "ы" * 81}, "не длиннее 80 символов"),
    ({"name": "Ок", "group": "ы" * 81}, "Название группы — не длиннее 80 символов."),
    ({"name": "Ок", "checklist_id": "x"}, "Выберите чек-лист из списка."),
])
def test_bad_topic_input_is_refused_with_400_and_nothing_saved(installed, live_app, form, text):
    pid, token = _pid(live_app, installed), _token(installed, live_app)
    before = _snapshot(live_app, pid)
    r = _post(live_app, "/b24/topics/catalogue", token, **form)
    assert r.status_code == 400 and text in r.text
    first = before[0][0]
    r = _post(live_app, f"/b24/topics/catalogue/{first}", token, **{"name": "Изменено", **form})
    assert r.status_code == 400 and text in r.text
    assert _snapshot(live_app, pid) == before


def test_a_checklist_of_another_portal_is_refused(make_sandbox, live_app):
    ours, theirs = make_sandbox(install=True), make_sandbox(install=True, seed=7, rows=5)
    pid, other = _pid(live_app, ours), _pid(live_app, theirs)
    foreign = _checklist_id(live_app, other, "Продажа")
    assert foreign and foreign != _checklist_id(live_app, pid, "Продажа")
    token, before = _token(ours, live_app), _snapshot(live_app, pid)
    r = _post(live_app, "/b24/topics/catalogue", token, name="Чужой", checklist_id=str(foreign))
    assert r.status_code == 400 and "Выберите чек-лист из списка." in r.text
    r = _post(live_app, f"/b24/topics/catalogue/{before[0][0]}", token, name="Новый клиент", checklist_id=str(foreign))
    assert r.status_code == 400
    assert _snapshot(live_app, pid) == before
    # nor can one portal's admin touch another portal's topic
    theirs_topic = _topics(live_app, other)[0]
    r = _post(live_app, f"/b24/topics/catalogue/{theirs_topic.id}/archive", token)
    assert r.status_code == 404 and not _topics(live_app, other)[0].archived


def test_archive_keeps_the_past_call_topic_and_restore_brings_it_back(installed, live_app):
    pid, token = _pid(live_app, installed), _token(installed, live_app)
    complaint = _by_name(live_app, pid, "Претензия")
    with live_app.ctx():
        choose(pid, "past-call-1", complaint.id, 2, "card")
    r = _post(live_app, f"/b24/topics/catalogue/{complaint.id}/archive", token)
    assert r.status_code == 200 and "Тема отправлена в архив" in r.text
    assert 'data-testid="archived-topic-row"' in r.text
    with live_app.ctx():
        assert topic_of(pid, "past-call-1").topic_id == complaint.id
        assert card_values(pid, "past-call-1") == ("Претензия", "Претензия")
        with pytest.raises(TopicRefused) as exc:
            choose(pid, "new-call", complaint.id, 2, "card")
        assert exc.value.key == "topics.archived"
    assert "Претензия" not in _ranked(live_app, pid, 2)
    # a used topic cannot be deleted, not even from the archive
    r = _post(live_app, f"/b24/topics/catalogue/{complaint.id}/delete", token)
    assert r.status_code == 409 and "нельзя удалить" in r.text
    r = _post(live_app, f"/b24/topics/catalogue/{complaint.id}/restore", token)
    assert r.status_code == 200 and "Тема восстановлена." in r.text
    assert "Претензия" in _ranked(live_app, pid, 2) and not _by_name(live_app, pid, "Претензия").archived


def test_restore_is_refused_while_an_active_topic_has_the_name(installed, live_app):
    pid, token = _pid(live_app, installed), _token(installed, live_app)
    other = _by_name(live_app, pid, "Другое")
    assert _post(live_app, f"/b24/topics/catalogue/{other.id}/archive", token).status_code == 200
    r = _post(live_app, "/b24/topics/catalogue", token, name="ДРУГОЕ")  # an archived name is free again
    assert r.status_code == 200 and "Тема добавлена." in r.text
    before = _snapshot(live_app, pid)
    r = _post(live_app, f"/b24/topics/catalogue/{other.id}/restore", token)
    assert r.status_code == 409 and "Активная тема с таким названием уже есть" in r.text
    assert _snapshot(live_app, pid) == before


def test_an_unused_topic_is_deleted_and_a_used_one_is_refused(installed, live_app):
    pid, token = _pid(live_app, installed), _token(installed, live_app)
    used, unused = _by_name(live_app, pid, "Консультация"), _by_name(live_app, pid, "Другое")
    with live_app.ctx():
        choose(pid, "call-7", used.id, 2, "chat")
    page = open_placement(installed, live_app, "/b24/app").text
    assert f"/b24/topics/catalogue/{used.id}/delete" not in page and f"/b24/topics/catalogue/{unused.id}/delete" in page
    before = _snapshot(live_app, pid)
    r = _post(live_app, f"/b24/topics/catalogue/{used.id}/delete", token)
    assert r.status_code == 409 and "По этой теме уже есть звонки" in r.text
    assert _snapshot(live_app, pid) == before
    with live_app.ctx():
        assert db.session.query(CallTopic).filter_by(portal_id=pid, call_id="call-7").one().topic_id == used.id
    r = _post(live_app, f"/b24/topics/catalogue/{unused.id}/delete", token)
    assert r.status_code == 200 and "Тема удалена." in r.text
    assert [t.name for t in _topics(live_app, pid)] == DEFAULT_NAMES[:4]
    assert _post(live_app, f"/b24/topics/catalogue/{unused.id}/delete", token).status_code == 404


def test_manual_order_by_drag_list_and_by_buttons(installed, live_app):
    pid, token = _pid(live_app, installed), _token(installed, live_app)
    r = _post(live_app, "/b24/topics/settings", token, order_by="manual", prompt_enabled="1", reminder_minutes="30",
              digest_hour="18")
    assert r.status_code == 200 and "Настройки тем сохранены." in r.text and 'data-order="manual"' in r.text
    ids = {t.name: t.id for t in _topics(live_app, pid)}
    order = ["Другое", "Претензия", "Новый клиент", "Консультация", "Повторная продажа"]
    r = requests.post(f"{live_app.url}/b24/topics/catalogue/order", data={"ids": [ids[n] for n in order]},
                      headers={"X-Frame-Token": token, "Accept": "application/json"}, timeout=10)
    assert r.status_code == 200, r.text
    grouped = ["Другое", "Претензия", "Консультация", "Новый клиент", "Повторная продажа"]  # groups stay together
    assert [t.name for t in _topics(live_app, pid)] == grouped
    assert _ranked(live_app, pid, 2) == grouped and r.json()["ids"] == [ids[n] for n in grouped]
    bad = [[ids[n] for n in order[:4]],                                     # one missing
           [ids[n] for n in order] + [ids["Другое"]],                       # twice
           [ids[n] for n in order] + [99999],                               # not ours
           [ids[n] for n in order[:4]] + ["x"]]
    for ids_list in bad:
        r = requests.post(f"{live_app.url}/b24/topics/catalogue/order", data={"ids": ids_list},
                          headers={"X-Frame-Token": token, "Accept": "application/json"}, timeout=10)
        assert r.status_code == 409 and "Список тем изменился" in r.json()["error"], ids_list
    assert [t.name for t in _topics(live_app, pid)] == grouped
    # the buttons: a topic inside its group, a whole group
    r = _post(live_app, f"/b24/topics/catalogue/{ids['Повторная продажа']}/move", token, direction="up")
    assert r.status_code == 200 and "Порядок тем сохранён." in r.text
    r = _post(live_app, "/b24/topics/catalogue/groups/move", token, group="Продажи", direction="up")
    assert r.status_code == 200
    assert _ranked(live_app, pid, 2) == ["Другое", "Повторная продажа", "Новый клиент", "Претензия", "Консультация"]
    r = _post(live_app, f"/b24/topics/catalogue/{ids['Другое']}/move", token, direction="up")  # already first
    assert r.status_code == 200 and _ranked(live_app, pid, 2)[0] == "Другое"


def test_order_by_switches_the_popup_order_and_settings_are_saved(installed, live_app):
    pid, token = _pid(live_app, installed), _token(installed, live_app)
    other = _by_name(live_app, pid, "Другое")
    with live_app.ctx():
        for i in range(3):
            choose(pid, f"mine-{i}", other.id, 2, "card")
    assert _ranked(live_app, pid, 2)[0] == "Другое"  # usage: the manager's most used first (the default)
    r = _post(live_app, "/b24/topics/settings", token, order_by="manual", reminder_minutes="0", digest_hour="off")
    assert r.status_code == 200 and "Настройки тем сохранены." in r.text
    assert _ranked(live_app, pid, 2) == DEFAULT_NAMES
    with live_app.ctx():
        s = db.session.scalar(select(TopicSettings).where(TopicSettings.portal_id == pid))
        assert (s.order_by, s.prompt_enabled, s.reminder_minutes, s.digest_hour) == ("manual", False, 0, None)
    for bad, text in (({"order_by": "usage", "reminder_minutes": "2000", "digest_hour": "9"}, "от 0 до 1440"),
                      ({"order_by": "usage", "reminder_minutes": "5", "digest_hour": "25"}, "от 0 до 23"),
                      ({"order_by": "alpha", "reminder_minutes": "5", "digest_hour": "9"}, "порядок тем")):
        r = _post(live_app, "/b24/topics/settings", token, prompt_enabled="1", **bad)
        assert r.status_code == 400 and text in r.text, bad
    with live_app.ctx():
        s = db.session.scalar(select(TopicSettings).where(TopicSettings.portal_id == pid))
        assert (s.order_by, s.prompt_enabled, s.reminder_minutes, s.digest_hour) == ("manual", False, 0, None)
    r = _post(live_app, "/b24/topics/settings", token, order_by="usage", prompt_enabled="1", reminder_minutes="15",
              digest_hour="9")
    assert r.status_code == 200 and _ranked(live_app, pid, 2)[0] == "Другое"


def test_a_manager_sees_the_catalogue_read_only_and_cannot_change_it(installed, live_app):
    pid = _pid(live_app, installed)
    page = open_placement(installed, live_app, "/b24/app", user_id=2).text
    assert 'data-testid="topic-catalogue"' in page and 'data-name="Претензия"' in page
    assert 'data-testid="topic-add-form"' not in page and "/b24/topics/catalogue/" not in page
    assert 'data-testid="topic-settings-form"' not in page
    token, before = frame_token_from(page), _snapshot(live_app, pid)
    first = before[0][0]
    posts = [("/b24/topics/catalogue", {"name": "Моя тема"}), (f"/b24/topics/catalogue/{first}", {"name": "Ой"}),
             (f"/b24/topics/catalogue/{first}/archive", {}), (f"/b24/topics/catalogue/{first}/delete", {}),
             (f"/b24/topics/catalogue/{first}/restore", {}), (f"/b24/topics/catalogue/{first}/move", {"direction": "down"}),
             ("/b24/topics/catalogue/groups/move", {"group": "Продажи", "direction": "down"}),
             ("/b24/topics/catalogue/order", {"ids": [t[0] for t in reversed(before)]}),
             ("/b24/topics/settings", {"order_by": "manual", "reminder_minutes": "1", "digest_hour": "1"})]
    for path, data in posts:
        assert _post(live_app, path, token, **data).status_code == 403, path
    assert _snapshot(live_app, pid) == before
    with live_app.ctx():
        assert db.session.scalar(select(TopicSettings.order_by).where(TopicSettings.portal_id == pid)) == "usage"
    assert requests.post(f"{live_app.url}/b24/topics/catalogue", data={"name": "x"}, timeout=10).status_code == 401
