"""User-facing texts for error keys raised by services (Russian source strings, translated by Babel)."""

from __future__ import annotations

from flask_babel import gettext as _


def message(key: str) -> str:
    texts = {
        "install.token_rejected": _("Портал не подтвердил ключ установки. Переустановите приложение."),
        "install.admin_only": _("Установить приложение может только администратор портала."),
        "install.foreign_portal": _("Этот портал уже подключён с другого адреса. Установка отклонена."),
        "frame.bad_request": _("Запрос от портала неполный: не хватает данных авторизации."),
        "frame.not_installed": _("Приложение не установлено на этом портале или было удалено. Установите его заново."),
        "frame.foreign_portal": _("Запрос пришёл не с того портала, на котором установлено приложение."),
        "frame.bad_token": _("Портал не подтвердил вашу авторизацию. Обновите страницу."),
        "frame.portal_unavailable": _("Портал сейчас не отвечает. Попробуйте через минуту."),
        "frame.token_missing": _("Сессия не найдена. Откройте приложение из меню портала."),
        "frame.token_expired": _("Сессия истекла. Обновите страницу."),
        "frame.token_invalid": _("Сессия недействительна. Откройте приложение из меню портала."),
        "roles.unknown_role": _("Такой роли нет."),
        "roles.unknown_user": _("Сотрудник не найден на портале."),
        "roles.bad_user": _("Выберите сотрудника."),
        "roles.saved": _("Роль назначена."),
        "roles.revoked": _("Роль снята."),
        "roles.not_found": _("Назначение не найдено."),
        "calls.bad_days": _("Укажите число дней от 1 до 365."),
        "calls.import_started": _("Импорт истории запущен."),
        "http.403": _("Недостаточно прав для этого действия."),
        "http.404": _("Страница не найдена."),
        "http.405": _("Этот адрес так не вызывают."),
        "http.400": _("Некорректный запрос."),
        "http.500": _("Внутренняя ошибка. Мы уже знаем о ней; повторите попытку позже."),
    }
    return texts.get(key, key)


def role_label(role: str) -> str:
    return {
        "admin": _("Администратор"),
        "director": _("Руководитель"),
        "qa": _("Контролёр качества"),
        "manager": _("Менеджер"),
    }.get(role, role)
