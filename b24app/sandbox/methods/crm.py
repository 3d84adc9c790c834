"""crm.* methods over state.crm: smart-process types, categories, stages (crm.status), items, user
fields (userfieldconfig), call activities and bindings, and contacts/companies/deals/leads."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..calldata import parse_datetime
from ..crm import ENTITY_TYPE_IDS, UF_TYPES, phone_key, uf_camel
from ..dispatch import Call, MethodSpec
from ..envelope import ListResult, RestError, argument_null
from .common import PAGE, page, require_admin, text, upper

_OP = re.compile(r"^(!@|!=%|!%=|!=|!%|=%|%=|>=|<=|><|!><|@|>|<|=|!|%)?(.*)$", re.S)


# --- generic filter / order ----------------------------------------------------------------------------

def _num(v: Any) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _test(op: str, have: Any, want: Any) -> bool:
    haves = have if isinstance(have, list) else [have]
    wants = want if isinstance(want, list) else list(want.values()) if isinstance(want, dict) else [want]
    if op in ("@", "!@"):
        hit = any(_eq(h, w) for h in haves for w in wants)
        return hit if op == "@" else not hit
    if op in ("%", "!%", "=%", "%=", "!=%", "!%="):
        needle = str(wants[0] if wants else "").lower()
        strs = [str(h or "").lower() for h in haves]
        if op in ("=%", "!=%"):
            hit = any(s.startswith(needle.rstrip("%")) for s in strs)
        elif op in ("%=", "!%="):
            hit = any(s.endswith(needle.lstrip("%")) for s in strs)
        else:
            hit = any(needle in s for s in strs)
        return not hit if op.startswith("!") else hit
    if op in (">", ">=", "<", "<="):
        w = wants[0] if wants else None
        for h in haves:
            a, b = _num(h), _num(w)
            if a is None or b is None:
                a, b = str(h or ""), str(w or "")
            if (op == ">" and a > b) or (op == ">=" and a >= b) or (op == "<" and a < b) or (op == "<=" and a <= b):
                return True
        return False
    if op == "><" and len(wants) == 2:
        return _test(">=", have, wants[0]) and _test("<=", have, wants[1])
    hit = any(_eq(h, w) for h in haves for w in wants) if haves else any(w in (None, "", False) for w in wants)
    return not hit if op in ("!", "!=", "!><") else hit


def _eq(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a in (None, "") and b in (None, "", False)
    na, nb = _num(a), _num(b)
    if na is not None and nb is not None:
        return na == nb
    return str(a).lower() == str(b).lower()


def apply_filter(rows: list[dict], flt: Any, key_of=lambda k: k, getter=None) -> list[dict]:
    test = filter_predicate(flt, key_of, getter)
    return rows if test is None else [r for r in rows if test(r)]


def filter_predicate(flt: Any, key_of=lambda k: k, getter=None):
    """The filter as one row → bool test, built once (None when there is nothing to test)."""
    if not isinstance(flt, dict) or not flt:
        return None
    conds = []
    for key, value in flt.items():
        if str(key).upper() == "LOGIC":
            continue
        if isinstance(value, dict) and str(key).isdigit():  # nested sub-filter
            sub = value
            conds.append(lambda r, sub=sub: bool(apply_filter([r], sub, key_of, getter)))
            continue
        op, field = _OP.match(str(key)).groups()
        field = key_of(field)
        get = getter or (lambda r, f: r.get(f))
        conds.append(lambda r, op=op or "=", f=field, v=value, g=get: _test(op, g(r, f), v))
    logic = str(flt.get("logic") or flt.get("LOGIC") or "AND").upper()
    if logic == "OR":
        return lambda r: any(c(r) for c in conds)
    return lambda r: all(c(r) for c in conds)


def apply_order(rows: list[dict], order: Any, key_of=lambda k: k) -> list[dict]:
    if not isinstance(order, dict) or not order:
        return rows
    for field, direction in reversed(list(order.items())):
        f = key_of(str(field))

        def sort_key(r, f=f):
            v = r.get(f)
            n = _num(v)
            return (0, 0.0, "") if v is None else (1, n, "") if n is not None else (2, 0.0, str(v).lower())
        rows = sorted(rows, key=sort_key, reverse=str(direction).upper() == "DESC")
    return rows


def _select(row: dict, select: Any) -> dict:
    if not isinstance(select, list) or not select or "*" in select:
        return row
    keep = set(select) | {"id", "ID"}
    return {k: v for k, v in row.items() if k in keep}


def _int(value: Any, name: str = "id") -> int:
    try:
        return int(float(text(value)))
    except ValueError:
        raise argument_null(name) from None


def _param(p: dict, *names: str) -> Any:
    for n in names:
        if n in p:
            return p[n]
    low = {str(k).lower(): v for k, v in p.items()}
    for n in names:
        if n.lower() in low:
            return low[n.lower()]
    return None


def _start(call: Call) -> int:
    return call.start


def _require_crm_admin(call: Call) -> None:
    require_admin(call)


EVENT_SENDERS = 4  # the portal's event queue posts a few at a time, not one connection per change
_senders: dict[int, ThreadPoolExecutor] = {}
_senders_lock = threading.Lock()


def _sender(state) -> ThreadPoolExecutor:
    with _senders_lock:
        pool = _senders.get(id(state))
        if pool is None:
            pool = _senders[id(state)] = ThreadPoolExecutor(EVENT_SENDERS, thread_name_prefix="sandbox-crm-event")
        return pool


def fire(call: Call, event: str, fields: dict) -> None:
    """ONCRM* events carry IDs only (REST-FACTS §3.4); sent after the answer by a few sender threads, as the
    portal's queue does: a batch of 50 updates is 50 events in a queue, not 50 requests at once."""
    state = call.state
    if not state.event_bindings(event):
        return
    from ..events import deliver

    _sender(state).submit(deliver, state, event, {"FIELDS": fields}, user_id=call.caller.user_id)


