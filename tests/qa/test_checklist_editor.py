"""The «Чек-листы» settings section over HTTP in the installed sandbox: the list, editing with versions, the
stale editor, every problem named with nothing saved, copies, archive, JSON files, roles and other portals."""

from __future__ import annotations

import copy
import json
from html.parser import HTMLParser

import pytest
import requests
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from b24app.extensions import db
from b24app.portals.models import PortalUser
from b24app.qa import checklists as C
from b24app.qa.checklist_views import parse_form
from b24app.qa.models import Checklist, ChecklistVersion
from b24app.topics.models import Topic

from ..platform.helpers import frame_token_from, open_placement, portal_row

BASE = "/b24/qa/checklists"


def _token(sandbox, live_app, user_id=1) -> str:
    return frame_token_from(open_placement(sandbox, live_app, "/b24/app", user_id=user_id).text)


def _pid(live_app, sandbox) -> int:
    return portal_row(live_app, sandbox.member_id).id


def _post(live_app, path, token, data=None, **kw):
    return requests.post(f"{live_app.url}{path}", data={"frame_token": token, **(data or {})}, timeout=30, **kw)


def _page(live_app, token, **args) -> str:
    r = requests.get(f"{live_app.url}/b24/app", params={"ft": token, **args}, timeout=30)
    assert r.status_code == 200, r.text[:500]
    return r.text


def _by_name(live_app, pid, name) -> Checklist:
    with live_app.ctx():
        cl = db.session.scalar(select(Checklist).where(Checklist.portal_id == pid, Checklist.name == name))
        db.session.expunge(cl)
        return cl


def _state(live_app, pid) -> list:
    """Every checklist and version of the portal, to prove a refusal changed nothing."""
    with live_app.ctx():
        rows = [(c.id, c.name, c.version, c.next_item, c.archived, c.sections)
                for c in db.session.scalars(select(Checklist).where(Checklist.portal_id == pid).order_by(Checklist.id))]
        rows += [(v.id, v.checklist_id, v.number, v.name, v.used, v.sections, v.created_by)
                 for v in db.session.scalars(select(ChecklistVersion).where(ChecklistVersion.portal_id == pid)
                                             .order_by(ChecklistVersion.id))]
        return rows


def _mark_used(live_app, cl_id):
    with live_app.ctx():
        cl = db.session.get(Checklist, cl_id)
        C.mark_used(C.current_version(cl))
        db.session.commit()


def form_of(name, sections, version=None) -> dict:
    """The editor's fields as the page posts them."""
    data = {"name": name}
    if version is not None:
        data["version"] = str(version)
    for si, sec in enumerate(sections):
        data[f"s{si}.title"] = sec.get("title", "")
        for ii, it in enumerate(sec.get("items", [])):
            p = f"s{si}.i{ii}."
            data |= {p + "id": it.get("id", ""), p + "text": it.get("text", ""), p + "hint": it.get("hint", ""),
                     p + "weight": str(it.get("weight", 1)), p + "scale": it.get("scale", "yes_partly_no"),
                     p + "max_points": str(it.get("max_points", ""))}
            for flag in ("critical", "na_allowed"):
                if it.get(flag):
                    data[p + flag] = "1"
    return data


class FormFields(HTMLParser):
    """The fields a browser without JS would post from the editor form (checked boxes, selected options)."""

    def __init__(self):
        super().__init__()
        self.fields, self.inside, self.select, self.textarea = [], False, None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("data-testid") == "checklist-form"
        if not self.inside:
            return
        if tag == "input" and a.get("name"):
            if a.get("type") == "checkbox" and "checked" not in a:
                return
            self.fields.append((a["name"], a.get("value", "")))
        elif tag == "select":
            self.select = a["name"]
        elif tag == "option" and self.select and "selected" in a:
            self.fields.append((self.select, a["value"]))
        elif tag == "textarea":
            self.textarea = [a["name"], ""]

    def handle_data(self, data):
        if self.textarea is not None:
            self.textarea[1] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self.select = None
        elif tag == "textarea" and self.textarea is not None:
            self.fields.append(tuple(self.textarea))
            self.textarea = None


