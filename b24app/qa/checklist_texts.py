"""Texts of the checklist editor («Чек-листы» in the settings page): notices after an action and its refusals."""

from __future__ import annotations

from flask_babel import lazy_gettext as _

from ..messages import register

# Keys a form of the section may redirect back with (?msg=…) to show as the page's notice.
NOTICES = ("checklists.created", "checklists.saved", "checklists.saved_new_version", "checklists.unchanged",
           "checklists.duplicated", "checklists.archived", "checklists.restored", "checklists.imported")

register({
    "checklists.created": _("Чек-лист создан. Выберите его у тем, звонки которых нужно оценивать по нему."),
    "checklists.saved": _("Чек-лист сохранён. По этой версии ещё не ставили оценок, поэтому она изменена на месте."),
    "checklists.saved_new_version": _("Чек-лист сохранён как новая версия. Прошлые оценки остаются по той версии, по которой их ставили; новые оценки пойдут по новой."),
    "checklists.unchanged": _("Изменений нет: чек-лист остался прежним."),
    "checklists.duplicated": _("Копия создана: её можно править, не трогая исходный чек-лист."),
    "checklists.archived": _("Чек-лист отправлен в архив. Оценки, поставленные по нему, сохранятся."),
    "checklists.restored": _("Чек-лист восстановлен из архива."),
    "checklists.imported": _("Чек-лист загружен из файла как новый."),
    "checklists.no_file": _("Выберите файл чек-листа (.json), выгруженный из приложения."),
    "checklists.bad_json": _("Файл не читается: нужен файл JSON в кодировке UTF-8, выгруженный из приложения кнопкой «Выгрузить»."),
    "checklists.too_big": _("Файл слишком большой: файл чек-листа занимает не больше 1 МБ."),
    "checklists.in_use": _("Чек-лист не отправлен в архив: по нему оценивают звонки действующих тем."),
    "checklists.not_saved": _("Чек-лист не сохранён, ничего не изменилось. Исправьте:"),
})