def _not_found(what: str = "Element") -> RestError:
    return RestError("NOT_FOUND", f"{what} not found", 400)


# --- crm.type ---------------------------------------------------------------------------------------------

def type_add(call: Call) -> dict:
    _require_crm_admin(call)
    fields = _param(call.params, "fields")
    if not isinstance(fields, dict) or not text(fields.get("title")):
        raise RestError("ERROR_ARGUMENT", "title is required", 400)
    try:
        row = call.state.crm.add_type(fields, call.caller.user_id)
        fire(call, "ONCRMTYPEADD", {"ID": row["id"]})
    except ValueError as exc:
        raise RestError("INVALID_ARG_VALUE", str(exc), 400) from None
    except KeyError:
        raise RestError("INVALID_ARG_VALUE", "entityTypeId is already used", 400) from None
    return {"type": row}


def type_get(call: Call) -> dict:
    row = call.state.crm.type_by_id(_int(_param(call.params, "id")))
    if row is None:
        raise _not_found("Type")
    return {"type": row}


def type_get_by_entity(call: Call) -> dict:
    row = call.state.crm.type_by_entity(_int(_param(call.params, "entityTypeId"), "entityTypeId"))
    if row is None:
        raise _not_found("Type")
    return {"type": dict(row)}


def type_list(call: Call) -> ListResult:
    rows = call.state.crm.spa_types()
    rows = apply_filter(rows, _param(call.params, "filter"))
    rows = apply_order(rows, _param(call.params, "order") or {"id": "ASC"})
    out = page(rows, call.start)
    return ListResult({"types": out.items}, out.total, out.next, out.cost)


def type_update(call: Call) -> dict:
    _require_crm_admin(call)
    fields = _param(call.params, "fields") or {}
    row = call.state.crm.update_type(_int(_param(call.params, "id")), fields if isinstance(fields, dict) else {},
                                     call.caller.user_id)
    if row is None:
        raise _not_found("Type")
    return {"type": row}


def type_delete(call: Call) -> Any:
    _require_crm_admin(call)
    if not call.state.crm.delete_type(_int(_param(call.params, "id"))):
        raise _not_found("Type")
    return None


# --- categories and stages -----------------------------------------------------------------------------

def _etid(call: Call) -> int:
    value = _param(call.params, "entityTypeId")
    if value in (None, ""):
        raise argument_null("entityTypeId")
    etid = _int(value, "entityTypeId")
    if etid not in (1, 2, 3, 4) and call.state.crm.type_by_entity(etid) is None:
        raise RestError("NOT_FOUND", "Smart process not found", 400)
    return etid


def category_list(call: Call) -> ListResult:
    etid = _etid(call)
    if etid == 2:
        rows = [{"id": int(c["ID"]), "name": c["NAME"], "sort": int(c["SORT"]), "entityTypeId": 2,
                 "isDefault": "Y" if c["ID"] == "0" else "N", "originId": "", "originatorId": ""}
                for c in call.state.crm.deal_categories.values()]
    else:
        rows = call.state.crm.categories_of(etid)
    out = page(rows, call.start)
    return ListResult({"categories": out.items}, out.total, out.next, out.cost)


def category_add(call: Call) -> dict:
    etid = _etid(call)
    fields = _param(call.params, "fields") or {}
    if not text(fields.get("name")):
        raise argument_null("name")
    if etid == 2:
        cid = call.state.crm.add_deal_category(str(fields["name"]), int(fields.get("sort") or 500))
        return {"category": {"id": cid, "name": fields["name"], "sort": int(fields.get("sort") or 500),
                             "entityTypeId": 2, "isDefault": "N", "originId": "", "originatorId": ""}}
    cat = call.state.crm.add_category(etid, str(fields["name"]), int(fields.get("sort") or 500),
                                      str(fields.get("isDefault", "N")).upper() == "Y")
    return {"category": cat}