def _editor_fields(html: str) -> list[tuple[str, str]]:
    p = FormFields()
    p.feed(html)
    return p.fields


# --- parsing ---------------------------------------------------------------------------------------

def test_the_form_is_read_in_the_order_of_its_numbers_and_odd_fields_are_ignored():
    form = MultiDict([("name", "Н"), ("version", "3"), ("s10.title", "Второй"), ("s2.title", "Первый"),
                      ("s2.i11.text", "б"), ("s2.i3.text", "а"), ("s2.i3.weight", "2"), ("s2.i3.bogus", "x"),
                      ("s2.i3.critical", "1"), ("s2.i3.text", "повтор"), ("s9999.title", "слишком"),
                      ("s1.i1.text", "без раздела"), ("frame_token", "t")])
    posted = parse_form(form)
    assert posted.name == "Н" and posted.version == 3
    assert posted.sections == [
        {"title": None, "items": [{"text": "без раздела"}]},
        {"title": "Первый", "items": [{"text": "а", "weight": "2", "critical": "1"}, {"text": "б"}]},
        {"title": "Второй", "items": []}]
    assert parse_form(MultiDict({"version": "²"})).version is None
    assert parse_form(MultiDict({"version": "-1"})).version is None


# --- over HTTP ---------------------------------------------------------------------------------------

def test_the_section_lists_checklists_with_versions_items_and_topics(installed, live_app):
    pid = _pid(live_app, installed)
    html = open_placement(installed, live_app, "/b24/app").text
    assert 'data-testid="checklists-section"' in html and "Как считается оценка" in html
    assert "Σ(вес × балл пункта) ÷ Σ(вес применимых пунктов) × 100" in html and "делает всю оценку 0 %" in html
    assert "выпадает из расчёта — и из числителя, и из знаменателя" in html
    sales = _by_name(live_app, pid, "Продажа")
    row = html[html.index(f'data-testid="checklist-row" data-id="{sales.id}"'):]
    row = row[:row.index("</tr>")]
    assert 'data-testid="checklist-version">1<' in row and 'data-testid="checklist-items">8<' in row
    assert "Новый клиент, Повторная продажа" in row
    # the topic section points here instead of promising an editor later
    assert "Редактирование чек-листов появится" not in html and 'href="#checklists"' in html
    assert "Продажа <span class=\"muted\">— пунктов: 8</span>" in html


def test_an_admin_edits_in_place_until_used_then_a_new_version_is_made(installed, live_app):
    pid, token = _pid(live_app, installed), _token(installed, live_app)
    sales = _by_name(live_app, pid, "Продажа")
    editor = _page(live_app, token, checklist=sales.id)
    assert 'data-testid="checklist-editor"' in editor and "ещё не использована в оценках" in editor

    sections = copy.deepcopy(sales.sections)
    sections[1]["items"].append({"text": "Назвал цену по прайсу", "hint": "Цена из прайса, не «примерно»",
                                 "weight": 4, "scale": "points", "max_points": 5, "critical": True})
    r = _post(live_app, f"{BASE}/{sales.id}", token, form_of("Продажа", sections, version=1))
    assert r.status_code == 200 and r.history[0].status_code == 303
    assert "изменена на месте" in r.text and 'data-testid="checklist-editor"' in r.text
    cl = _by_name(live_app, pid, "Продажа")
    added = cl.sections[1]["items"][-1]
    assert cl.version == 1 and added == {"id": "i9", "text": "Назвал цену по прайсу",
                                         "hint": "Цена из прайса, не «примерно»", "weight": 4, "scale": "points",
                                         "critical": True, "na_allowed": False, "max_points": 5}

    _mark_used(live_app, cl.id)
    editor = _page(live_app, token, checklist=cl.id)
    assert "при сохранении изменений появится версия 2" in editor
    sections = copy.deepcopy(cl.sections)
    sections[0]["items"][0]["text"] = "Поздоровался по стандарту"
    sections[0]["items"].reverse()                       # reordered: ids travel with the items
    r = _post(live_app, f"{BASE}/{cl.id}", token, form_of("Продажа", sections, version=1))
    assert r.status_code == 200 and "сохранён как новая версия" in r.text
    cl = _by_name(live_app, pid, "Продажа")
    assert cl.version == 2 and [it["id"] for it in cl.sections[0]["items"]] == ["i2", "i1"]
    with live_app.ctx():
        admin = db.session.scalar(select(PortalUser.name).where(PortalUser.portal_id == pid, PortalUser.user_id == 1))
        v1 = db.session.scalar(select(ChecklistVersion).where(ChecklistVersion.checklist_id == cl.id,
                                                              ChecklistVersion.number == 1))
        assert v1.sections[0]["items"][0]["text"] == "Поздоровался, представился и назвал компанию"  # kept as scored
    history = r.text[r.text.index('data-testid="checklist-history"'):]
    assert [n for n in (2, 1) if f'data-testid="checklist-version-row" data-number="{n}"' in history] == [2, 1]
    assert admin and admin in history and "использована в оценках, не меняется" in history
    assert 'data-testid="checklist-version">2<' in r.text  # the list shows the new version


