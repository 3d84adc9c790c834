"""What the schedule, delivery and settings tests share: the portal's report settings, and what reached
the sandbox portal's Disk and chat."""

from __future__ import annotations

from sqlalchemy import select

from b24app.extensions import db
from b24app.models_base import row_for_portal
from b24app.portals.models import Portal
from b24app.reports.models import ReportRun, ReportSettings
from b24app.sandbox.disk import GROUP_NAME
from b24app.topics.models import TopicBot

FOLDER = "Отчёты по звонкам"
CHAT = "chat1"  # the sandbox's «Руководство» chat (users 1, 2, 5)


def portal_id(live_app, sandbox) -> int:
    with live_app.ctx():
        return db.session.scalar(select(Portal.id).where(Portal.member_id == sandbox.member_id))


def group_storage(sandbox) -> dict:
    return next(s for s in sandbox.state.disk.storage_list() if s["ENTITY_TYPE"] == "group"
                and s["NAME"] == GROUP_NAME)


def configure(live_app, sandbox, **values) -> int:
    """Report settings written as a saved form would leave them; returns the portal's ID."""
    pid = portal_id(live_app, sandbox)
    st = group_storage(sandbox)
    cols = {"weekly": False, "monthly": False, "hour": 9, "storage_id": st["ID"], "storage_name": st["NAME"],
            "folder_name": FOLDER, "dialog_id": CHAT, "chat_title": "Руководство", "departments": [], **values}
    with live_app.ctx():
        row = db.session.scalar(select(ReportSettings).where(ReportSettings.portal_id == pid))
        if row is None:
            row = ReportSettings(portal_id=pid, version=1)
            db.session.add(row)
        for k, v in cols.items():
            setattr(row, k, v)
        db.session.commit()
    return pid


def set_tz(live_app, pid: int, minutes: int) -> None:
    """The portal's UTC offset as the app knows it (what the bot last read from a REST answer)."""
    with live_app.ctx():
        row_for_portal(TopicBot, pid).tz_offset_minutes = minutes
        db.session.commit()


def report_files(sandbox, year: int | None = None) -> list[dict]:
    """Files in «Отчёты по звонкам/<year>» (every year when None) of the group's storage."""
    disk = sandbox.state.disk
    root = int(group_storage(sandbox)["ROOT_OBJECT_ID"])
    folder = next((f for f in disk.children(root) if f["TYPE"] == "folder" and f["NAME"] == FOLDER), None)
    if folder is None:
        return []
    out = []
    for sub in disk.children(int(folder["ID"])):
        if sub["TYPE"] == "folder" and (year is None or sub["NAME"] == str(year)):
            out.extend(disk.files(int(sub["ID"])))
    return out


def chat_messages(sandbox, dialog: str = CHAT) -> list[dict]:
    chat_id = int(dialog[4:])
    return [m for m in sandbox.state.im.messages if m["chat_id"] == chat_id]


def notifications(sandbox, user_id: int) -> list[dict]:
    return [m for m in sandbox.state.im.messages if m["notification"] and m.get("to_user_id") == user_id]


def all_runs(live_app, pid: int) -> list[ReportRun]:
    with live_app.ctx():
        rows = db.session.scalars(select(ReportRun).where(ReportRun.portal_id == pid).order_by(ReportRun.id)).all()
        for r in rows:
            db.session.expunge(r)
        return rows