def status_list(call: Call) -> ListResult:
    p = upper(call.params)
    rows = apply_filter(call.state.crm.status_rows(), p.get("FILTER"), str.upper)
    rows = apply_order(rows, p.get("ORDER") or {"SORT": "ASC"}, str.upper)
    return page(rows, call.start)


def status_get(call: Call) -> dict:
    wanted = text(upper(call.params).get("ID"))
    for row in call.state.crm.status_rows():
        if row["ID"] == wanted:
            return row
    raise _not_found("Status")


def status_add(call: Call) -> int:
    _require_crm_admin(call)
    fields = upper(upper(call.params).get("FIELDS") or {})
    for name in ("ENTITY_ID", "STATUS_ID", "NAME"):
        if not text(fields.get(name)):
            raise RestError("ERROR_CORE", f"The field {name} is required.", 400)
    try:
        return call.state.crm.add_status(fields)
    except KeyError as exc:
        raise RestError("ERROR_CORE", str(exc.args[0]), 400) from None


def status_update(call: Call) -> bool:
    _require_crm_admin(call)
    p = upper(call.params)
    if not call.state.crm.update_status(_int(p.get("ID")), upper(p.get("FIELDS") or {})):
        raise _not_found("Status")
    return True


def status_delete(call: Call) -> bool:
    _require_crm_admin(call)
    if not call.state.crm.delete_status(_int(upper(call.params).get("ID"))):
        raise _not_found("Status")
    return True


def status_entity_types(call: Call) -> list:
    crm = call.state.crm
    out = [{"ID": "STATUS", "NAME": "Статусы", "SEMANTIC_INFO": {}, "ENTITY_TYPE_ID": 1},
           {"ID": "SOURCE", "NAME": "Источники"},
           {"ID": "DEAL_STAGE", "NAME": "Стадии сделки", "PREFIX": "", "ENTITY_TYPE_ID": 2,
            "CATEGORY_ID": 0, "IS_DEFAULT_CATEGORY": True}]
    for cid, cat in sorted(crm.deal_categories.items()):
        if cid:
            out.append({"ID": f"DEAL_STAGE_{cid}", "NAME": f"Стадии сделки ({cat['NAME']})", "PREFIX": f"C{cid}",
                        "ENTITY_TYPE_ID": 2, "CATEGORY_ID": cid, "IS_DEFAULT_CATEGORY": False})
    for t in crm.spa_types():
        etid = t["entityTypeId"]
        for cat in crm.categories_of(etid):
            out.append({"ID": f"DYNAMIC_{etid}_STAGE_{cat['id']}", "NAME": f"{t['title']} ({cat['name']})",
                        "PARENT_ID": "", "ENTITY_TYPE_ID": etid, "PREFIX": f"DT{etid}_{cat['id']}",
                        "FIELD_ATTRIBUTE_SCOPE": "", "IS_DEFAULT_CATEGORY": cat["isDefault"] == "Y",
                        "CATEGORY_ID": cat["id"]})
    return out


# --- user fields ---------------------------------------------------------------------------------------

def _uf_module(call: Call) -> None:
    if text(_param(call.params, "moduleId")) != "crm":
        raise RestError("ERROR_ARGUMENT", "moduleId is required (crm)", 400)


def uf_add(call: Call) -> dict:
    _uf_module(call)
    _require_crm_admin(call)
    field = _param(call.params, "field")
    if not isinstance(field, dict):
        raise argument_null("field")
    entity_id = text(field.get("entityId"))
    name = text(field.get("fieldName")).upper()
    m = re.match(r"^CRM_(\d+)$", entity_id)
    if not m:
        raise RestError("ERROR_ARGUMENT", "entityId must look like CRM_<type id>", 400)
    if not re.match(rf"^UF_CRM_{m.group(1)}_[A-Z0-9_]+$", name) or len(name) > 50:
        raise RestError("ERROR_ARGUMENT", f"fieldName must look like UF_CRM_{m.group(1)}_<A-Z0-9_>, up to 50 chars",
                        400)
    if text(field.get("userTypeId")) not in UF_TYPES:
        raise RestError("ERROR_ARGUMENT", "Unknown userTypeId", 400)
    try:
        return {"field": call.state.crm.add_userfield({**field, "fieldName": name})}
    except KeyError as exc:
        raise RestError("ERROR_CORE", str(exc.args[0]), 400) from None


def uf_get(call: Call) -> dict:
    _uf_module(call)
    wanted = text(_param(call.params, "id"))
    for row in call.state.crm.userfield_rows():
        if row["id"] == wanted:
            return {"field": row}
    raise _not_found("Field")


def uf_list(call: Call) -> ListResult:
    _uf_module(call)
    rows = apply_filter(call.state.crm.userfield_rows(), _param(call.params, "filter"))
    rows = apply_order(rows, _param(call.params, "order"))
    sel = _param(call.params, "select")
    rows = [_select(r, sel) for r in rows]
    out = page(rows, call.start)
    return ListResult({"fields": out.items}, out.total, out.next, out.cost)


