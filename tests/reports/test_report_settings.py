"""The «Отчёты» settings section over real HTTP on the installed sandbox portal: what the admin sees and saves,
a new chat made with chosen members, a typed chat ID checked at the portal, every bad input refused in Russian
with nothing saved, a stale form, read-only for a director, nothing for a manager, and «Отправить сейчас»."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import select

from b24app.extensions import db
from b24app.portals.models import RoleGrant
from b24app.reports.models import ReportRun, ReportSettings

from ..platform.helpers import frame_token_from, open_placement
from .schedule_helpers import FOLDER, all_runs, chat_messages, group_storage, portal_id, report_files

SAVE, SEND = "/b24/reports/settings", "/b24/reports/send"


def _token(installed, live_app, user_id=1) -> str:
    r = open_placement(installed, live_app, "/b24/app", user_id=user_id)
    assert r.status_code == 200, r.text[:300]
    return frame_token_from(r.text)


def _form(installed, **changes) -> dict:
    form = {"version": "0", "weekly": "1", "hour": "9", "storage_id": group_storage(installed)["ID"],
            "folder_name": FOLDER, "chat_mode": "existing", "dialog_id": "chat1", "chat_id": "",
            "scope": "departments", "departments": ["2"]}
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


def _post(live_app, token, path, form) -> requests.Response:
    return requests.post(live_app.url + path, data={"frame_token": token, **form}, allow_redirects=False, timeout=60)


def _snapshot(live_app, installed) -> tuple:
    with live_app.ctx():
        rows = [(r.portal_id, r.weekly, r.monthly, r.hour, r.storage_id, r.folder_name, r.dialog_id, r.departments,
                 r.version) for r in db.session.scalars(select(ReportSettings))]
    return rows, len(installed.state.im.chats)


def _settings(live_app, pid) -> ReportSettings:
    with live_app.ctx():
        row = db.session.scalar(select(ReportSettings).where(ReportSettings.portal_id == pid))
        db.session.expunge(row)
        return row


def test_the_admin_sees_the_portal_storages_chats_and_zone_and_saves_a_schedule(installed, live_app):
    page = open_placement(installed, live_app, "/b24/app").text
    assert 'data-testid="reports-section"' in page and 'data-testid="report-settings-form"' in page
    assert "Руководство (группа)" in page and ">Общий диск<" in page
    assert '<option value="chat1"' in page and "UTC+03:00" in page and 'data-testid="report-runs-empty"' in page
    token = frame_token_from(page)
    r = _post(live_app, token, SAVE, _form(installed, monthly="1", hour="7"))
    assert r.status_code == 303 and "msg=report_settings.saved" in r.headers["Location"]
    s = _settings(live_app, portal_id(live_app, installed))
    assert (s.weekly, s.monthly, s.hour, s.storage_id, s.storage_name, s.folder_name, s.dialog_id, s.chat_title,
            s.departments, s.version, s.updated_by) == (True, True, 7, group_storage(installed)["ID"],
                                                        "Руководство (группа)", FOLDER, "chat1", "Руководство", [2],
                                                        1, 1)
    after = requests.get(live_app.url + r.headers["Location"].split(live_app.url)[-1], timeout=30).text
    assert "Настройки отчётов сохранены." in after and '<option value="07" ' not in after
    assert 'value="7" selected' in after


def test_a_new_chat_is_made_with_the_chosen_members_and_a_typed_chat_id_is_checked(installed, live_app):
    token = _token(installed, live_app)
    pid = portal_id(live_app, installed)
    r = _post(live_app, token, SAVE, _form(installed, chat_mode="new", chat_title="Отчёты для директора",
                                           chat_users=["2", "5"], dialog_id=""))
    assert r.status_code == 303, r.text[:500]
    s = _settings(live_app, pid)
    chat = installed.state.im.chat(int(s.dialog_id[4:]))
    assert chat["title"] == "Отчёты для директора" and chat["users"] == [1, 2, 5] and s.version == 1
    r = _post(live_app, token, SAVE, _form(installed, version="1", chat_id=" chat1 ", dialog_id=""))
    assert r.status_code == 303
    assert _settings(live_app, pid).dialog_id == "chat1"


FIELD_ERRORS = [
    ({"hour": "24"}, "Час отправки — целое число от 0 до 23."),
    ({"hour": "nine"}, "Час отправки — целое число от 0 до 23."),
    ({"storage_id": "999"}, "Такого хранилища на Диске портала нет"),
    ({"folder_name": "   "}, "Название папки для отчётов"),
    ({"folder_name": "a/b"}, "Название папки для отчётов"),
    ({"departments": ["999"]}, "Среди выбранных отделов есть отдел, которого нет на портале."),
    ({"departments": None}, "Выберите хотя бы один отдел"),
    ({"scope": "everyone"}, "Охват отчёта: вся компания или выбранные отделы."),
    ({"chat_id": "chat999"}, "Такого чата нет, или приложение не может в него писать"),
    ({"chat_id": "общий"}, "Номер чата — это число или «chat» и число"),
    ({"chat_mode": "new", "chat_title": "", "chat_users": ["2"]}, "Название нового чата"),
    ({"chat_mode": "new", "chat_title": "Отчёты", "chat_users": ["77"]}, "Среди участников чата есть сотрудник"),
    ({"chat_mode": "new", "chat_title": "Отчёты"}, "Выберите участников нового чата."),
    ({"chat_mode": "telegram"}, "Выберите, куда отправлять сводку"),
    ({"weekly": "yes"}, "Расписание отчёта: включено или выключено."),
    ({"storage_id": "", "chat_mode": "none"}, "Чтобы отчёт уходил по расписанию, выберите папку на Диске или чат."),
]


@pytest.mark.parametrize(("changes", "text"), FIELD_ERRORS)
def test_bad_input_is_refused_in_russian_and_nothing_is_saved(installed, live_app, changes, text):
    token = _token(installed, live_app)
    before = _snapshot(live_app, installed)
    r = _post(live_app, token, SAVE, _form(installed, **changes))
    assert r.status_code == 400, r.text[:300]
    assert text in r.text and 'data-testid="report-settings-errors"' in r.text
    assert _snapshot(live_app, installed) == before


def test_a_forged_or_stale_form_is_refused(installed, live_app):
    token = _token(installed, live_app)
    before = _snapshot(live_app, installed)
    r = _post(live_app, token, SAVE, _form(installed, version=None))
    assert r.status_code == 400 and "Форма настроек отчётов повреждена" in r.text
    r = _post(live_app, token, SAVE, _form(installed, version="x1"))
    assert r.status_code == 400 and _snapshot(live_app, installed) == before
    assert _post(live_app, token, SAVE, _form(installed)).status_code == 303
    saved = _snapshot(live_app, installed)
    r = _post(live_app, token, SAVE, _form(installed, hour="12"))  # opened at version 0, now at 1
    assert r.status_code == 409 and "изменил другой администратор" in r.text
    assert 'name="version" value="1"' in r.text  # saving again applies the kept values
    assert _snapshot(live_app, installed) == saved
    assert _post(live_app, token, SAVE, _form(installed, version="1", hour="12")).status_code == 303


def test_a_director_reads_a_manager_sees_nothing_and_neither_may_change(installed, live_app):
    pid = portal_id(live_app, installed)
    with live_app.ctx():
        db.session.add(RoleGrant(portal_id=pid, user_id=2, role="director", granted_by=1))
        db.session.commit()
    admin = _token(installed, live_app)
    assert _post(live_app, admin, SAVE, _form(installed)).status_code == 303
    director = open_placement(installed, live_app, "/b24/app", user_id=2).text
    assert 'data-testid="report-settings-view"' in director and 'data-testid="report-settings-form"' not in director
    assert "Руководство (группа) / " + FOLDER in director and 'data-testid="report-send-now"' not in director
    manager = open_placement(installed, live_app, "/b24/app", user_id=3).text
    assert 'data-testid="reports-section"' not in manager
    before = _snapshot(live_app, installed)
    for text in (director, manager):
        token = frame_token_from(text)
        assert _post(live_app, token, SAVE, _form(installed, version="1", hour="3")).status_code == 403
        assert _post(live_app, token, SEND, {"period": "weekly"}).status_code == 403
    assert _snapshot(live_app, installed) == before and all_runs(live_app, pid) == []


def test_send_now_builds_the_last_week_and_delivers_it_and_bad_requests_start_nothing(installed, live_app):
    token = _token(installed, live_app)
    pid = portal_id(live_app, installed)
    r = _post(live_app, token, SEND, {"period": "weekly"})
    assert r.status_code == 409 and "Сначала сохраните папку на Диске или чат" in r.text
    assert _post(live_app, token, SAVE, _form(installed, weekly=None, scope="company",
                                              departments=None)).status_code == 303
    r = _post(live_app, token, SEND, {"period": "year"})
    assert r.status_code == 400 and "Выберите, за какой период отправить отчёт" in r.text
    assert all_runs(live_app, pid) == []
    r = _post(live_app, token, SEND, {"period": "weekly"})
    assert r.status_code == 303 and "msg=report_settings.sent" in r.headers["Location"]
    [run] = all_runs(live_app, pid)
    assert (run.kind, run.slot, run.requested_by, run.status, run.last.weekday()) == ("weekly", None, 1, "done", 6)
    assert (run.last - run.first).days == 6
    [f] = report_files(installed, run.first.year)
    assert str(f["ID"]) == run.disk_file_id and f"(№{run.id})" in f["NAME"]
    [msg] = chat_messages(installed)
    assert run.file_url in msg["text"]
    page = requests.get(live_app.url + r.headers["Location"].split(live_app.url)[-1], timeout=30).text
    assert "Отчёт отправляется" in page and 'data-testid="report-run" data-status="done"' in page
    assert f'href="{run.file_url}"' in page
    assert _post(live_app, token, SEND, {"period": "monthly"}).status_code == 303
    with live_app.ctx():
        monthly = db.session.scalar(select(ReportRun).where(ReportRun.kind == "monthly"))
        assert monthly.first.day == 1 and (monthly.last.replace(day=1) == monthly.first)
