"""The portal's people: departments and users (an admin and employees with Russian names), kept in
state so later work can add more; plus the field sets user.get / user.current / profile print."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Department:
    id: int
    name: str
    parent: int | None = None
    head: int | None = None
    sort: int = 500

    def as_rest(self) -> dict[str, Any]:
        # department.get prints IDs as strings and SORT as a number (fixture department.get.response).
        out: dict[str, Any] = {"ID": str(self.id), "NAME": self.name, "SORT": self.sort}
        if self.parent is not None:
            out["PARENT"] = str(self.parent)
        if self.head is not None:
            out["UF_HEAD"] = str(self.head)
        return out


@dataclass
class User:
    id: int
    name: str
    last_name: str
    departments: list[int]
    admin: bool = False
    active: bool = True
    gender: str = ""
    position: str = ""
    email: str = ""
    phone_inner: str = ""
    tz_minutes: int = 180
    calls_weight: float = 0.0  # share of generated calls this user takes (0 = makes no calls)
    registered: str = "2024-02-01T09:00:00+03:00"
    extra: dict[str, Any] = field(default_factory=dict)

    def as_rest(self) -> dict[str, Any]:
        """user.get / user.current fields (fixture user.current.response plus telephony extension)."""
        out = {
            "ID": str(self.id),
            "XML_ID": "",
            "ACTIVE": self.active,
            "NAME": self.name,
            "LAST_NAME": self.last_name,
            "SECOND_NAME": "",
            "EMAIL": self.email,
            "LAST_LOGIN": "2026-11-20T09:12:40+03:00" if self.active else "",
            "DATE_REGISTER": self.registered,
            "IS_ONLINE": "N",
            "TIME_ZONE_OFFSET": str((self.tz_minutes - 180) * 60),
            "TIMESTAMP_X": "20.11.2026 09:12:40",
            "LAST_ACTIVITY_DATE": "2026-11-20 09:12:40" if self.active else "",
            "PERSONAL_GENDER": self.gender,
            "PERSONAL_BIRTHDAY": "",
            "WORK_POSITION": self.position,
            "UF_EMPLOYMENT_DATE": "",
            "UF_DEPARTMENT": list(self.departments),
            "UF_PHONE_INNER": self.phone_inner,
            "USER_TYPE": "employee",
        }
        out.update(self.extra)
        return out

    def profile(self) -> dict[str, Any]:
        """`profile` is empty for inactive users (REST-FACTS §7)."""
        if not self.active:
            return {}
        return {"ID": str(self.id), "ADMIN": self.admin, "NAME": self.name, "LAST_NAME": self.last_name,
                "PERSONAL_GENDER": self.gender, "TIME_ZONE": ""}


def seed_departments() -> list[Department]:
    return [
        Department(1, "ООО «Вектор»", head=1),
        Department(2, "Отдел продаж", parent=1, head=2),
        Department(3, "Колл-центр", parent=1, head=5),
        Department(4, "Бухгалтерия", parent=1, head=8),
    ]


def seed_users() -> list[User]:
    return [
        User(1, "Администратор", "Портала", [1], admin=True, gender="M", position="Администратор",
             email="admin@vector.example", phone_inner="100"),
        User(2, "Иван", "Петров", [2], gender="M", position="Руководитель отдела продаж",
             email="i.petrov@vector.example", phone_inner="101", calls_weight=0.8),
        User(3, "Мария", "Смирнова", [2], gender="F", position="Менеджер по продажам",
             email="m.smirnova@vector.example", phone_inner="102", calls_weight=1.2),
        User(4, "Алексей", "Кузнецов", [2], gender="M", position="Менеджер по продажам",
             email="a.kuznetsov@vector.example", phone_inner="103", tz_minutes=300, calls_weight=1.0),
        User(5, "Ольга", "Соколова", [3], gender="F", position="Руководитель колл-центра",
             email="o.sokolova@vector.example", phone_inner="104", calls_weight=0.6),
        User(6, "Дмитрий", "Попов", [3], gender="M", position="Оператор",
             email="d.popov@vector.example", phone_inner="105", calls_weight=1.5),
        User(7, "Екатерина", "Васильева", [3], gender="F", position="Оператор",
             email="e.vasilyeva@vector.example", phone_inner="106", tz_minutes=420, calls_weight=1.3),
        User(8, "Наталья", "Морозова", [4], gender="F", position="Главный бухгалтер",
             email="n.morozova@vector.example", phone_inner="107"),
        # Dismissed mid-way through the history: only early calls, and ACTIVE false in user.get.
        User(9, "Сергей", "Волков", [3], active=False, gender="M", position="Оператор",
             email="s.volkov@vector.example", phone_inner="108", calls_weight=0.8),
    ]


class Directory:
    """Users and departments, guarded by a lock (admin routes may add users at runtime)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.departments: dict[int, Department] = {d.id: d for d in seed_departments()}
        self.users: dict[int, User] = {u.id: u for u in seed_users()}

    def user(self, user_id: int) -> User | None:
        with self._lock:
            return self.users.get(user_id)

    def all_users(self) -> list[User]:
        with self._lock:
            return sorted(self.users.values(), key=lambda u: u.id)

    def all_departments(self) -> list[Department]:
        with self._lock:
            return sorted(self.departments.values(), key=lambda d: d.id)

    def add_user(self, name: str, last_name: str, departments: list[int] | None = None, *,
                 admin: bool = False, active: bool = True, **fields: Any) -> User:
        with self._lock:
            new_id = max(self.users, default=0) + 1
            user = User(new_id, name, last_name, departments or [1], admin=admin, active=active, **fields)
            self.users[new_id] = user
            return user