def uf_update(call: Call) -> dict:
    _uf_module(call)
    _require_crm_admin(call)
    row = call.state.crm.update_userfield(_int(_param(call.params, "id")), _param(call.params, "field") or {})
    if row is None:
        raise _not_found("Field")
    return {"field": row}


def uf_delete(call: Call) -> Any:
    _uf_module(call)
    _require_crm_admin(call)
    if not call.state.crm.delete_userfield(_int(_param(call.params, "id"))):
        raise _not_found("Field")
    return None


# --- items -------------------------------------------------------------------------------------------

def _spa(call: Call) -> int:
    etid = _etid(call)
    if etid in (1, 2, 3, 4):
        raise RestError("NOT_SUPPORTED", "The sandbox serves crm.item.* for smart processes only; use "
                                         "crm.deal/contact/company/lead.*", 400)
    return etid


def _original_names(call: Call, etid: int, item: dict) -> dict:
    if text(_param(call.params, "useOriginalUfNames")).upper() not in ("Y", "1", "TRUE"):
        return item
    names = {uf_camel(u["fieldName"]): u["fieldName"] for u in call.state.crm.userfields_of(etid)}
    return {names.get(k, k): v for k, v in item.items()}


def _item_key(etid: int, crm) -> Any:
    names = {u["fieldName"]: uf_camel(u["fieldName"]) for u in crm.userfields_of(etid)}
    return lambda k: names.get(k.upper(), k) if k.upper().startswith("UF_") else k


def _bool_fields(etid: int, crm) -> set[str]:
    return {uf_camel(u["fieldName"]) for u in crm.userfields_of(etid) if u["userTypeId"] == "boolean"}


def item_add(call: Call) -> dict:
    etid = _spa(call)
    fields = _param(call.params, "fields")
    item = call.state.crm.add_item(etid, fields if isinstance(fields, dict) else {}, call.caller.user_id)
    fire(call, "ONCRMDYNAMICITEMADD", {"ID": item["id"], "ENTITY_TYPE_ID": etid})
    return {"item": _original_names(call, etid, item)}


def item_update(call: Call) -> dict:
    etid = _spa(call)
    fields = _param(call.params, "fields")
    item = call.state.crm.update_item(etid, _int(_param(call.params, "id")),
                                      fields if isinstance(fields, dict) else {}, call.caller.user_id)
    if item is None:
        raise _not_found()
    fire(call, "ONCRMDYNAMICITEMUPDATE", {"ID": item["id"], "ENTITY_TYPE_ID": etid})
    return {"item": _original_names(call, etid, item)}


def item_get(call: Call) -> dict:
    etid = _spa(call)
    item = call.state.crm.item(etid, _int(_param(call.params, "id")))
    if item is None:
        raise _not_found()
    return {"item": _original_names(call, etid, item)}


def item_delete(call: Call) -> Any:
    etid = _spa(call)
    item_id = _int(_param(call.params, "id"))
    if not call.state.crm.delete_item(etid, item_id):
        raise _not_found()
    fire(call, "ONCRMDYNAMICITEMDELETE", {"ID": item_id, "ENTITY_TYPE_ID": etid})
    return None


def item_list(call: Call) -> ListResult:
    etid = _spa(call)
    crm = call.state.crm
    key_of = _item_key(etid, crm)
    bools = _bool_fields(etid, crm)

    def getter(r, f):
        v = r.get(f)
        return ("1" if v == "Y" else "0" if v == "N" else v) if f in bools else v

    rows = apply_filter(crm.items_list(etid), _param(call.params, "filter"), key_of, getter)
    rows = apply_order(rows, _param(call.params, "order") or {"id": "ASC"}, key_of)
    sel = _param(call.params, "select")
    if isinstance(sel, list):
        sel = [key_of(str(s)) for s in sel]
    rows = [_original_names(call, etid, _select(r, sel)) for r in rows]
    out = page(rows, call.start)
    return ListResult({"items": out.items}, out.total, out.next, out.cost)


_ITEM_FIELDS = {
    "id": ("integer", True), "xmlId": ("string", False), "title": ("string", False), "createdBy": ("user", True),
    "updatedBy": ("user", True), "movedBy": ("user", True), "createdTime": ("datetime", True),
    "updatedTime": ("datetime", True), "movedTime": ("datetime", True), "categoryId": ("crm_category", False),
    "opened": ("boolean", False), "stageId": ("crm_status", False), "previousStageId": ("crm_status", True),
    "begindate": ("date", False), "closedate": ("date", False), "companyId": ("crm_company", False),
    "contactId": ("crm_contact", False), "contactIds": ("crm_contact", False), "opportunity": ("double", False),
    "isManualOpportunity": ("boolean", False), "taxValue": ("double", False), "currencyId": ("crm_currency", False),
    "mycompanyId": ("crm_company", False), "sourceId": ("crm_status", False),
    "sourceDescription": ("text", False), "webformId": ("integer", False), "assignedById": ("user", False),
    "lastActivityBy": ("user", True), "lastActivityTime": ("datetime", True), "observers": ("user", False),
    "entityTypeId": ("integer", True),
}


