"""Checklists a portal scores calls by: the defaults made on install and lookups for topics and cards."""

from __future__ import annotations

import copy

from sqlalchemy import select

from ..extensions import db
from .models import Checklist


def _item(text: str, weight: int = 1, critical: bool = False, na: bool = False) -> dict:
    return {"text": text, "weight": weight, "critical": critical, "na_allowed": na}


# The seed's sales calls and complaints need different forms; both are editable by the admin later.
DEFAULTS = {
    "sales": ("Продажа", [
        {"title": "Начало разговора", "items": [_item("Поздоровался, представился и назвал компанию", 2),
                                                _item("Уточнил, как обращаться к клиенту")]},
        {"title": "Выявление потребностей", "items": [_item("Задал открытые вопросы о задаче клиента", 3),
                                                       _item("Уточнил сроки и бюджет", 2, na=True)]},
        {"title": "Презентация и возражения", "items": [_item("Предложил решение под потребность", 3),
                                                         _item("Отработал возражения", 2, na=True)]},
        {"title": "Завершение", "items": [_item("Договорился о следующем шаге", 3, critical=True),
                                          _item("Попрощался вежливо")]},
    ]),
    "complaint": ("Претензия", [
        {"title": "Приём претензии", "items": [_item("Выслушал клиента, не перебивая", 2),
                                               _item("Извинился за неудобства")]},
        {"title": "Решение", "items": [_item("Зафиксировал суть претензии в CRM", 2),
                                       _item("Назвал срок и способ решения", 3, critical=True)]},
        {"title": "Тон", "items": [_item("Сохранял спокойный и вежливый тон", 3, critical=True)]},
    ]),
    "general": ("Общий", [
        {"title": "Разговор", "items": [_item("Поздоровался и представился", 2),
                                        _item("Ответил на вопрос клиента по существу", 3),
                                        _item("Вежливо завершил разговор")]},
    ]),
}


def with_item_ids(sections: list[dict]) -> list[dict]:
    """A copy whose items carry stable ids, so answers keep their item when the admin reorders the list."""
    out, n = copy.deepcopy(sections), 0
    for sec in out:
        for it in sec.get("items") or []:
            n += 1
            it.setdefault("id", f"i{n}")
    return out


def ensure_defaults(portal_id: int) -> dict[str, Checklist]:
    """Create the default checklists once (a portal that has any checklist keeps its own)."""
    existing = db.session.scalars(select(Checklist).where(Checklist.portal_id == portal_id)).all()
    by_name = {c.name: c for c in existing}
    if existing:
        return {key: by_name[name] for key, (name, _) in DEFAULTS.items() if name in by_name}
    made = {key: Checklist(portal_id=portal_id, name=name, sections=with_item_ids(sections))
            for key, (name, sections) in DEFAULTS.items()}
    db.session.add_all(made.values())
    db.session.flush()
    return made


def checklists(portal_id: int, include_archived: bool = False) -> list[Checklist]:
    q = select(Checklist).where(Checklist.portal_id == portal_id)
    if not include_archived:
        q = q.where(Checklist.archived.is_(False))
    return list(db.session.scalars(q.order_by(Checklist.name)))


def checklist(portal_id: int, checklist_id: int | None) -> Checklist | None:
    if not checklist_id:
        return None
    return db.session.scalar(select(Checklist).where(Checklist.portal_id == portal_id, Checklist.id == checklist_id))