def test_the_editor_page_posts_back_unchanged_without_js(installed, live_app):
    """The fields as rendered (names, checked boxes, selected scales) are exactly what the server reads."""
    pid, token = _pid(live_app, installed), _token(installed, live_app)
    sales = _by_name(live_app, pid, "Продажа")
    fields = _editor_fields(_page(live_app, token, checklist=sales.id))
    assert ("s3.i0.critical", "1") in fields and ("version", "1") in fields
    before = _state(live_app, pid)
    r = requests.post(f"{live_app.url}{BASE}/{sales.id}", data=fields, timeout=30)
    assert r.status_code == 200 and "Изменений нет" in r.text
    assert _state(live_app, pid) == before
    # an edit of an existing field in the same plain form is saved
    fields = [(k, "Выяснил бюджет" if k == "s1.i1.text" else v) for k, v in fields]
    r = requests.post(f"{live_app.url}{BASE}/{sales.id}", data=fields, timeout=30)
    assert r.status_code == 200 and _by_name(live_app, pid, "Продажа").sections[1]["items"][1]["text"] == "Выяснил бюджет"


def test_a_stale_editor_is_refused_with_the_input_kept(installed, live_app):
    pid, token = _pid(live_app, installed), _token(installed, live_app)
    cl = _by_name(live_app, pid, "Общий")
    _mark_used(live_app, cl.id)
    other = copy.deepcopy(cl.sections)
    other[0]["title"] = "Разговор (правка коллеги)"
    assert _post(live_app, f"{BASE}/{cl.id}", token, form_of("Общий", other, version=1)).status_code == 200
    before = _state(live_app, pid)

    mine = copy.deepcopy(cl.sections)
    mine[0]["items"][0]["text"] = "Моя формулировка приветствия"
    r = _post(live_app, f"{BASE}/{cl.id}", token, form_of("Общий", mine, version=1))
    assert r.status_code == 409 and "уже изменил другой администратор" in r.text
    assert 'value="Моя формулировка приветствия"' in r.text and "Открыть текущую версию 2" in r.text
    assert _state(live_app, pid) == before
    # a form that does not say which version it was opened at cannot overwrite either
    r = _post(live_app, f"{BASE}/{cl.id}", token, form_of("Общий", mine))
    assert r.status_code == 409 and _state(live_app, pid) == before


