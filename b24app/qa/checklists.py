"""Checklists a portal scores calls by: the defaults made on install, versioned saving, copies, archive,
JSON import/export, and lookups for topics and cards.

Versions: a checklist's content lives in numbered versions. Saving edits the current version in place
until a score has used it; after that, saving makes the next version, so every score keeps the exact
form it was made with. Items keep their `id` from version to version (new items get ids never used
before in that checklist), so results stay comparable item by item across versions.
"""

from __future__ import annotations

import copy

from sqlalchemy import select, update

from ..extensions import db
from ..models_base import utcnow
from .models import Checklist, ChecklistVersion
from .scoring import MAX_POINTS, SCALES


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
    return {key: create(portal_id, name, sections, None) for key, (name, sections) in DEFAULTS.items()}


# --- editing -------------------------------------------------------------------------------------

LIMITS = {"name": 120, "title": 200, "text": 500, "hint": 1000, "sections": 30, "items": 60, "weight": 100}


class ChecklistRefused(ValueError):
    """A checklist that cannot be saved; `message_key` says why, `section`/`item` name the place (1-based).

    `problems` holds every problem found, as (message key, section, item), the first being this one's,
    so an editor can name them all at once.
    """

    def __init__(self, message_key: str, section: int | None = None, item: int | None = None,
                 problems: list[tuple[str, int | None, int | None]] | None = None):
        super().__init__(message_key)
        self.message_key, self.section, self.item = message_key, section, item
        self.problems = problems or [(message_key, section, item)]


def _refuse_all(problems: list[tuple[str, int | None, int | None]]) -> None:
    if problems:
        raise ChecklistRefused(*problems[0], problems=problems)


def _collect(problems: list, check, *args):
    """`check(*args)`, or None with its refusal added to `problems`."""
    try:
        return check(*args)
    except ChecklistRefused as exc:
        problems.extend(exc.problems)
        return None


def _text(value, limit: int, key: str, si=None, ii=None, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise ChecklistRefused(key, si, ii)
    value = " ".join(value.split())
    if (required and not value) or len(value) > limit:
        raise ChecklistRefused(key, si, ii)
    return value


def _flag(value, si, ii) -> bool:
    if value in (None, False, "", "0", "false", "off"):
        return False
    if value in (True, "1", "true", "on"):
        return True
    raise ChecklistRefused("checklist.bad_flag", si, ii)


def _digits(value) -> bool:
    """A short run of ASCII digits, as a form posts a number (int() of "²" or of 5000 digits would raise)."""
    return isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value.strip()) <= 6


def normalize(sections, known_ids: set[str], next_item: int) -> tuple[list[dict], int]:
    """Checked and cleaned sections, with ids for new items; the next free item number.

    An item may keep an id only if this checklist already had it (no borrowing another's identity),
    and once per form. Every problem is collected before refusing, so the editor can name them all.
    """
    if not isinstance(sections, list) or not 1 <= len(sections) <= LIMITS["sections"]:
        raise ChecklistRefused("checklist.no_sections")
    out, seen, problems = [], set(), []
    for si, sec in enumerate(sections, 1):
        if not isinstance(sec, dict):
            problems.append(("checklist.bad_section", si, None))
            continue
        title = _collect(problems, _text, sec.get("title"), LIMITS["title"], "checklist.bad_title", si)
        raw_items = sec.get("items")
        if not isinstance(raw_items, list) or not 1 <= len(raw_items) <= LIMITS["items"]:
            problems.append(("checklist.no_items", si, None))
            continue
        items_out = []
        for ii, it in enumerate(raw_items, 1):
            if not isinstance(it, dict):
                problems.append(("checklist.bad_item", si, ii))
                continue
            ident = it.get("id")
            if ident in (None, ""):
                ident, next_item = f"i{next_item}", next_item + 1
            elif not isinstance(ident, str) or ident not in known_ids or ident in seen:
                problems.append(("checklist.bad_item_id", si, ii))
            seen.add(ident if isinstance(ident, str) else "")
            weight = it.get("weight", 1)
            if _digits(weight):
                weight = int(weight)
            if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= LIMITS["weight"]:
                problems.append(("checklist.bad_weight", si, ii))
            scale = it.get("scale") or "yes_partly_no"
            if not isinstance(scale, str) or scale not in SCALES:
                problems.append(("checklist.bad_scale", si, ii))
            item = {"id": ident, "text": _collect(problems, _text, it.get("text"), LIMITS["text"], "checklist.bad_text",
                                                  si, ii),
                    "hint": _collect(problems, _text, it.get("hint"), LIMITS["hint"], "checklist.bad_hint", si, ii,
                                     False),
                    "weight": weight, "scale": scale, "critical": _collect(problems, _flag, it.get("critical"), si, ii),
                    "na_allowed": _collect(problems, _flag, it.get("na_allowed"), si, ii)}
            if scale == "points":
                top = it.get("max_points")
                if _digits(top):
                    top = int(top)
                if not isinstance(top, int) or isinstance(top, bool) or not 1 <= top <= MAX_POINTS:
                    problems.append(("checklist.bad_points", si, ii))
                item["max_points"] = top
            items_out.append(item)
        out.append({"title": title, "items": items_out})
    _refuse_all(problems)
    return out, next_item


def _checked(name, sections, known_ids: set[str], next_item: int) -> tuple[str, list[dict], int]:
    """The cleaned name and sections, or one refusal naming every problem (the name's first)."""
    problems: list = []
    name = _collect(problems, _text, name, LIMITS["name"], "checklist.bad_name")
    clean, next_item = _collect(problems, normalize, sections, known_ids, next_item) or (None, next_item)
    _refuse_all(problems)
    return name, clean, next_item


