"""tasks.task.add / get / list over state.tasks (scope `task`): what a callback task for a missed call needs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..calldata import parse_datetime
from ..dispatch import Call, MethodSpec
from ..envelope import ListResult, RestError
from .common import page, text, upper
from .crm import _param, apply_filter, apply_order

# Filter/order keys (upper case, as tasks.task.list takes them) → the printed camelCase field.
_KEYS = {"ID": "id", "TITLE": "title", "RESPONSIBLE_ID": "responsibleId", "CREATED_BY": "createdBy",
         "STATUS": "status", "DEADLINE": "deadline", "GROUP_ID": "groupId", "UF_CRM_TASK": "ufCrmTask",
         "CREATED_DATE": "createdDate", "CHANGED_DATE": "changedDate"}


def _core(message: str) -> RestError:
    return RestError("ERROR_CORE", message + "<br>", 400)


def _view(call: Call, task: dict, select: Any = None) -> dict:
    if isinstance(select, list) and select and "*" not in select:
        keep = {_KEYS.get(str(s).upper(), str(s)) for s in select} | {"id"}
        task = {k: v for k, v in task.items() if k in keep}
    return task


def task_add(call: Call) -> dict:
    fields = _param(call.params, "fields")
    if not isinstance(fields, dict) or not fields:
        raise RestError("100", "Could not find value for parameter {fields}", 400)
    fields = upper(fields)
    if not text(fields.get("TITLE")):
        raise _core("Task title not specified")
    if not text(fields.get("RESPONSIBLE_ID")):
        raise _core("Assignee not specified")
    try:
        responsible = int(float(text(fields["RESPONSIBLE_ID"])))
    except ValueError:
        raise _core('User specified in the "Assignee" field not found') from None
    if call.state.directory.user(responsible) is None:
        raise _core('User specified in the "Assignee" field not found')
    fields["RESPONSIBLE_ID"] = responsible
    tz = call.state.tz
    if text(fields.get("DEADLINE")):
        moment = parse_datetime(text(fields["DEADLINE"]), tz)
        if moment is None:
            raise _core("Invalid deadline")
        fields["DEADLINE"] = datetime.fromtimestamp(moment, tz).isoformat(timespec="seconds")
    crm = fields.get("UF_CRM_TASK")
    crm = list(crm.values()) if isinstance(crm, dict) else crm if isinstance(crm, list) else \
        [crm] if text(crm) else []
    fields["UF_CRM_TASK"] = [text(c) for c in crm if text(c)]
    if text(fields.get("CREATED_BY")):
        try:
            fields["CREATED_BY"] = int(float(text(fields["CREATED_BY"])))
        except ValueError:
            raise _core('User specified in the "Created by" field not found') from None
    return {"task": call.state.tasks.add(fields, call.caller.user_id)}


def task_get(call: Call) -> dict:
    raw = _param(call.params, "taskId", "id")
    try:
        task_id = int(float(text(raw)))
    except ValueError:
        raise RestError("100", "Could not find value for parameter {taskId}", 400) from None
    task = call.state.tasks.get(task_id)
    if task is None:
        raise _core("Task not found or not accessible")
    return {"task": _view(call, task, _param(call.params, "select"))}


def task_list(call: Call) -> ListResult:
    flt = _param(call.params, "filter")
    flt = upper(flt) if isinstance(flt, dict) else {}
    order = _param(call.params, "order")
    order = upper(order) if isinstance(order, dict) and order else {"ID": "ASC"}
    rows = apply_filter(call.state.tasks.all(), flt, lambda k: _KEYS.get(k.upper(), k))
    rows = apply_order(rows, order, lambda k: _KEYS.get(k.upper(), k))
    select = _param(call.params, "select")
    out = page(rows, call.start)
    return ListResult({"tasks": [_view(call, t, select) for t in out.items]}, out.total, out.next, out.cost)


METHODS = [
    MethodSpec("tasks.task.add", task_add, "task"),
    MethodSpec("tasks.task.get", task_get, "task"),
    MethodSpec("tasks.task.list", task_list, "task"),
]