def test_every_problem_is_named_and_nothing_is_saved(installed, live_app):
    pid, token = _pid(live_app, installed), _token(installed, live_app)
    cl = _by_name(live_app, pid, "Претензия")
    before = _state(live_app, pid)
    bad = copy.deepcopy(cl.sections)
    bad[0]["title"] = "  "
    bad[1]["items"][0]["weight"] = "101"
    bad[1]["items"][1].update(scale="points", max_points="")
    bad[2]["items"].append({"text": "", "weight": "x"})
    r = _post(live_app, f"{BASE}/{cl.id}", token, form_of("", bad, version=1))
    assert r.status_code == 400 and "Чек-лист не сохранён" in r.text
    problems = r.text[r.text.index('data-testid="checklist-problems"'):]
    problems = problems[:problems.index("<form")]
    for text in ("Укажите название чек-листа", "Раздел 1: Укажите название раздела",
                 "Раздел 2, пункт 1: Вес пункта — целое число от 0 до 100",
                 "Раздел 2, пункт 2: Для шкалы баллов укажите максимум",
                 "Раздел 3, пункт 2: Укажите вопрос пункта", "Раздел 3, пункт 2: Вес пункта"):
        assert text in problems, text
    assert 'value="101"' in r.text and r.text.count('class="cl-item invalid"') == 3
    assert _state(live_app, pid) == before


def test_an_admin_creates_a_checklist_and_an_empty_one_is_refused(installed, live_app):
    pid, token = _pid(live_app, installed), _token(installed, live_app)
    assert 'action="/b24/qa/checklists"' in _page(live_app, token, checklist="new")
    before = _state(live_app, pid)
    r = _post(live_app, BASE, token, {"name": "Пустой"})
    assert r.status_code == 400 and "хотя бы один раздел" in r.text and _state(live_app, pid) == before
    r = _post(live_app, BASE, token, form_of("Входящий сервис", [
        {"title": "Старт", "items": [{"text": "Ответил до третьего гудка", "weight": 2, "scale": "yes_no",
                                      "na_allowed": True}]}]))
    assert r.status_code == 200 and "Чек-лист создан" in r.text
    made = _by_name(live_app, pid, "Входящий сервис")
    assert made.version == 1 and made.sections[0]["items"][0]["na_allowed"] is True


def test_duplicate_archive_and_restore(installed, live_app):
    pid, token = _pid(live_app, installed), _token(installed, live_app)
    sales = _by_name(live_app, pid, "Продажа")
    r = _post(live_app, f"{BASE}/{sales.id}/duplicate", token)
    assert r.status_code == 200 and "Копия создана" in r.text
    copied = _by_name(live_app, pid, "Продажа (копия)")
    assert copied.id != sales.id and copied.version == 1 and f'data-id="{copied.id}"' in r.text
    assert _post(live_app, f"{BASE}/{sales.id}/duplicate", token).status_code == 200
    assert _by_name(live_app, pid, "Продажа (копия) (2)")  # a second copy is told apart

    before = _state(live_app, pid)
    r = _post(live_app, f"{BASE}/{sales.id}/archive", token)  # topics still score by it
    assert r.status_code == 409 and "«Новый клиент», «Повторная продажа»" in r.text
    assert _state(live_app, pid) == before

    r = _post(live_app, f"{BASE}/{copied.id}/archive", token)
    assert r.status_code == 200 and "отправлен в архив" in r.text
    archived = r.text[r.text.index('data-testid="checklist-archive-list"'):]
    assert f'data-id="{copied.id}"' in archived
    r = _post(live_app, f"{BASE}/{copied.id}/restore", token)
    assert r.status_code == 200 and "восстановлен" in r.text and 'data-testid="checklist-archive-list"' not in r.text


