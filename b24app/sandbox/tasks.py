"""The portal's tasks in memory (tasks.task.add/get/list): the fields a callback task needs, printed
the way tasks.task.* prints them (camelCase, IDs as strings, dates with the portal offset)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timezone
from typing import Any

STATUS_PENDING = "2"  # «Ждёт выполнения», what a new task gets


class TaskStore:
    def __init__(self, tz: timezone | None = None):
        self.tz = tz or UTC
        self._lock = threading.Lock()
        self.portal_url = ""
        self.tasks: dict[int, dict[str, Any]] = {}
        self._next = 1

    def add(self, fields: dict[str, Any], creator: int) -> dict[str, Any]:
        now = datetime.now(self.tz).isoformat(timespec="seconds")
        with self._lock:
            task_id = self._next
            self._next += 1
            task = {
                "id": str(task_id), "parentId": None, "title": str(fields["TITLE"]),
                "description": str(fields.get("DESCRIPTION") or ""), "priority": str(fields.get("PRIORITY") or "1"),
                "status": STATUS_PENDING, "stageId": "0", "groupId": str(fields.get("GROUP_ID") or "0"),
                "createdBy": str(fields.get("CREATED_BY") or creator), "createdDate": now,
                "responsibleId": str(fields["RESPONSIBLE_ID"]), "changedBy": str(creator), "changedDate": now,
                "closedBy": None, "closedDate": None, "activityDate": now,
                "deadline": fields.get("DEADLINE") or None, "ufCrmTask": list(fields.get("UF_CRM_TASK") or []),
                "auditors": [], "accomplices": [],
            }
            self.tasks[task_id] = task
            return dict(task)

    def get(self, task_id: int) -> dict[str, Any] | None:
        with self._lock:
            task = self.tasks.get(task_id)
            return dict(task) if task else None

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(t) for _k, t in sorted(self.tasks.items())]

    def url(self, task: dict[str, Any]) -> str:
        return f"{self.portal_url}/company/personal/user/{task['responsibleId']}/tasks/task/view/{task['id']}/"