def item_fields(call: Call) -> dict:
    etid = _spa(call)
    out = {}
    for name, (kind, ro) in _ITEM_FIELDS.items():
        upper_name = re.sub(r"([A-Z])", r"_\1", name).upper()
        out[name] = {"type": kind, "isRequired": name == "title" and False, "isReadOnly": ro,
                     "isImmutable": name in ("id", "entityTypeId"), "isMultiple": name in ("contactIds", "observers"),
                     "isDynamic": False, "title": name, "upperName": upper_name}
    for uf in call.state.crm.userfields_of(etid):
        label = (uf.get("editFormLabel") or {}).get(call.state.settings.language) or uf["fieldName"]
        entry = {"type": uf["userTypeId"], "isRequired": uf["mandatory"] == "Y", "isReadOnly": False,
                 "isImmutable": False, "isMultiple": uf["multiple"] == "Y", "isDynamic": True, "title": label,
                 "upperName": uf["fieldName"], "settings": uf.get("settings") or {}}
        if uf["userTypeId"] == "enumeration":
            entry["items"] = [{"ID": e["id"], "VALUE": e["value"]} for e in uf.get("enum", [])]
        out[uf_camel(uf["fieldName"])] = entry
    return {"fields": out}


# --- activities -------------------------------------------------------------------------------------------

_EXPLICIT = ("FILES", "STORAGE_ELEMENT_IDS", "COMMUNICATIONS")


def _activity_view(call: Call, act: dict, select: Any) -> dict:
    sel = [str(s).upper() for s in select] if isinstance(select, list) and select else ["*"]
    files = act.get("STORAGE_ELEMENT_IDS") or []
    base = {k: v for k, v in act.items() if k not in _EXPLICIT}
    out = base if "*" in sel else {k: v for k, v in base.items() if k in sel or k == "ID"}
    if "COMMUNICATIONS" in sel:
        out["COMMUNICATIONS"] = act.get("COMMUNICATIONS") or []
    if "FILES" in sel or "STORAGE_ELEMENT_IDS" in sel:
        out["FILES"] = [{"id": f, "url": call.state.disk.download_url(f)} for f in files]
    if "STORAGE_ELEMENT_IDS" in sel:
        out["STORAGE_ELEMENT_IDS"] = [str(f) for f in files]
    return out


def activity_get(call: Call) -> dict:
    act = call.state.crm.activity(_int(upper(call.params).get("ID")))
    if act is None:
        raise _not_found("Activity")
    return _activity_view(call, act, ["*"])


def activity_list(call: Call) -> ListResult:
    p = upper(call.params)
    crm = call.state.crm
    flt = upper(p.get("FILTER") or {}) if isinstance(p.get("FILTER"), dict) else {}
    ids: list[int] | None = None
    plain = {_OP.match(k).group(2): (v, _OP.match(k).group(1) or "=") for k, v in flt.items()}
    if "ORIGIN_ID" in plain and plain["ORIGIN_ID"][1] == "=" and not isinstance(plain["ORIGIN_ID"][0], list):
        found = crm.activity_by_origin(str(plain["ORIGIN_ID"][0]))
        ids = [found] if found else []
    elif "OWNER_ID" in plain and "OWNER_TYPE_ID" in plain and plain["OWNER_ID"][1] == "=" \
            and plain["OWNER_TYPE_ID"][1] == "=" and not isinstance(plain["OWNER_ID"][0], list):
        ids = [int(a["ID"]) for a in crm.activities_for(_int(plain["OWNER_TYPE_ID"][0]), _int(plain["OWNER_ID"][0]))]
    elif "ID" in plain and plain["ID"][1] == "=" and not isinstance(plain["ID"][0], list):
        ids = [_int(plain["ID"][0])]
    if ids is None:
        ids = crm.activity_ids()
    order = p.get("ORDER") if isinstance(p.get("ORDER"), dict) else {"ID": "ASC"}
    order = upper(order)
    only_id_order = list(order) == ["ID"]
    if only_id_order and not flt:
        ids = sorted(ids, reverse=str(order["ID"]).upper() == "DESC")
        out = page(ids, call.start)
        out.items = [_activity_view(call, crm.activity(i), p.get("SELECT")) for i in out.items]
        return out
    if only_id_order:
        ids = sorted(ids, reverse=str(order["ID"]).upper() == "DESC")
        # Filter lazily in ID order: a fast scan (>ID, start=-1) never materialises the whole table.
        want = (0 if call.start < 0 else call.start) + PAGE
        matched: list[dict] = []
        count_all = call.start >= 0
        for i in ids:
            act = crm.activity(i)
            if act and apply_filter([act], flt, str.upper):
                matched.append(act)
                if not count_all and len(matched) >= want:
                    break
        rows = matched
    else:
        rows = [a for a in (crm.activity(i) for i in ids) if a]
        rows = apply_order(apply_filter(rows, flt, str.upper), order, str.upper)
    sel = p.get("SELECT")
    out = page(rows, call.start)
    out.items = [_activity_view(call, a, sel) for a in out.items]
    return out