def _known_ids(portal_id: int, checklist_id: int) -> set[str]:
    ids: set[str] = set()
    for sections in db.session.scalars(select(ChecklistVersion.sections)
                                       .where(ChecklistVersion.portal_id == portal_id,
                                              ChecklistVersion.checklist_id == checklist_id)):
        ids.update(str(it.get("id")) for sec in sections or [] for it in sec.get("items") or [] if it.get("id"))
    return ids


def create(portal_id: int, name: str, sections, user_id: int | None) -> Checklist:
    """A new checklist at version 1; any ids in `sections` are dropped (a new checklist's items are new)."""
    name, clean, next_item = _checked(name, _without_ids(sections), set(), 1)
    cl = Checklist(portal_id=portal_id, name=name, sections=clean, version=1, next_item=next_item)
    db.session.add(cl)
    db.session.flush()
    db.session.add(ChecklistVersion(portal_id=portal_id, checklist_id=cl.id, number=1, name=name, sections=clean,
                                    created_by=user_id))
    db.session.flush()
    return cl


def _without_ids(sections):
    if not isinstance(sections, list):
        return sections
    return [{**sec, "items": [{k: v for k, v in it.items() if k != "id"} if isinstance(it, dict) else it
                              for it in sec["items"]]}
            if isinstance(sec, dict) and isinstance(sec.get("items"), list) else sec for sec in sections]


def current_version(cl: Checklist) -> ChecklistVersion:
    return db.session.scalar(select(ChecklistVersion).where(ChecklistVersion.portal_id == cl.portal_id,
                                                            ChecklistVersion.checklist_id == cl.id,
                                                            ChecklistVersion.number == cl.version))


def save(portal_id: int, checklist_id: int, name: str, sections, user_id: int | None,
         expected_version: int | None = None) -> Checklist:
    """Save an edit: in place while the current version is unused, else as the next version.

    `expected_version` is the version the editor was opened at; another admin's save since then
    refuses this one (checklist.stale) rather than silently replacing it.
    """
    cl = db.session.scalar(select(Checklist).where(Checklist.portal_id == portal_id, Checklist.id == checklist_id)
                           .with_for_update())
    if cl is None:
        raise ChecklistRefused("checklist.not_found")
    if expected_version is not None and expected_version != cl.version:
        raise ChecklistRefused("checklist.stale")
    name, clean, next_item = _checked(name, sections, _known_ids(portal_id, cl.id), cl.next_item)
    if clean == cl.sections and name == cl.name:
        return cl
    current = current_version(cl)
    if current is not None and not current.used:
        # In place: the version's date and author become this save's (the history shows who last shaped it).
        current.sections, current.name, current.created_by, current.created_at = clean, name, user_id, utcnow()
    else:
        cl.version += 1
        db.session.add(ChecklistVersion(portal_id=portal_id, checklist_id=cl.id, number=cl.version, name=name,
                                        sections=clean, created_by=user_id))
    cl.name, cl.sections, cl.next_item = name, clean, next_item
    db.session.flush()
    return cl


def mark_used(version: ChecklistVersion) -> None:
    """A score was made with this version: from now on it is frozen."""
    db.session.execute(update(ChecklistVersion).where(ChecklistVersion.portal_id == version.portal_id,
                                                      ChecklistVersion.id == version.id,
                                                      ChecklistVersion.used.is_(False)).values(used=True))


def free_name(portal_id: int, name: str) -> str:
    """`name`, or with « (2)», « (3)»… when the portal already has a checklist so named (copies and imports
    would otherwise be indistinguishable in a topic's list)."""
    base = " ".join(name.split())[:LIMITS["name"]]
    taken = set(db.session.scalars(select(Checklist.name).where(Checklist.portal_id == portal_id)))
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        tail = f" ({n})"
        candidate = base[:LIMITS["name"] - len(tail)] + tail
    return candidate


def duplicate(portal_id: int, checklist_id: int, copy_name: str, user_id: int | None) -> Checklist:
    cl = checklist(portal_id, checklist_id)
    if cl is None:
        raise ChecklistRefused("checklist.not_found")
    return create(portal_id, copy_name[:LIMITS["name"]], cl.sections, user_id)


def set_archived(portal_id: int, checklist_id: int, archived: bool) -> Checklist:
    cl = checklist(portal_id, checklist_id)
    if cl is None:
        raise ChecklistRefused("checklist.not_found")
    cl.archived = archived
    db.session.flush()
    return cl


EXPORT_FORMAT = "call-quality-checklist"


def export_json(cl: Checklist) -> dict:
    return {"format": EXPORT_FORMAT, "format_version": 1, "name": cl.name, "version": cl.version,
            "sections": _without_ids(cl.sections)}


def import_json(portal_id: int, data, user_id: int | None) -> Checklist:
    """A checklist from an exported file, as a new checklist (its items are new to this portal)."""
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        raise ChecklistRefused("checklist.bad_file")
    return create(portal_id, data.get("name"), data.get("sections"), user_id)


def versions(portal_id: int, checklist_id: int) -> list[ChecklistVersion]:
    return list(db.session.scalars(select(ChecklistVersion).where(
        ChecklistVersion.portal_id == portal_id, ChecklistVersion.checklist_id == checklist_id)
        .order_by(ChecklistVersion.number)))


def checklists(portal_id: int, include_archived: bool = False) -> list[Checklist]:
    q = select(Checklist).where(Checklist.portal_id == portal_id)
    if not include_archived:
        q = q.where(Checklist.archived.is_(False))
    return list(db.session.scalars(q.order_by(Checklist.name)))


def checklist(portal_id: int, checklist_id: int | None) -> Checklist | None:
    if not checklist_id:
        return None
    return db.session.scalar(select(Checklist).where(Checklist.portal_id == portal_id, Checklist.id == checklist_id))