def test_export_then_import_makes_a_new_checklist_and_a_wrong_file_is_refused(installed, live_app):
    pid, token = _pid(live_app, installed), _token(installed, live_app)
    complaint = _by_name(live_app, pid, "Претензия")
    r = requests.get(f"{live_app.url}{BASE}/{complaint.id}/export", params={"ft": token}, timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    assert r.headers["Content-Disposition"].startswith("attachment;") and "%D0%9F" in r.headers["Content-Disposition"]
    data = r.json()
    assert data["format"] == C.EXPORT_FORMAT and data["name"] == "Претензия"

    before = _state(live_app, pid)
    for content, text in ((b"\x89PNG\r\n", "Файл не читается"), (b"[1, 2]", "Это не файл чек-листа"),
                          (json.dumps({"format": "other"}).encode(), "Это не файл чек-листа"),
                          (json.dumps({**data, "sections": [{"title": "", "items": []}]}).encode(),
                           "Раздел 1: Укажите название раздела"),
                          (b"{" * 100000, "Файл не читается")):
        r = _post(live_app, f"{BASE}/import", token, files={"file": ("x.json", content, "application/json")})
        assert r.status_code == 400 and text in r.text, text
    r = _post(live_app, f"{BASE}/import", token)
    assert r.status_code == 400 and "Выберите файл чек-листа" in r.text
    assert _state(live_app, pid) == before

    r = _post(live_app, f"{BASE}/import", token,
              files={"file": ("Претензия.json", json.dumps(data, ensure_ascii=False).encode(), "application/json")})
    assert r.status_code == 200 and "загружен из файла" in r.text
    imported = _by_name(live_app, pid, "Претензия (2)")
    assert imported.id != complaint.id and imported.version == 1
    strip = [[{k: v for k, v in it.items() if k != "id"} for it in s["items"]] for s in imported.sections]
    assert strip == [[{k: v for k, v in it.items() if k != "id"} for it in s["items"]] for s in complaint.sections]


def test_reviewers_read_managers_do_not_see_and_neither_may_write(installed, live_app):
    pid, admin = _pid(live_app, installed), _token(installed, live_app)
    sales = _by_name(live_app, pid, "Продажа")
    manager = _token(installed, live_app, user_id=2)
    page = _page(live_app, manager)
    assert 'data-testid="checklists-section"' not in page
    before = _state(live_app, pid)
    for path in (f"{BASE}/{sales.id}", f"{BASE}/{sales.id}/duplicate", f"{BASE}/{sales.id}/archive", BASE):
        assert _post(live_app, path, manager, form_of("Взлом", sales.sections, version=1)).status_code == 403
    assert requests.get(f"{live_app.url}{BASE}/{sales.id}/export", params={"ft": manager}, timeout=30).status_code == 403
    assert _state(live_app, pid) == before

    _post(live_app, "/b24/settings/roles", admin, {"user_id": "2", "role": "qa"}).raise_for_status()
    page = _page(live_app, _token(installed, live_app, user_id=2))
    assert 'data-testid="checklists-section"' in page and 'data-testid="checklist-read"' in page
    assert "Изменять чек-листы может администратор" in page and "Договорился о следующем шаге" in page
    assert 'data-testid="checklist-form"' not in page and "/b24/qa/checklists" not in page
    assert 'data-testid="checklist-editor"' not in _page(live_app, _token(installed, live_app, user_id=2),
                                                          checklist=sales.id)


def test_another_portals_checklist_is_not_found_and_untouched(installed, make_sandbox, live_app):
    other = make_sandbox(install=True, seed=7, calls_days=1)
    pid_b = _pid(live_app, other)
    theirs = _by_name(live_app, pid_b, "Продажа")
    before = _state(live_app, pid_b)
    token = _token(installed, live_app)
    for path in (f"{BASE}/{theirs.id}", f"{BASE}/{theirs.id}/duplicate", f"{BASE}/{theirs.id}/archive",
                 f"{BASE}/{theirs.id}/restore"):
        r = _post(live_app, path, token, form_of("Взлом", theirs.sections, version=1))
        assert r.status_code == 404 and "Чек-лист не найден" in r.text, path
    r = requests.get(f"{live_app.url}{BASE}/{theirs.id}/export", params={"ft": token}, timeout=30)
    assert r.status_code == 404 and "call-quality-checklist" not in r.text
    assert 'data-testid="checklist-editor"' not in _page(live_app, token, checklist=theirs.id)
    assert _state(live_app, pid_b) == before
    with live_app.ctx():
        assert db.session.scalar(select(Topic.checklist_id).where(Topic.portal_id == pid_b,
                                                                  Topic.name == "Новый клиент")) == theirs.id


@pytest.mark.parametrize("value", ["abc", "-1", "²", "9" * 40, "new "])
def test_odd_checklist_arguments_show_the_page_without_an_editor(installed, live_app, value):
    html = _page(live_app, _token(installed, live_app), checklist=value)
    assert 'data-testid="checklists-section"' in html and 'data-testid="checklist-editor"' not in html
