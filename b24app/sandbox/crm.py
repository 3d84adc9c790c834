"""The portal's CRM in memory: contacts, companies, deals, leads, smart-process types with their
pipelines, stages, items and user fields, and call activities with bindings. One lock, held briefly.
Shapes follow REST-FACTS §5 and the fixtures; the REST handlers live in methods/crm.py."""

from __future__ import annotations

import bisect
import re
import threading
import time
from datetime import UTC, datetime, timezone
from typing import Any

from .envelope import iso

ENTITY_TYPE_IDS = {"LEAD": 1, "DEAL": 2, "CONTACT": 3, "COMPANY": 4, "ACTIVITY": 6}
ENTITY_TYPE_NAMES = {v: k for k, v in ENTITY_TYPE_IDS.items()}
TYPE_FLAGS = ("isCategoriesEnabled", "isStagesEnabled", "isBeginCloseDatesEnabled", "isClientEnabled",
              "isUseInUserfieldEnabled", "isLinkWithProductsEnabled", "isMycompanyEnabled", "isDocumentsEnabled",
              "isSourceEnabled", "isObserversEnabled", "isRecyclebinEnabled", "isAutomationEnabled",
              "isBizProcEnabled", "isSetOpenPermissions", "isPaymentsEnabled", "isCountersEnabled")
# Default stages of a new smart-process pipeline (REST-FACTS §5.2 leaves the set open): three in
# progress, success, failure — so SUCCESS gets SORT 40 as in fixture crm.status.get.response.dynamic_stage.
DEFAULT_SPA_STAGES = (("NEW", "Начало", "", "#22B9FF"), ("PREPARATION", "Подготовка", "", "#FFD300"),
                      ("CLIENT", "Согласование с клиентом", "", "#FF8C00"), ("SUCCESS", "Успех", "S", "#00FF00"),
                      ("FAIL", "Провал", "F", "#FF0000"))
DEAL_STAGES = (("NEW", "Новая", ""), ("PREPARATION", "Подготовка документов", ""),
               ("PREPAYMENT_INVOICE", "Счёт на предоплату", ""), ("EXECUTING", "В работе", ""),
               ("FINAL_INVOICE", "Финальный счёт", ""), ("WON", "Сделка успешна", "S"), ("LOSE", "Сделка провалена", "F"))
LEAD_STATUSES = (("NEW", "Не обработан", ""), ("IN_PROCESS", "В работе", ""), ("PROCESSED", "Обработан", ""),
                 ("CONVERTED", "Качественный лид", "S"), ("JUNK", "Некачественный лид", "F"))
SOURCES = (("CALL", "Звонок"), ("WEB", "Веб-сайт"), ("EMAIL", "Электронная почта"), ("ADVERTISING", "Реклама"),
           ("REPEAT_SALE", "Повторные продажи"), ("OTHER", "Другое"))
UF_TYPES = ("string", "integer", "double", "boolean", "datetime", "date", "enumeration", "employee", "crm", "url",
            "money", "file")

# A compact activity (demo calls): materialised into the REST dict only when read.
# (id, owner_type, owner_id, responsible, direction, start, end, call_id, phone, missed, vote, file_id, subject)
_A_ID, _A_OT, _A_OI, _A_RESP, _A_DIR, _A_START, _A_END, _A_CALL, _A_PHONE, _A_MISSED, _A_VOTE, _A_FILE, _A_SUBJ = \
    range(13)


def phone_key(phone: Any) -> str:
    digits = re.sub(r"\D", "", str(phone or ""))
    return digits[-10:] if len(digits) >= 10 else digits


def uf_camel(field_name: str) -> str:
    """UF_CRM_13_CALL_TOPIC → ufCrm13CallTopic; UF_CRM_44_1721812760630 → ufCrm44_1721812760630;
    UF_CRM_1721244707107 → ufCrm_1721244707107 (an underscore before a digit stays, `_x` → `X`)."""
    name = field_name.upper()
    m = re.match(r"^UF_CRM_(\d+)_(.+)$", name)
    if m:  # the type id is glued on; the tail keeps `_<digit>` and camel-cases `_<letter>`
        return f"ufCrm{m.group(1)}" + re.sub(r"_([a-z])", lambda x: x.group(1).upper(), "_" + m.group(2).lower())
    return re.sub(r"_([a-z])", lambda x: x.group(1).upper(), name.lower())


def _now_iso(tz) -> str:
    return datetime.now(tz).isoformat(timespec="seconds")


