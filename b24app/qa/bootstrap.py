"""Create (or repair) the «Оценка качества звонков» smart process: type, stages, fields, detail tab.

Idempotent: every run looks at what the portal has and adds only what is missing; a type the
user deleted is created again; a type with our title that we lost track of is adopted, not doubled.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from ..bitrix.client import BitrixClient
from ..extensions import db
from ..models_base import utcnow
from ..portals.lifecycle import extra_placements
from ..portals.models import Portal
from .models import QaSetup

log = logging.getLogger(__name__)

TITLE = "Оценка качества звонков"
# key → (postfix, userTypeId, label ru, label en, extra)
FIELDS = {
    "manager": ("CQ_MANAGER", "employee", "Менеджер", "Manager", {}),
    "call_date": ("CQ_CALL_DATE", "datetime", "Дата звонка", "Call date", {}),
    "direction": ("CQ_DIRECTION", "string", "Направление", "Direction", {}),
    "duration": ("CQ_DURATION", "integer", "Длительность, с", "Duration, s", {}),
    "phone": ("CQ_PHONE", "string", "Телефон клиента", "Client phone", {}),
    "topic": ("CQ_TOPIC", "string", "Тема звонка", "Call topic", {}),
    "checklist": ("CQ_CHECKLIST", "string", "Чек-лист", "Checklist", {}),
    "score": ("CQ_SCORE", "double", "Оценка, %", "Score, %", {}),
    "reviewer": ("CQ_REVIEWER", "employee", "Контролёр", "Reviewer", {}),
    "comment": ("CQ_COMMENT", "string", "Комментарий контролёра", "Reviewer comment", {"settings": {"ROWS": 4}}),
    "discuss": ("CQ_DISCUSS", "boolean", "Разобрать на планёрке", "Discuss at the team meeting", {}),
    "call_id": ("CQ_CALL_ID", "string", "ID звонка", "Call ID", {}),
}
# key → (NAME ru, SEMANTICS, SORT); the default pipeline's NEW/SUCCESS/FAIL system stages are renamed
STAGES = {
    "review": ("Оценить", "", 10),
    "done": ("Оценено", "S", 100),
    "short": ("Короткий звонок", "F", 110),
    "skipped": ("Без оценки", "F", 120),
}


def setup_for(portal_id: int) -> QaSetup | None:
    return db.session.scalar(select(QaSetup).where(QaSetup.portal_id == portal_id))


def _find_type(client: BitrixClient, setup: QaSetup | None) -> dict | None:
    types = client.list_pages("crm.type.list", {}, rows_key="types")
    if setup and setup.type_id:
        for t in types:
            if int(t["id"]) == setup.type_id:
                return t
    for t in types:
        if t.get("title") == TITLE:
            return t
    return None


def ensure(portal: Portal, client: BitrixClient) -> QaSetup:
    setup = setup_for(portal.id) or QaSetup(portal_id=portal.id, stages={}, fields={})
    found = _find_type(client, setup)
    if found is None:
        found = client.call("crm.type.add", {"fields": {
            "title": TITLE, "isStagesEnabled": "Y", "isClientEnabled": "Y", "isAutomationEnabled": "Y",
            "isBizProcEnabled": "Y", "isObserversEnabled": "Y", "isRecyclebinEnabled": "Y",
            "isSetOpenPermissions": "Y", "isUseInUserfieldEnabled": "N", "isCategoriesEnabled": "N",
        }}).result["type"]
        log.info("portal=%s created QA smart process %s", portal.member_id, found.get("entityTypeId"))
        setup.stages, setup.fields = {}, {}
    setup.type_id, setup.entity_type_id = int(found["id"]), int(found["entityTypeId"])
    cats = client.call("crm.category.list", {"entityTypeId": setup.entity_type_id}).result or {}
    cats = cats.get("categories", cats) if isinstance(cats, dict) else cats
    default = next((c for c in cats if str(c.get("isDefault")) in ("Y", "true", "True", "1")), cats[0] if cats else None)
    setup.category_id = int(default["id"]) if default else 0
    setup.stages = _ensure_stages(client, setup)
    setup.fields = _ensure_fields(client, setup)
    setup.checked_at = utcnow()
    db.session.add(setup)
    db.session.commit()
    return setup


def _ensure_stages(client: BitrixClient, setup: QaSetup) -> dict:
    entity_id = f"DYNAMIC_{setup.entity_type_id}_STAGE_{setup.category_id}"
    rows = client.list_pages("crm.status.list", {"filter": {"ENTITY_ID": entity_id}})
    by_status = {r["STATUS_ID"]: r for r in rows}
    prefix = f"DT{setup.entity_type_id}_{setup.category_id}:"
    wanted = {"review": prefix + "NEW", "done": prefix + "SUCCESS", "short": prefix + "FAIL",
              "skipped": prefix + "CQ_SKIPPED"}
    cmds: dict = {}
    for key, status_id in wanted.items():
        name, semantics, sort = STAGES[key]
        row = by_status.get(status_id)
        if row is None:
            cmds[f"add_{key}"] = ("crm.status.add", {"fields": {
                "ENTITY_ID": entity_id, "STATUS_ID": status_id.split(":", 1)[1], "NAME": name,
                "SORT": sort, "SEMANTICS": semantics}})
        elif row.get("NAME") != name or str(row.get("SORT")) != str(sort):
            cmds[f"upd_{key}"] = ("crm.status.update", {"id": row["ID"], "fields": {"NAME": name, "SORT": sort}})
    # The default pipeline's intermediate stages mean nothing for a QA card: remove the unused ones.
    for status_id, row in by_status.items():
        if status_id not in wanted.values() and not row.get("SEMANTICS") and row.get("SYSTEM") != "Y":
            cmds[f"del_{row['ID']}"] = ("crm.status.delete", {"id": row["ID"]})
    if cmds:
        client.batch(cmds).raise_first()
    return wanted


def _ensure_fields(client: BitrixClient, setup: QaSetup) -> dict:
    entity = f"CRM_{setup.type_id}"
    have = {f.get("fieldName") for f in client.list_pages("userfieldconfig.list", {
        "moduleId": "crm", "filter": {"entityId": entity}}, rows_key="fields")}
    names = {key: f"UF_CRM_{setup.type_id}_{postfix}" for key, (postfix, *_rest) in FIELDS.items()}
    cmds = {}
    for i, (key, (_postfix, type_id, ru, en, extra)) in enumerate(FIELDS.items()):
        if names[key] in have:
            continue
        cmds[f"f{key}"] = ("userfieldconfig.add", {"moduleId": "crm", "field": {
            "entityId": entity, "fieldName": names[key], "userTypeId": type_id, "sort": 100 + i * 10,
            "multiple": "N", "mandatory": "N", "showFilter": "Y", "isSearchable": "Y",
            "editFormLabel": {"ru": ru, "en": en}, "listColumnLabel": {"ru": ru, "en": en}, **extra}})
    if cmds:
        client.batch(cmds).raise_first()
    return names


def _detail_tab(portal: Portal) -> list[dict]:
    setup = setup_for(portal.id)
    if not setup or not setup.entity_type_id:
        return []
    return [{"placement": f"CRM_DYNAMIC_{setup.entity_type_id}_DETAIL_TAB", "handler": "/b24/qa/card",
             "title": {"ru": "Оценка звонка", "en": "Call scoring"}}]


extra_placements.append(_detail_tab)