def binding_add(call: Call) -> bool:
    p = call.params
    try:
        added = call.state.crm.add_binding(_int(_param(p, "activityId"), "activityId"),
                                           _int(_param(p, "entityTypeId"), "entityTypeId"),
                                           _int(_param(p, "entityId"), "entityId"))
    except LookupError:
        raise _not_found("Activity") from None
    if not added:
        raise RestError("ERROR_CORE", "Binding already exists", 400)
    return True


def binding_list(call: Call) -> list:
    act_id = _int(_param(call.params, "activityId"), "activityId")
    if call.state.crm.activity(act_id) is None:
        raise _not_found("Activity")
    return call.state.crm.bindings(act_id)


def binding_delete(call: Call) -> bool:
    p = call.params
    if not call.state.crm.delete_binding(_int(_param(p, "activityId"), "activityId"),
                                         _int(_param(p, "entityTypeId"), "entityTypeId"),
                                         _int(_param(p, "entityId"), "entityId")):
        raise _not_found("Binding")
    return True


# --- contacts, companies, deals, leads -------------------------------------------------------------------

_MULTI = ("PHONE", "EMAIL", "WEB", "IM")
_DATES = ("DATE_CREATE", "DATE_MODIFY", "BEGINDATE", "CLOSEDATE")


def _legacy_getter(row: dict, field: str) -> Any:
    if field in _MULTI:
        return [phone_key(m["VALUE"]) if field == "PHONE" else m["VALUE"] for m in row.get(field) or []]
    return row.get(field)


def _legacy(kind: str):
    def add(call: Call) -> int:
        fields = upper(upper(call.params).get("FIELDS") or {})
        new_id = call.state.crm.add_entity(kind, fields, call.caller.user_id)
        fire(call, f"ONCRM{kind}ADD", {"ID": new_id})
        return new_id

    def get(call: Call) -> dict:
        row = call.state.crm.entity(kind, _int(upper(call.params).get("ID")))
        if row is None:
            raise _not_found("Not found")
        return row

    def update(call: Call) -> bool:
        p = upper(call.params)
        fields = p.get("FIELDS") if isinstance(p.get("FIELDS"), dict) else {}
        entity_id = _int(p.get("ID"))
        if not call.state.crm.update_entity(kind, entity_id, upper(fields), call.caller.user_id):
            raise _not_found("Not found")
        call.state.crm.count_update(kind, entity_id)
        fire(call, f"ONCRM{kind}UPDATE", {"ID": entity_id})
        return True

    def delete(call: Call) -> bool:
        if not call.state.crm.delete_entity(kind, _int(upper(call.params).get("ID"))):
            raise _not_found("Not found")
        fire(call, f"ONCRM{kind}DELETE", {"ID": _int(upper(call.params).get("ID"))})
        return True

    def list_(call: Call) -> ListResult:
        p = upper(call.params)
        flt = upper(p.get("FILTER") or {}) if isinstance(p.get("FILTER"), dict) else {}
        tz = call.state.tz
        for key in list(flt):
            name = _OP.match(key).group(2)
            if name == "PHONE":  # the client's number, compared as normalised digits
                value = flt[key]
                flt[key] = [phone_key(v) for v in value] if isinstance(value, list) else phone_key(value)
            elif name in _DATES:  # moments, whatever offset each side is written with (core compares dates)
                value = flt[key]
                flt[key] = [parse_datetime(v, tz) for v in value] if isinstance(value, list) \
                    else parse_datetime(value, tz)

        links = call.state.crm.deal_contacts

        def getter(row: dict, field: str) -> Any:
            if kind == "DEAL" and field == "CONTACT_ID":
                # any of the deal's contacts, not only the primary one (core filters through the deal–contact
                # link table; unconfirmed against a live portal)
                return [str(c) for c in links.get(int(row["ID"]), [])] or row.get(field)
            return parse_datetime(row.get(field), tz) if field in _DATES else _legacy_getter(row, field)

        order = upper(p.get("ORDER")) if isinstance(p.get("ORDER"), dict) and p.get("ORDER") else {"ID": "ASC"}
        rows = _legacy_rows(call.state.crm, kind, flt, order, call.start, getter)
        sel = [str(s).upper() for s in p.get("SELECT")] if isinstance(p.get("SELECT"), list) else []
        out = page(rows, call.start)
        items = []
        for row in out.items:
            if not sel or "*" in sel:
                view = {k: v for k, v in row.items() if k not in _MULTI}
            else:
                view = {k: v for k, v in row.items() if k in sel or k == "ID"}
            for m in _MULTI:
                if m in sel and row.get(m):
                    view[m] = row[m]
            items.append(view)
        out.items = items
        return out

    name = kind.lower()
    return [MethodSpec(f"crm.{name}.add", add, "crm"), MethodSpec(f"crm.{name}.get", get, "crm"),
            MethodSpec(f"crm.{name}.update", update, "crm"), MethodSpec(f"crm.{name}.delete", delete, "crm"),
            MethodSpec(f"crm.{name}.list", list_, "crm")]