class CrmStore:
    def __init__(self, tz: timezone | None = None):
        self.tz = tz or UTC
        self._lock = threading.RLock()
        self.portal_url = ""
        self.reset()

    # --- setup ------------------------------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self.entities: dict[str, dict[int, dict]] = {"CONTACT": {}, "COMPANY": {}, "DEAL": {}, "LEAD": {}}
            self._next = {"CONTACT": 1, "COMPANY": 1, "DEAL": 1, "LEAD": 1}
            # IDs only grow, so appending keeps each list sorted: ID windows and ID order bisect it.
            self._ids: dict[str, list[int]] = {"CONTACT": [], "COMPANY": [], "DEAL": [], "LEAD": []}
            self.update_counts: dict[str, dict[int, int]] = {"CONTACT": {}, "COMPANY": {}, "DEAL": {}}
            self.deal_contacts: dict[int, list[int]] = {}
            self.deal_categories: dict[int, dict] = {0: {"ID": "0", "NAME": "Общее", "SORT": "100",
                                                         "IS_LOCKED": "N", "CREATED_DATE": "2024-02-01"}}
            self.types: dict[int, dict] = {}  # type id → crm.type dict
            self._next_type_id = 1
            self.categories: dict[int, dict] = {}  # category id → {id, name, sort, entityTypeId, isDefault, ...}
            self._next_category = 1
            self.statuses: list[dict] = []
            self._next_status = 1
            self._items: dict[int, dict[int, dict]] = {}  # entityTypeId → id → item
            self._next_item: dict[int, int] = {}
            self.userfields: dict[int, dict] = {}
            self._next_uf = 100
            self._next_enum = 1000
            self._acts: dict[int, Any] = {}  # id → dict or compact tuple
            self._next_act = 1
            self._by_owner: dict[tuple[int, int], list[int]] = {}
            self._by_origin: dict[str, int] = {}
            self._bindings: dict[int, list[tuple[int, int]]] = {}  # extra bindings by activity
            self._bound: dict[tuple[int, int], list[int]] = {}
            self._phones: dict[str, tuple[str, int]] = {}
            self._seed_statuses()

    def _seed_statuses(self) -> None:
        for i, (code, name, sem) in enumerate(DEAL_STAGES):
            self._add_status("DEAL_STAGE", code, name, (i + 1) * 10, sem, category=0, system=True)
        for i, (code, name, sem) in enumerate(LEAD_STATUSES):
            self._add_status("STATUS", code, name, (i + 1) * 10, sem, system=True)
        for i, (code, name) in enumerate(SOURCES):
            self._add_status("SOURCE", code, name, (i + 1) * 10, "", system=True)

    def _add_status(self, entity_id: str, status_id: str, name: str, sort: int, semantics: str = "", *,
                    category: int | None = None, color: str = "", system: bool = False) -> dict:
        row = {"ID": str(self._next_status), "ENTITY_ID": entity_id, "STATUS_ID": status_id, "NAME": name,
               "NAME_INIT": name if system else "", "SORT": str(sort), "SYSTEM": "Y" if system else "N",
               "CATEGORY_ID": None if category is None else str(category), "COLOR": color,
               "SEMANTICS": semantics or None}
        self._next_status += 1
        self.statuses.append(row)
        return row

    # --- legacy entities (contact/company/deal/lead; upper-case fields, string values) ------------

    def add_entity(self, kind: str, fields: dict[str, Any], user_id: int = 1) -> int:
        with self._lock:
            new_id = self._next[kind]
            self._next[kind] = new_id + 1
            now = fields.pop("DATE_CREATE", None) or _now_iso(self.tz)
            row: dict[str, Any] = {"ID": str(new_id)}
            row.update(_entity_defaults(kind, user_id, now))
            self._apply(kind, row, fields)
            self.entities[kind][new_id] = row
            self._ids[kind].append(new_id)
            if kind == "DEAL" and not any(str(k).upper() == "CONTACT_IDS" for k in fields):
                # CONTACT_IDS was linked by _apply; a lone CONTACT_ID is the deal's one contact
                cid = row.get("CONTACT_ID")
                self.deal_contacts[new_id] = [int(cid)] if cid not in (None, "", "0") else []
            self._index_phones(kind, new_id, row)
            return new_id

    def _apply(self, kind: str, row: dict, fields: dict[str, Any]) -> None:
        for key, value in fields.items():
            key = str(key).upper()
            if key in ("PHONE", "EMAIL", "WEB", "IM"):
                items = value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else []
                multi = list(row.get(key) or [])
                for item in items:
                    if isinstance(item, dict) and item.get("VALUE"):
                        multi.append({"ID": str(1000 + len(multi) + int(row["ID"]) * 10),
                                      "VALUE_TYPE": item.get("VALUE_TYPE", "WORK"), "VALUE": str(item["VALUE"]),
                                      "TYPE_ID": key})
                row[key] = multi
                row["HAS_" + key] = "Y" if multi else "N"
            elif key == "ID":
                continue
            elif key == "CONTACT_IDS" and kind == "DEAL":
                values = value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) \
                    else [value]
                ids = list(dict.fromkeys(int(v) for v in values if str(v).isdigit()))
                self.deal_contacts[int(row["ID"])] = ids
                row["CONTACT_ID"] = str(ids[0]) if ids else None
            else:
                row[key] = None if value is None else value if isinstance(value, (list, dict)) else str(value)
        if kind == "DEAL":
            cat = int(row.get("CATEGORY_ID") or 0)
            stage = row.get("STAGE_ID") or ""
            if not stage or (cat and not stage.startswith(f"C{cat}:")):
                row["STAGE_ID"] = f"C{cat}:NEW" if cat else "NEW"
            code = row["STAGE_ID"].split(":")[-1]
            row["STAGE_SEMANTIC_ID"] = "S" if code == "WON" else "F" if code == "LOSE" else "P"
            row["CLOSED"] = "Y" if code in ("WON", "LOSE") else "N"

    def update_entity(self, kind: str, entity_id: int, fields: dict[str, Any], user_id: int | None = None) -> bool:
        with self._lock:
            row = self.entities[kind].get(entity_id)
            if row is None:
                return False
            self._apply(kind, row, dict(fields))
            row["DATE_MODIFY"] = _now_iso(self.tz)
            if user_id is not None:
                row["MODIFY_BY_ID"] = str(user_id)
            if kind == "DEAL" and "CONTACT_ID" in {str(k).upper() for k in fields}:
                cid = row.get("CONTACT_ID")
                self.deal_contacts[entity_id] = [int(cid)] if cid not in (None, "", "0") else []
            self._index_phones(kind, entity_id, row)
            return True

    def delete_entity(self, kind: str, entity_id: int) -> bool:
        with self._lock:
            if self.entities[kind].pop(entity_id, None) is None:
                return False
            ids = self._ids[kind]
            at = bisect.bisect_left(ids, entity_id)
            if at < len(ids) and ids[at] == entity_id:
                del ids[at]
            if kind == "DEAL":
                self.deal_contacts.pop(entity_id, None)
            return True

    def ordered_ids(self, kind: str, lo: int | None = None, hi: int | None = None) -> list[int]:
        """IDs of `kind` in [lo, hi) ascending, found by bisection (no scan of the table)."""
        with self._lock:
            ids = self._ids[kind]
            a = 0 if lo is None else bisect.bisect_left(ids, lo)
            b = len(ids) if hi is None else bisect.bisect_left(ids, hi)
            return ids[a:b] if a < b else []

    def row_ref(self, kind: str, entity_id: int) -> dict | None:
        """The stored row itself, for read-only listing without a copy."""
        return self.entities[kind].get(entity_id)

    def count_update(self, kind: str, entity_id: int) -> None:
        with self._lock:
            counts = self.update_counts.setdefault(kind, {})
            counts[entity_id] = counts.get(entity_id, 0) + 1

    def update_stats(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {f"{kind.lower()}_updates": {str(k): v for k, v in sorted(counts.items())}
                    for kind, counts in self.update_counts.items()}

    def reset_update_stats(self) -> None:
        with self._lock:
            self.update_counts = {"CONTACT": {}, "COMPANY": {}, "DEAL": {}}

    def deal_contact_ids(self, deal_id: int) -> list[int] | None:
        with self._lock:
            if deal_id not in self.entities["DEAL"]:
                return None
            return list(self.deal_contacts.get(deal_id, []))

    def set_deal_contacts(self, deal_id: int, contact_ids: list[int]) -> bool:
        """Replace a deal's contacts (first = primary, shown as CONTACT_ID). The crm.deal.contact.* binding
        methods go to the binding table only: the deal's DATE_MODIFY stays and no deal event is sent."""
        with self._lock:
            row = self.entities["DEAL"].get(deal_id)
            if row is None:
                return False
            ids = list(dict.fromkeys(int(c) for c in contact_ids))
            self.deal_contacts[deal_id] = ids
            row["CONTACT_ID"] = str(ids[0]) if ids else None
            return True

    def entity(self, kind: str, entity_id: int) -> dict | None:
        with self._lock:
            row = self.entities[kind].get(entity_id)
            return dict(row) if row else None

    def entity_rows(self, kind: str) -> list[dict]:
        with self._lock:
            return list(self.entities[kind].values())

    def _index_phones(self, kind: str, entity_id: int, row: dict) -> None:
        if kind == "DEAL":
            return
        rank = {"CONTACT": 0, "COMPANY": 1, "LEAD": 2}
        for item in row.get("PHONE") or []:
            key = phone_key(item.get("VALUE"))
            have = self._phones.get(key)
            if key and (have is None or rank[have[0]] > rank[kind]):
                self._phones[key] = (kind, entity_id)

    def find_by_phone(self, phone: str) -> tuple[str, int] | None:
        """(CONTACT|COMPANY|LEAD, id) of the client with this number; contacts win over companies, leads."""
        with self._lock:
            return self._phones.get(phone_key(phone))

    def client_name(self, entity_type: str | int, entity_id: int) -> str:
        kind = ENTITY_TYPE_NAMES.get(entity_type, entity_type) if isinstance(entity_type, int) else \
            str(entity_type).upper()
        row = self.entities.get(kind, {}).get(int(entity_id)) if kind in self.entities else None
        if row is None:
            return ""
        if kind in ("CONTACT", "LEAD") and (row.get("NAME") or row.get("LAST_NAME")):
            return " ".join(p for p in (row.get("NAME"), row.get("LAST_NAME")) if p)
        return row.get("TITLE") or ""

    def responsible_of(self, entity_type: str | int, entity_id: int) -> int | None:
        kind = ENTITY_TYPE_NAMES.get(entity_type, entity_type) if isinstance(entity_type, int) else \
            str(entity_type).upper()
        if kind in self.entities:
            row = self.entities[kind].get(int(entity_id))
            return int(row["ASSIGNED_BY_ID"]) if row and row.get("ASSIGNED_BY_ID") else None
        item = self.item(int(entity_type), int(entity_id)) if str(entity_type).isdigit() else None
        return item.get("assignedById") if item else None

    # --- smart-process types ------------------------------------------------------------------------

    def add_type(self, fields: dict[str, Any], user_id: int = 1) -> dict:
        with self._lock:
            etid = fields.get("entityTypeId")
            if etid in (None, "", 0, "0"):
                used = {t["entityTypeId"] for t in self.types.values()}
                etid = 1030
                while etid in used:
                    etid += 2
            etid = int(etid)
            if not (128 <= etid <= 192 or (etid >= 1030 and etid % 2 == 0)):
                raise ValueError("entityTypeId is out of allowed range")
            if any(t["entityTypeId"] == etid for t in self.types.values()):
                raise KeyError("entityTypeId is already used")
            type_id = self._next_type_id
            self._next_type_id += 1
            now = _now_iso(self.tz)
            row: dict[str, Any] = {"id": type_id, "title": str(fields.get("title") or ""), "code": "",
                                   "createdBy": user_id, "entityTypeId": etid, "customSectionId": None}
            for flag in TYPE_FLAGS:
                row[flag] = "Y" if flag == "isSetOpenPermissions" else "N"
            self._set_type_fields(row, fields)
            row.update({"createdTime": now, "updatedTime": now, "updatedBy": user_id,
                        "relations": fields.get("relations") or {"parent": [], "child": []},
                        "linkedUserFields": fields.get("linkedUserFields") or {}, "customSections": []})
            self.types[type_id] = row
            self._items[etid] = {}
            self._next_item[etid] = 1
            self._add_category(etid, "Общая", 500, True)
            return dict(row)

    @staticmethod
    def _set_type_fields(row: dict, fields: dict[str, Any]) -> None:
        for flag in TYPE_FLAGS:
            if flag in fields:
                value = fields[flag]
                row[flag] = "Y" if str(value).upper() in ("Y", "1", "TRUE") or value is True else "N"
        if "title" in fields:
            row["title"] = str(fields["title"])
        for key in ("relations", "linkedUserFields"):
            if key in fields and isinstance(fields[key], dict):
                row[key] = fields[key]

    def update_type(self, type_id: int, fields: dict[str, Any], user_id: int = 1) -> dict | None:
        with self._lock:
            row = self.types.get(type_id)
            if row is None:
                return None
            self._set_type_fields(row, fields)
            row["updatedTime"], row["updatedBy"] = _now_iso(self.tz), user_id
            return dict(row)

    def delete_type(self, type_id: int) -> bool:
        with self._lock:
            row = self.types.pop(type_id, None)
            if row is None:
                return False
            etid = row["entityTypeId"]
            self._items.pop(etid, None)
            cats = [c for c, v in self.categories.items() if v["entityTypeId"] == etid]
            for c in cats:
                self.categories.pop(c)
            self.statuses = [s for s in self.statuses if not s["ENTITY_ID"].startswith(f"DYNAMIC_{etid}_")]
            return True

    def spa_types(self) -> list[dict]:
        with self._lock:
            return [dict(t) for t in sorted(self.types.values(), key=lambda t: t["id"])]

    def type_by_entity(self, entity_type_id: int) -> dict | None:
        with self._lock:
            for t in self.types.values():
                if t["entityTypeId"] == entity_type_id:
                    return t
            return None

    def type_by_id(self, type_id: int) -> dict | None:
        with self._lock:
            t = self.types.get(type_id)
            return dict(t) if t else None

    # --- categories and stages -----------------------------------------------------------------------

    def _add_category(self, etid: int, name: str, sort: int = 500, default: bool = False) -> dict:
        cid = self._next_category
        self._next_category += 1
        cat = {"id": cid, "name": name, "sort": sort, "entityTypeId": etid, "isDefault": "Y" if default else "N",
               "originId": "", "originatorId": ""}
        self.categories[cid] = cat
        for i, (code, title, sem, color) in enumerate(DEFAULT_SPA_STAGES):
            self._add_status(f"DYNAMIC_{etid}_STAGE_{cid}", f"DT{etid}_{cid}:{code}", title, (i + 1) * 10, sem,
                             category=cid, color=color, system=code in ("NEW", "SUCCESS", "FAIL"))
        return cat

    def add_category(self, etid: int, name: str, sort: int = 500, default: bool = False) -> dict:
        with self._lock:
            if default:
                for c in self.categories.values():
                    if c["entityTypeId"] == etid:
                        c["isDefault"] = "N"
            return dict(self._add_category(etid, name, sort, default))

    def categories_of(self, etid: int) -> list[dict]:
        with self._lock:
            return [dict(c) for c in sorted(self.categories.values(), key=lambda c: (c["sort"], c["id"]))
                    if c["entityTypeId"] == etid]

    def default_category(self, etid: int) -> int | None:
        for c in self.categories_of(etid):
            if c["isDefault"] == "Y":
                return c["id"]
        cats = self.categories_of(etid)
        return cats[0]["id"] if cats else None

    def add_deal_category(self, name: str, sort: int = 500) -> int:
        with self._lock:
            cid = max(self.deal_categories) + 1
            self.deal_categories[cid] = {"ID": str(cid), "NAME": name, "SORT": str(sort), "IS_LOCKED": "N",
                                         "CREATED_DATE": datetime.now(self.tz).strftime("%Y-%m-%d")}
            for i, (code, title, sem) in enumerate(DEAL_STAGES):
                self._add_status(f"DEAL_STAGE_{cid}", f"C{cid}:{code}", title, (i + 1) * 10, sem, category=cid,
                                 system=True)
            return cid

    def stages(self, entity_type_id: int, category_id: int | None = None) -> list[dict]:
        """Stages of a pipeline as crm.status rows, in SORT order (deals: entity type 2)."""
        with self._lock:
            if entity_type_id == 2:
                cat = category_id or 0
                prefix = "DEAL_STAGE" if cat == 0 else f"DEAL_STAGE_{cat}"
                rows = [s for s in self.statuses if s["ENTITY_ID"] == prefix]
            elif entity_type_id == 1:
                rows = [s for s in self.statuses if s["ENTITY_ID"] == "STATUS"]
            else:
                cat = category_id if category_id is not None else self.default_category(entity_type_id)
                rows = [s for s in self.statuses if s["ENTITY_ID"] == f"DYNAMIC_{entity_type_id}_STAGE_{cat}"]
            return [dict(r) for r in sorted(rows, key=lambda r: (int(r["SORT"]), int(r["ID"])))]

    def status_rows(self) -> list[dict]:
        with self._lock:
            return [dict(s) for s in self.statuses]

    def add_status(self, fields: dict[str, Any]) -> int:
        with self._lock:
            entity_id = str(fields.get("ENTITY_ID") or "")
            status_id = str(fields.get("STATUS_ID") or "")
            m = re.match(r"^DYNAMIC_(\d+)_STAGE_(\d+)$", entity_id)
            category = None
            if m:
                prefix = f"DT{m.group(1)}_{m.group(2)}:"
                category = int(m.group(2))
                if not status_id.startswith(prefix):
                    status_id = prefix + status_id
            if any(s["ENTITY_ID"] == entity_id and s["STATUS_ID"] == status_id for s in self.statuses):
                raise KeyError("Status already exists")
            row = self._add_status(entity_id, status_id, str(fields.get("NAME") or ""),
                                   int(fields.get("SORT") or 10), str(fields.get("SEMANTICS") or ""),
                                   category=category, color=str(fields.get("COLOR") or ""))
            return int(row["ID"])

    def update_status(self, status_row_id: int, fields: dict[str, Any]) -> bool:
        with self._lock:
            for s in self.statuses:
                if s["ID"] == str(status_row_id):
                    for key in ("NAME", "SORT", "COLOR", "SEMANTICS"):
                        if key in fields:
                            s[key] = str(fields[key]) if fields[key] is not None else None
                    return True
            return False

    def delete_status(self, status_row_id: int) -> bool:
        with self._lock:
            before = len(self.statuses)
            self.statuses = [s for s in self.statuses if s["ID"] != str(status_row_id)]
            return len(self.statuses) < before

    # --- user fields --------------------------------------------------------------------------------

    def add_userfield(self, field: dict[str, Any]) -> dict:
        with self._lock:
            name = str(field.get("fieldName") or "").upper()
            if any(u["fieldName"] == name and u["entityId"] == field.get("entityId") for u in self.userfields.values()):
                raise KeyError("A field with this name already exists")
            uf_id = self._next_uf
            self._next_uf += 1
            row = {"id": str(uf_id), "entityId": str(field.get("entityId")), "fieldName": name,
                   "userTypeId": str(field.get("userTypeId")), "xmlId": field.get("xmlId"),
                   "sort": str(field.get("sort") or 100), "multiple": _yn(field.get("multiple")),
                   "mandatory": _yn(field.get("mandatory")), "showFilter": _yn(field.get("showFilter")),
                   "showInList": "Y", "editInList": _yn(field.get("editInList", "Y")),
                   "isSearchable": _yn(field.get("isSearchable")),
                   "settings": field.get("settings") if isinstance(field.get("settings"), dict) else {},
                   "languageId": {"en": "en", "ru": "ru"},
                   "editFormLabel": _labels(field.get("editFormLabel")),
                   "listColumnLabel": {"en": None, "ru": None}, "listFilterLabel": {"en": None, "ru": None},
                   "errorMessage": {"en": None, "ru": None}, "helpMessage": _labels(field.get("helpMessage"))}
            if row["userTypeId"] == "enumeration":
                row["enum"] = self._enums(uf_id, field.get("enum"))
            self.userfields[uf_id] = row
            return _copy(row)

    def _enums(self, uf_id: int, items: Any) -> list[dict]:
        out = []
        values = items if isinstance(items, list) else list(items.values()) if isinstance(items, dict) else []
        for i, item in enumerate(values):
            if not isinstance(item, dict):
                item = {"value": item}
            out.append({"id": str(self._next_enum), "userFieldId": str(uf_id), "value": str(item.get("value", "")),
                        "def": _yn(item.get("def")), "sort": str(item.get("sort") or (i + 1) * 100),
                        "xmlId": str(item.get("xmlId") or f"{uf_id:x}{self._next_enum:x}")})
            self._next_enum += 1
        return out

    def update_userfield(self, uf_id: int, field: dict[str, Any]) -> dict | None:
        with self._lock:
            row = self.userfields.get(uf_id)
            if row is None:
                return None
            for key in ("xmlId", "sort", "multiple", "mandatory", "showFilter", "editInList", "isSearchable"):
                if key in field:
                    row[key] = _yn(field[key]) if key not in ("xmlId", "sort") else field[key]
            if isinstance(field.get("settings"), dict):
                row["settings"] = field["settings"]
            for key in ("editFormLabel", "helpMessage"):
                if key in field:
                    row[key] = _labels(field[key])
            if "enum" in field and row["userTypeId"] == "enumeration":
                row["enum"] = self._enums(uf_id, field["enum"])
            return _copy(row)

    def delete_userfield(self, uf_id: int) -> bool:
        with self._lock:
            return self.userfields.pop(uf_id, None) is not None

    def userfield_rows(self) -> list[dict]:
        with self._lock:
            return [_copy(u) for u in sorted(self.userfields.values(), key=lambda u: int(u["id"]))]

    def userfields_of(self, entity_type_id: int) -> list[dict]:
        t = self.type_by_entity(entity_type_id)
        if t is None:
            return []
        return [u for u in self.userfield_rows() if u["entityId"] == f"CRM_{t['id']}"]

    # --- smart-process items ----------------------------------------------------------------------------

    def add_item(self, etid: int, fields: dict[str, Any], user_id: int = 1) -> dict:
        with self._lock:
            t = self.type_by_entity(etid)
            if t is None:
                raise LookupError("type")
            item_id = self._next_item[etid]
            self._next_item[etid] = item_id + 1
            now = _now_iso(self.tz)
            item = self._blank_item(t, item_id, user_id, now)
            self._set_item(t, item, fields, user_id)
            if not item.get("stageId") and t["isStagesEnabled"] == "Y":
                stages = self.stages(etid, item["categoryId"])
                item["stageId"] = stages[0]["STATUS_ID"] if stages else None
            self._items[etid][item_id] = item
            return _copy(item)

    def _blank_item(self, t: dict, item_id: int, user_id: int, now: str) -> dict:
        etid = t["entityTypeId"]
        item: dict[str, Any] = {
            "id": item_id, "xmlId": "", "title": f"{t['title']} #{item_id}", "createdBy": user_id,
            "updatedBy": user_id, "movedBy": user_id, "createdTime": now, "updatedTime": now, "movedTime": now,
            "categoryId": self.default_category(etid), "opened": "Y", "stageId": None, "previousStageId": None,
            "begindate": now if t["isBeginCloseDatesEnabled"] == "Y" else None,
            "closedate": None, "companyId": None, "contactId": None, "contactIds": [],
            "opportunity": 0, "isManualOpportunity": "N", "taxValue": 0, "currencyId": "RUB",
            "mycompanyId": None, "sourceId": None, "sourceDescription": None, "webformId": None,
            "assignedById": user_id, "lastActivityBy": user_id, "lastActivityTime": now, "observers": [],
            "entityTypeId": etid,
        }
        for uf in self.userfields_of(etid):
            item[uf_camel(uf["fieldName"])] = [] if uf["multiple"] == "Y" else None
        return item

    def _set_item(self, t: dict, item: dict, fields: dict[str, Any], user_id: int) -> bool:
        ufs = {uf_camel(u["fieldName"]): u for u in self.userfields_of(t["entityTypeId"])}
        ufs_upper = {u["fieldName"]: uf_camel(u["fieldName"]) for u in ufs.values()}
        changed = False
        for key, value in fields.items():
            key = ufs_upper.get(str(key).upper(), key) if str(key).upper().startswith("UF_") else key
            if key in ufs:
                value = _uf_value(ufs[key], value)
            elif key in ("title", "xmlId", "sourceId", "sourceDescription", "currencyId", "begindate", "closedate",
                         "opened", "isManualOpportunity"):
                value = None if value is None else str(value)
            elif key in ("assignedById", "companyId", "contactId", "mycompanyId", "categoryId", "webformId"):
                value = int(value) if str(value).lstrip("-").isdigit() else None
            elif key in ("opportunity", "taxValue"):
                value = _float(value)
            elif key == "stageId":
                value = str(value)
            elif key in ("contactIds", "observers"):
                value = [int(v) for v in (value if isinstance(value, list) else [value]) if str(v).isdigit()]
            else:
                continue  # unknown fields are ignored
            if key in ("companyId", "contactId", "contactIds") and t["isClientEnabled"] != "Y":
                continue
            if item.get(key) != value:
                changed = True
                if key == "stageId":
                    item["previousStageId"] = item.get("stageId")
                    item["movedBy"], item["movedTime"] = user_id, _now_iso(self.tz)
                item[key] = value
        if "contactIds" in fields and item.get("contactIds"):
            item["contactId"] = item["contactIds"][0]
        elif "contactId" in fields and item.get("contactId") and item["contactId"] not in item["contactIds"]:
            item["contactIds"] = [item["contactId"], *item["contactIds"]]
        if "categoryId" in fields and "stageId" not in fields and t["isStagesEnabled"] == "Y":
            stages = self.stages(t["entityTypeId"], item["categoryId"])
            item["stageId"] = stages[0]["STATUS_ID"] if stages else None
        return changed

    def update_item(self, etid: int, item_id: int, fields: dict[str, Any], user_id: int = 1) -> dict | None:
        with self._lock:
            t = self.type_by_entity(etid)
            item = self._items.get(etid, {}).get(item_id)
            if t is None or item is None:
                return None
            if self._set_item(t, item, fields, user_id):
                item["updatedTime"], item["updatedBy"] = _now_iso(self.tz), user_id
            return _copy(item)

    def delete_item(self, etid: int, item_id: int) -> bool:
        with self._lock:
            return self._items.get(etid, {}).pop(item_id, None) is not None

    def items(self, entity_type_id: int) -> list[dict]:
        """Every item of a smart process (camelCase REST shape), in ID order."""
        return sorted(self.items_list(entity_type_id), key=lambda i: i["id"])

    def items_list(self, etid: int) -> list[dict]:
        with self._lock:
            t = self.type_by_entity(etid)
            if t is None:
                return []
            fields = self.userfields_of(etid)
            out = []
            for item in self._items.get(etid, {}).values():
                row = _copy(item)
                for uf in fields:  # a field added after the item shows as empty
                    row.setdefault(uf_camel(uf["fieldName"]), [] if uf["multiple"] == "Y" else None)
                out.append(row)
            return out

    def item(self, entity_type_id: int, item_id: int) -> dict | None:
        with self._lock:
            item = self._items.get(entity_type_id, {}).get(item_id)
            if item is None:
                return None
            row = _copy(item)
            for uf in self.userfields_of(entity_type_id):
                row.setdefault(uf_camel(uf["fieldName"]), [] if uf["multiple"] == "Y" else None)
            return row

    # --- activities -------------------------------------------------------------------------------------

    def add_call_activity(self, call: dict) -> int:
        """A call activity from a statistics row dict (CALL_ID, CALL_TYPE, PHONE_NUMBER, PORTAL_USER_ID,
        CALL_START_DATE, CALL_DURATION, CALL_FAILED_CODE, CRM_ENTITY_TYPE/ID, RECORD_FILE_ID, CALL_VOTE)."""
        from .calldata import parse_datetime
        entity = call.get("CRM_ENTITY_TYPE")
        entity_id = call.get("CRM_ENTITY_ID")
        if not entity or not entity_id:
            found = self.find_by_phone(call.get("PHONE_NUMBER") or "")
            entity, entity_id = found if found else ("", 0)
        owner_type = ENTITY_TYPE_IDS.get(str(entity).upper(), 0)
        start = parse_datetime(call.get("CALL_START_DATE"), self.tz) or time.time()
        duration = int(call.get("CALL_DURATION") or 0)
        call_type = int(call.get("CALL_TYPE") or call.get("INCOMING") or 1)
        direction = 2 if call_type in (1, 4, 5) else 1
        missed = str(call.get("CALL_FAILED_CODE") or "200") == "304"
        vote = call.get("CALL_VOTE")
        file_id = call.get("RECORD_FILE_ID")
        name = self.client_name(str(entity), int(entity_id or 0)) if entity else ""
        subject = ("Исходящий звонок" if direction == 2 else "Пропущенный звонок" if missed else "Входящий звонок")
        subject += f" {name}" if name else f" {call.get('PHONE_NUMBER') or ''}"
        compact = (0, owner_type, int(entity_id or 0), int(call.get("PORTAL_USER_ID") or 1), direction, start,
                   start + duration, str(call.get("CALL_ID") or ""), str(call.get("PHONE_NUMBER") or ""), missed,
                   int(vote) if str(vote or "").isdigit() else 0, int(file_id) if file_id else 0, subject.strip())
        return self.add_compact_activities([compact])[0]

    def add_compact_activities(self, rows: list[tuple]) -> list[int]:
        """Bulk insert of compact call activities (the demo generator); the id slot is assigned here."""
        ids = []
        with self._lock:
            acts, by_owner, by_origin = self._acts, self._by_owner, self._by_origin
            nxt = self._next_act
            for row in rows:
                act_id = nxt
                nxt += 1
                row = (act_id,) + tuple(row[1:])
                acts[act_id] = row
                by_owner.setdefault((row[_A_OT], row[_A_OI]), []).append(act_id)
                by_origin["VI_" + row[_A_CALL]] = act_id
                ids.append(act_id)
            self._next_act = nxt
        return ids

    def reserve_activity_ids(self, n: int) -> int:
        """First of `n` consecutive activity ids (the demo writes rows that name them before the activities)."""
        with self._lock:
            first = self._next_act
            return first

    def attach_record(self, activity_id: int, file_id: int) -> bool:
        with self._lock:
            act = self._acts.get(activity_id)
            if act is None:
                return False
            if isinstance(act, tuple):
                act = self._materialise(act)
                self._acts[activity_id] = act
            ids = act.setdefault("STORAGE_ELEMENT_IDS", [])
            if int(file_id) not in ids:
                ids.append(int(file_id))
            return True

    def activity(self, activity_id: int) -> dict | None:
        with self._lock:
            act = self._acts.get(activity_id)
            if act is None:
                return None
            return _copy(self._materialise(act) if isinstance(act, tuple) else act)

    def activity_ids(self) -> list[int]:
        with self._lock:
            return sorted(self._acts)

    def activity_by_origin(self, origin_id: str) -> int | None:
        with self._lock:
            return self._by_origin.get(origin_id)

    def activities_for(self, owner_type_id: int, owner_id: int) -> list[dict]:
        with self._lock:
            ids = list(self._by_owner.get((int(owner_type_id), int(owner_id)), []))
        return [a for a in (self.activity(i) for i in ids) if a]

    def add_binding(self, activity_id: int, entity_type_id: int, entity_id: int) -> bool:
        with self._lock:
            if activity_id not in self._acts:
                raise LookupError("activity")
            pairs = self._bindings.setdefault(activity_id, [])
            pair = (int(entity_type_id), int(entity_id))
            act = self.activity(activity_id)
            if pair in pairs or (act and (int(act["OWNER_TYPE_ID"]), int(act["OWNER_ID"])) == pair):
                return False
            pairs.append(pair)
            self._bound.setdefault(pair, []).append(activity_id)
            return True

    def delete_binding(self, activity_id: int, entity_type_id: int, entity_id: int) -> bool:
        with self._lock:
            pair = (int(entity_type_id), int(entity_id))
            pairs = self._bindings.get(activity_id, [])
            if pair not in pairs:
                return False
            pairs.remove(pair)
            self._bound.get(pair, []).remove(activity_id)
            return True

    def bindings(self, activity_id: int) -> list[dict]:
        act = self.activity(activity_id)
        if act is None:
            return []
        out = []
        if act["OWNER_TYPE_ID"] not in (None, "0"):
            out.append({"entityTypeId": int(act["OWNER_TYPE_ID"]), "entityId": int(act["OWNER_ID"])})
        with self._lock:
            out += [{"entityTypeId": t, "entityId": i} for t, i in self._bindings.get(activity_id, [])]
        return out

    def bound_activities(self, entity_type_id: int, item_id: int) -> list[dict]:
        with self._lock:
            ids = list(self._bound.get((int(entity_type_id), int(item_id)), []))
        return [a for a in (self.activity(i) for i in ids) if a]

    def _materialise(self, a: tuple) -> dict:
        tz = self.tz
        start, end = iso(a[_A_START], tz), iso(a[_A_END], tz)
        settings: Any = {"MISSED_CALL": True} if a[_A_MISSED] else []
        comm_type = ENTITY_TYPE_NAMES.get(a[_A_OT], "")
        return {
            "ID": str(a[_A_ID]), "OWNER_ID": str(a[_A_OI]), "OWNER_TYPE_ID": str(a[_A_OT]), "TYPE_ID": "2",
            "PROVIDER_ID": "VOXIMPLANT_CALL", "PROVIDER_TYPE_ID": "CALL", "PROVIDER_GROUP_ID": None,
            "ASSOCIATED_ENTITY_ID": "0", "SUBJECT": a[_A_SUBJ], "CREATED": end, "LAST_UPDATED": end,
            "START_TIME": start, "END_TIME": end, "DEADLINE": start, "COMPLETED": "N" if a[_A_MISSED] else "Y",
            "STATUS": "1" if a[_A_MISSED] else "2", "RESPONSIBLE_ID": str(a[_A_RESP]), "PRIORITY": "2",
            "NOTIFY_TYPE": "1", "NOTIFY_VALUE": "15", "DESCRIPTION": "", "DESCRIPTION_TYPE": "1",
            "DIRECTION": str(a[_A_DIR]), "LOCATION": "", "SETTINGS": settings, "ORIGINATOR_ID": None,
            "ORIGIN_ID": "VI_" + a[_A_CALL], "AUTHOR_ID": str(a[_A_RESP]), "EDITOR_ID": str(a[_A_RESP]),
            "PROVIDER_PARAMS": [], "PROVIDER_DATA": None, "RESULT_MARK": str(a[_A_VOTE]), "RESULT_VALUE": None,
            "RESULT_SUM": None, "RESULT_CURRENCY_ID": None, "RESULT_STATUS": "0", "RESULT_STREAM": "0",
            "RESULT_SOURCE_ID": None, "AUTOCOMPLETE_RULE": "0",
            "STORAGE_ELEMENT_IDS": [a[_A_FILE]] if a[_A_FILE] else [],
            "COMMUNICATIONS": [{"ID": str(a[_A_ID] * 2), "TYPE": "PHONE", "VALUE": a[_A_PHONE],
                                "ENTITY_ID": str(a[_A_OI]), "ENTITY_TYPE_ID": str(a[_A_OT]),
                                "ENTITY_TYPE": comm_type}],
        }

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"contacts": len(self.entities["CONTACT"]), "companies": len(self.entities["COMPANY"]),
                    "deals": len(self.entities["DEAL"]), "leads": len(self.entities["LEAD"]),
                    "types": len(self.types), "activities": len(self._acts)}


