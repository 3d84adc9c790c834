"""The checklist editor in the settings page inside the sandbox portal's iframe, in Chromium: an admin adds a
points item marked critical to a checklist already used in scores, moves an item, saves and sees version 2,
then exports the checklist as a file and imports that file back as a new checklist."""

from __future__ import annotations

import json

from sqlalchemy import select

from b24app.extensions import db
from b24app.portals.models import Portal
from b24app.qa import checklists as C
from b24app.qa.models import Checklist

from .conftest import ARTIFACTS, app_frame, shot

EDITOR = '[data-testid="checklist-editor"]'


def _sales(live_app, member_id) -> Checklist:
    with live_app.ctx():
        pid = db.session.scalar(select(Portal.id).where(Portal.member_id == member_id))
        cl = db.session.scalar(select(Checklist).where(Checklist.portal_id == pid, Checklist.name == "Продажа"))
        db.session.expunge(cl)
        return cl


def test_an_admin_edits_a_used_checklist_then_exports_and_imports_it(installed, live_app, page, tmp_path):
    sales = _sales(live_app, installed.member_id)
    with live_app.ctx():  # a score was made with version 1: the edit must become version 2
        C.mark_used(C.current_version(db.session.get(Checklist, sales.id)))
        db.session.commit()

    page.goto(f"{installed.url}/?user=1&open=app")
    frame = app_frame(page)
    frame.wait_for_selector('[data-testid="checklists-section"]')
    row = f'[data-testid="checklist-row"][data-id="{sales.id}"]'
    assert frame.inner_text(f"{row} [data-testid=checklist-version]") == "1"
    assert "Новый клиент, Повторная продажа" in frame.inner_text(row)
    shot(page, "checklists-section")

    frame.click(f'{row} [data-testid="checklist-edit"]')
    frame.wait_for_selector(f'{EDITOR}[data-id="{sales.id}"]')
    assert "при сохранении изменений появится версия 2" in frame.inner_text('[data-testid="checklist-version-note"]')

    second = f'{EDITOR} [data-testid="cl-section"]:nth-of-type(2)'
    frame.click(f'{second} [data-action="add-item"]')
    new = f'{second} [data-testid="cl-item"]:last-child'
    assert frame.is_hidden(f"{new} .cl-points")  # «N» only for the points scale
    frame.fill(f'{new} [data-field="text"]', "Назвал цену по прайсу")
    frame.fill(f'{new} [data-field="hint"]', "Точная цена из прайса, не «примерно»")
    frame.fill(f'{new} [data-field="weight"]', "3")
    frame.select_option(f'{new} [data-field="scale"]', "points")
    assert frame.is_visible(f"{new} .cl-points")
    frame.fill(f'{new} [data-field="max_points"]', "4")
    frame.check(f'{new} [data-field="critical"]')
    assert frame.get_attribute(f'{new} [data-field="text"]', "name") == "s1.i2.text"
    # the first section's second item moves to the top
    first = f'{EDITOR} [data-testid="cl-section"]:nth-of-type(1)'
    frame.click(f'{first} [data-testid="cl-item"]:nth-child(2) [data-action="up"]')
    shot(page, "checklist-editor-edited")

    frame.click('[data-testid="checklist-save"]')
    frame.wait_for_selector('[data-testid="notice"]')
    assert "сохранён как новая версия" in frame.inner_text('[data-testid="notice"]')
    frame.wait_for_selector(f'{EDITOR} [data-testid="checklist-version-row"][data-number="2"]')
    assert "версия 2" in frame.inner_text(f"{EDITOR} h3")
    history = frame.inner_text('[data-testid="checklist-history"]')
    assert "использована в оценках" in history
    assert frame.inner_text(f"{row} [data-testid=checklist-version]") == "2"
    assert frame.inner_text(f"{row} [data-testid=checklist-items]") == "9"
    saved = _sales(live_app, installed.member_id)
    assert saved.version == 2
    assert [it["id"] for it in saved.sections[0]["items"]] == ["i2", "i1"]
    added = saved.sections[1]["items"][-1]
    assert (added["text"], added["scale"], added["max_points"], added["critical"], added["weight"]) == \
        ("Назвал цену по прайсу", "points", 4, True, 3)
    shot(page, "checklist-editor-saved")
    frame.locator(EDITOR).screenshot(path=str(ARTIFACTS / "checklist-editor-saved-close-up.png"))

    with page.expect_download() as download:
        frame.click(f'{row} [data-testid="checklist-export"]')
    path = tmp_path / "exported.json"
    download.value.save_as(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["name"] == "Продажа" and data["version"] == 2
    assert data["sections"][1]["items"][-1]["max_points"] == 4

    frame.set_input_files('[data-testid="checklist-import-form"] input[type="file"]', str(path))
    frame.click('[data-testid="checklist-import-form"] button[type="submit"]')
    frame.wait_for_selector('[data-testid="checklist-row"][data-name="Продажа (2)"]')
    assert "загружен из файла" in frame.inner_text('[data-testid="notice"]')
    imported = '[data-testid="checklist-row"][data-name="Продажа (2)"]'
    assert frame.inner_text(f"{imported} [data-testid=checklist-version]") == "1"
    assert frame.inner_text(f"{imported} [data-testid=checklist-items]") == "9"

    bad = tmp_path / "not-a-checklist.json"
    bad.write_text('{"format": "something-else"}', encoding="utf-8")
    frame.set_input_files('[data-testid="checklist-import-form"] input[type="file"]', str(bad))
    frame.click('[data-testid="checklist-import-form"] button[type="submit"]')
    frame.wait_for_selector('[data-testid="checklist-action-problems"]')
    assert "Это не файл чек-листа" in frame.inner_text('[data-testid="checklist-action-problems"]')
    shot(page, "checklist-imported")