def _id_window(flt: dict) -> tuple[int | None, int | None, set[int] | None]:
    """The ID range (and ID set) a filter pins down, so a list reads only that slice of the sorted IDs."""
    lo: int | None = None
    hi: int | None = None
    ids: set[int] | None = None
    if str(flt.get("LOGIC") or "AND").upper() == "OR":
        return None, None, None
    for key, value in flt.items():
        op, name = _OP.match(str(key)).groups()
        if name != "ID":
            continue
        op = op or "="
        if op in ("=", "@"):
            values = value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else [value]
            nums = [n for n in (_num(v) for v in values) if n is not None and n == int(n)]
            if len(nums) == len(values):
                ids = {int(n) for n in nums} if ids is None else ids & {int(n) for n in nums}
            continue
        n = _num(value)
        if n is None:
            continue
        if op == ">=":
            bound = -int(-n // 1)
        elif op == ">":
            bound = int(n // 1) + 1
        elif op == "<":
            hi = min(hi, -int(-n // 1)) if hi is not None else -int(-n // 1)
            continue
        elif op == "<=":
            hi = min(hi, int(n // 1) + 1) if hi is not None else int(n // 1) + 1
            continue
        else:
            continue
        lo = max(lo, bound) if lo is not None else bound
    return lo, hi, ids


def _legacy_rows(crm, kind: str, flt: dict, order: dict, start: int, getter) -> list[dict]:
    """Rows of a legacy list: the ID window by bisection, then the rest of the filter row by row; in
    ID order a `start=-1` page stops at 50 matches, so reading a table in ID windows stays linear."""
    lo, hi, ids = _id_window(flt)
    if ids is not None:
        cand = sorted(i for i in ids if (lo is None or i >= lo) and (hi is None or i < hi))
    else:
        cand = crm.ordered_ids(kind, lo, hi)
    test = filter_predicate(flt, str.upper, getter)
    if list(order) == ["ID"]:
        if str(order["ID"]).upper() == "DESC":
            cand = cand[::-1]
        out: list[dict] = []
        for i in cand:
            row = crm.row_ref(kind, i)
            if row is not None and (test is None or test(row)):
                out.append(row)
                if start < 0 and len(out) >= PAGE:
                    break
        return out
    rows = [r for r in (crm.row_ref(kind, i) for i in cand) if r is not None and (test is None or test(r))]
    return apply_order(rows, order, str.upper)


def deal_contact_items_get(call: Call) -> list:
    deal_id = _int(upper(call.params).get("ID"))
    if call.state.crm.entity("DEAL", deal_id) is None:
        raise _not_found("Not found")
    ids = call.state.crm.deal_contacts.get(deal_id, [])
    return [{"CONTACT_ID": cid, "SORT": (i + 1) * 10, "ROLE_ID": 0, "IS_PRIMARY": "Y" if i == 0 else "N"}
            for i, cid in enumerate(ids)]


def _deal_id(call: Call) -> tuple[int, list[int]]:
    deal_id = _int(upper(call.params).get("ID"))
    have = call.state.crm.deal_contact_ids(deal_id)
    if have is None:
        raise _not_found("Not found")
    return deal_id, have


def _contact_id(call: Call, value: Any) -> int:
    cid = _int(value, "CONTACT_ID")
    if call.state.crm.entity("CONTACT", cid) is None:
        raise RestError("ERROR_CORE", f"Contact {cid} not found", 400)
    return cid


def _primary_first(entries: list[tuple[int, int, bool]]) -> list[int]:
    """(contact, sort, primary) → IDs by SORT with the primary one first, as the binding table keeps them."""
    ordered = sorted(entries, key=lambda e: e[1])
    return [e[0] for e in ordered if e[2]][:1] + [e[0] for e in ordered if not e[2]] + \
        [e[0] for e in ordered if e[2]][1:]


def deal_contact_items_set(call: Call) -> bool:
    deal_id, _have = _deal_id(call)
    items = upper(call.params).get("ITEMS")
    items = list(items.values()) if isinstance(items, dict) else items
    if not isinstance(items, list):
        raise argument_null("items")
    entries = []
    for i, item in enumerate(items):
        item = upper(item) if isinstance(item, dict) else {}
        entries.append((_contact_id(call, item.get("CONTACT_ID")), _int(item.get("SORT") or (i + 1) * 10, "SORT"),
                        text(item.get("IS_PRIMARY")).upper() == "Y"))
    call.state.crm.set_deal_contacts(deal_id, _primary_first(entries))
    return True


def deal_contact_add(call: Call) -> bool:
    deal_id, have = _deal_id(call)
    fields = upper(upper(call.params).get("FIELDS") or {})
    cid = _contact_id(call, fields.get("CONTACT_ID"))
    rest = [c for c in have if c != cid]
    primary = text(fields.get("IS_PRIMARY")).upper() == "Y" or not rest
    call.state.crm.set_deal_contacts(deal_id, [cid, *rest] if primary else [*rest, cid])
    return True


def deal_contact_delete(call: Call) -> bool:
    deal_id, have = _deal_id(call)
    fields = upper(upper(call.params).get("FIELDS") or {})
    cid = _int(fields.get("CONTACT_ID"), "CONTACT_ID")
    call.state.crm.set_deal_contacts(deal_id, [c for c in have if c != cid])
    return True


def deal_contact_items_delete(call: Call) -> bool:
    deal_id, _have = _deal_id(call)
    call.state.crm.set_deal_contacts(deal_id, [])
    return True


def deal_category_list(call: Call) -> ListResult:
    rows = [dict(c) for cid, c in sorted(call.state.crm.deal_categories.items()) if cid]
    return page(rows, call.start)


def duplicate_findbycomm(call: Call) -> dict | list:
    p = upper(call.params)
    values = p.get("VALUES") if isinstance(p.get("VALUES"), list) else [p.get("VALUES")]
    wanted = text(p.get("ENTITY_TYPE")).upper()
    out: dict[str, list[int]] = {}
    for value in values:
        found = call.state.crm.find_by_phone(text(value))
        if found and (not wanted or found[0] == wanted):
            out.setdefault(found[0], []).append(found[1])
    return out or []


METHODS = [
    MethodSpec("crm.type.add", type_add, "crm"), MethodSpec("crm.type.get", type_get, "crm"),
    MethodSpec("crm.type.getbyentitytypeid", type_get_by_entity, "crm"),
    MethodSpec("crm.type.list", type_list, "crm"), MethodSpec("crm.type.update", type_update, "crm"),
    MethodSpec("crm.type.delete", type_delete, "crm"),
    MethodSpec("crm.category.list", category_list, "crm"), MethodSpec("crm.category.add", category_add, "crm"),
    MethodSpec("crm.status.list", status_list, "crm"), MethodSpec("crm.status.get", status_get, "crm"),
    MethodSpec("crm.status.add", status_add, "crm"), MethodSpec("crm.status.update", status_update, "crm"),
    MethodSpec("crm.status.delete", status_delete, "crm"),
    MethodSpec("crm.status.entity.types", status_entity_types, "crm"),
    MethodSpec("userfieldconfig.add", uf_add, "userfieldconfig"),
    MethodSpec("userfieldconfig.get", uf_get, "userfieldconfig"),
    MethodSpec("userfieldconfig.list", uf_list, "userfieldconfig"),
    MethodSpec("userfieldconfig.update", uf_update, "userfieldconfig"),
    MethodSpec("userfieldconfig.delete", uf_delete, "userfieldconfig"),
    MethodSpec("crm.item.add", item_add, "crm"), MethodSpec("crm.item.update", item_update, "crm"),
    MethodSpec("crm.item.get", item_get, "crm"), MethodSpec("crm.item.list", item_list, "crm"),
    MethodSpec("crm.item.delete", item_delete, "crm"), MethodSpec("crm.item.fields", item_fields, "crm"),
    MethodSpec("crm.activity.get", activity_get, "crm"), MethodSpec("crm.activity.list", activity_list, "crm"),
    MethodSpec("crm.activity.binding.add", binding_add, "crm"),
    MethodSpec("crm.activity.binding.list", binding_list, "crm"),
    MethodSpec("crm.activity.binding.delete", binding_delete, "crm"),
    *_legacy("CONTACT"), *_legacy("COMPANY"), *_legacy("DEAL"), *_legacy("LEAD"),
    MethodSpec("crm.deal.contact.items.get", deal_contact_items_get, "crm"),
    MethodSpec("crm.deal.contact.items.set", deal_contact_items_set, "crm"),
    MethodSpec("crm.deal.contact.items.delete", deal_contact_items_delete, "crm"),
    MethodSpec("crm.deal.contact.add", deal_contact_add, "crm"),
    MethodSpec("crm.deal.contact.delete", deal_contact_delete, "crm"),
    MethodSpec("crm.deal.category.list", deal_category_list, "crm"),
    MethodSpec("crm.duplicate.findbycomm", duplicate_findbycomm, "crm"),
]
_ = ENTITY_TYPE_IDS