def _entity_defaults(kind: str, user_id: int, now: str) -> dict[str, Any]:
    common = {"ASSIGNED_BY_ID": str(user_id), "CREATED_BY_ID": str(user_id), "MODIFY_BY_ID": str(user_id),
              "DATE_CREATE": now, "DATE_MODIFY": now, "OPENED": "Y", "SOURCE_ID": None, "COMMENTS": None}
    if kind == "CONTACT":
        return {"NAME": "", "SECOND_NAME": None, "LAST_NAME": "", "POST": None, "TYPE_ID": "CLIENT",
                "COMPANY_ID": None, "HAS_PHONE": "N", "HAS_EMAIL": "N", **common}
    if kind == "COMPANY":
        return {"TITLE": "", "COMPANY_TYPE": "CUSTOMER", "INDUSTRY": None, "HAS_PHONE": "N", "HAS_EMAIL": "N",
                **common}
    if kind == "LEAD":
        return {"TITLE": "", "NAME": "", "LAST_NAME": "", "STATUS_ID": "NEW", "STATUS_SEMANTIC_ID": "P",
                "OPPORTUNITY": "0.00", "CURRENCY_ID": "RUB", "HAS_PHONE": "N", "HAS_EMAIL": "N",
                "CONTACT_ID": None, "COMPANY_ID": None, **common}
    return {"TITLE": "", "TYPE_ID": "SALE", "CATEGORY_ID": "0", "STAGE_ID": "NEW", "STAGE_SEMANTIC_ID": "P",
            "OPPORTUNITY": "0.00", "CURRENCY_ID": "RUB", "CONTACT_ID": None, "COMPANY_ID": None,
            "BEGINDATE": now, "CLOSEDATE": None, "CLOSED": "N", "IS_NEW": "Y", **common}


def _uf_value(uf: dict, value: Any) -> Any:
    kind = uf["userTypeId"]
    if uf["multiple"] == "Y":
        values = value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else \
            [] if value in (None, "") else [value]
        return [_uf_scalar(kind, v) for v in values]
    return _uf_scalar(kind, value[0] if isinstance(value, list) and value else value)


def _uf_scalar(kind: str, value: Any) -> Any:
    if value in (None, "", []):
        return None
    if kind in ("integer", "employee", "enumeration"):
        try:
            return int(float(value))
        except (TypeError, ValueError):
            return None
    if kind == "double":
        return _float(value)
    if kind == "boolean":
        return "Y" if str(value).upper() in ("Y", "1", "TRUE") or value is True else "N"
    return str(value)


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _yn(value: Any) -> str:
    return "Y" if value is True or str(value).upper() in ("Y", "1", "TRUE") else "N"


def _labels(value: Any) -> dict:
    if isinstance(value, dict):
        return {**{"en": None, "ru": None}, **{str(k): v for k, v in value.items()}}
    if value:
        return {"en": str(value), "ru": str(value)}
    return {"en": None, "ru": None}


def _copy(row: dict) -> dict:
    return {k: (list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v) for k, v in row.items()}
