"""Install, reinstall, uninstall and purge of a portal, with bindings reconciled against install.json."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, select

from ..bitrix import errors as E
from ..bitrix.client import BitrixClient
from ..bitrix.payloads import PortalFrameRequest
from ..bitrix.tokens import Credentials
from ..extensions import db
from ..manifest import load_manifest
from ..models_base import utcnow
from .models import STATUS_ACTIVE, STATUS_UNINSTALLED, Portal, PortalDepartment, PortalUser
from .rest import client_for, client_with_token

log = logging.getLogger(__name__)

# Feature packages add placements that exist only once portal data does (e.g. a smart process tab).
extra_placements: list[Callable[[Portal], list[dict]]] = []
# Feature packages add work to start after a successful install (smart process, history import…).
after_install: list[Callable[[Portal], None]] = []


class InstallRefused(Exception):
    """The install request cannot be honoured; `message_key` names the user-facing reason."""

    def __init__(self, message_key: str, status: int = 403):
        self.message_key, self.status = message_key, status
        super().__init__(message_key)


def install(req: PortalFrameRequest) -> Portal:
    """Handle the install POST: verify the admin's token at the portal, store, bind, start work."""
    client_endpoint = f"{req.origin}/rest/"
    creds = Credentials(req.member_id, client_endpoint, req.server_endpoint, req.auth_id, req.refresh_id,
                        time.time() + req.auth_expires)
    try:
        probe = client_with_token(creds).batch({"admin": ("user.admin", {}), "me": ("user.current", {}),
                                                "app": ("app.info", {})})
    except E.AuthError as exc:
        raise InstallRefused("install.token_rejected", 401) from exc
    if probe.errors:
        raise InstallRefused("install.token_rejected", 401)
    if probe.results.get("admin") is not True:
        raise InstallRefused("install.admin_only", 403)
    me = probe.results.get("me") or {}

    portal = db.session.scalar(select(Portal).where(Portal.member_id == req.member_id))
    if portal is not None and portal.status == STATUS_ACTIVE and portal.domain != req.domain \
            and portal.application_token and req.application_token != portal.application_token:
        # Same member_id from another address, without the portal's application token: refuse.
        raise InstallRefused("install.foreign_portal", 403)
    if portal is None:
        portal = Portal(member_id=req.member_id)
        db.session.add(portal)
    portal.domain = req.domain
    portal.protocol = req.protocol
    portal.client_endpoint = client_endpoint
    portal.server_endpoint = req.server_endpoint
    portal.access_token, portal.refresh_token = req.auth_id, req.refresh_id
    portal.token_expires_at = creds.expires_at
    if req.application_token:
        portal.application_token = req.application_token
    portal.scopes = ",".join(req.scopes)
    portal.language = (req.lang or "ru")[:2]
    portal.status, portal.status_reason = STATUS_ACTIVE, ""
    portal.installer_user_id = int(me.get("ID") or 0) or None
    portal.installed_at = utcnow()
    portal.uninstalled_at = portal.purge_after = None
    db.session.commit()

    client = client_for(portal.member_id)
    reconcile_bindings(portal, client)
    sync_users(portal, client)
    bound = desired_bindings(portal)
    for hook in after_install:
        hook(portal)
    if desired_bindings(portal) != bound:  # a hook made portal data that brings a placement (QA card tab)
        reconcile_bindings(portal, client)
    return portal


def desired_bindings(portal: Portal) -> tuple[dict[tuple[str, str], dict], set[tuple[str, str]]]:
    base = current_app.config["PUBLIC_URL"]
    man = load_manifest()
    placements = {(p.placement, base + p.handler): {"title": p.title} for p in man.placements}
    for hook in extra_placements:
        for p in hook(portal):
            placements[(p["placement"], base + p["handler"])] = {"title": p.get("title", {})}
    events = {(e.event, base + e.handler) for e in man.events}
    return placements, events


def reconcile_bindings(portal: Portal, client: BitrixClient) -> dict:
    """Bind what install.json declares and is missing, unbind what the app bound but no longer declares."""
    want_placements, want_events = desired_bindings(portal)
    current = client.batch({"p": ("placement.get", {}), "e": ("event.get", {})})
    current.raise_first()
    have_p = {(str(b.get("placement", "")).upper(), b.get("handler", ""))
              for b in current.results.get("p") or []}
    have_e = {(str(b.get("event", "")).upper(), b.get("handler", "")) for b in current.results.get("e") or []}
    cmds: dict[str, tuple[str, dict]] = {}
    for i, (code, handler) in enumerate(sorted(set(want_placements) - have_p)):
        title = want_placements[(code, handler)]["title"]
        cmds[f"pb{i}"] = ("placement.bind", {
            "PLACEMENT": code, "HANDLER": handler, "TITLE": title.get("ru", ""),
            "LANG_ALL": {lang: {"TITLE": t} for lang, t in title.items()}})
    for i, (code, handler) in enumerate(sorted(have_p - set(want_placements))):
        cmds[f"pu{i}"] = ("placement.unbind", {"PLACEMENT": code, "HANDLER": handler})
    for i, (event, handler) in enumerate(sorted(want_events - have_e)):
        cmds[f"eb{i}"] = ("event.bind", {"event": event, "handler": handler})
    for i, (event, handler) in enumerate(sorted(have_e - want_events)):
        cmds[f"eu{i}"] = ("event.unbind", {"event": event, "handler": handler})
    summary = {"bound": 0, "unbound": 0, "errors": {}}
    keys = list(cmds)
    for start in range(0, len(keys), 50):
        res = client.batch({k: cmds[k] for k in keys[start:start + 50]})
        for key, err in res.errors.items():
            if err.code in ("ERROR_HANDLER_ALREADY_EXIST", "ERROR_PLACEMENT_HANDLER_ALREADY_EXISTS"):
                continue  # someone bound it meanwhile: the state we want
            summary["errors"][key] = err.code
        summary["bound"] += sum(1 for k in res.results if k[1] == "b")
        summary["unbound"] += sum(1 for k in res.results if k[1] == "u")
    if summary["errors"]:
        log.warning("portal=%s binding errors: %s", portal.member_id, summary["errors"])
        raise E.BitrixError("BINDING_FAILED", str(summary["errors"]))
    return summary


def sync_users(portal: Portal, client: BitrixClient) -> int:
    rows = client.list_all("user.get", {"FILTER": {"USER_TYPE": "employee"}})
    existing = {u.user_id: u for u in db.session.scalars(select(PortalUser).where(PortalUser.portal_id == portal.id))}
    for r in rows:
        uid = int(r["ID"])
        u = existing.get(uid) or PortalUser(portal_id=portal.id, user_id=uid)
        u.name = " ".join(x for x in (r.get("NAME"), r.get("LAST_NAME")) if x) or r.get("EMAIL") or f"#{uid}"
        u.active = r.get("ACTIVE") in (True, "Y", "true", "1", 1)
        u.departments = [int(d) for d in (r.get("UF_DEPARTMENT") or []) if str(d).isdigit()]
        u.phone_inner = str(r.get("UF_PHONE_INNER") or "")[:32]
        u.synced_at = utcnow()
        db.session.add(u)
    deps = client.list_pages("department.get", {})
    have = {d.department_id: d for d in db.session.scalars(
        select(PortalDepartment).where(PortalDepartment.portal_id == portal.id))}
    for d in deps:
        did = int(d["ID"])
        row = have.get(did) or PortalDepartment(portal_id=portal.id, department_id=did)
        row.name = str(d.get("NAME") or f"#{did}")[:255]
        row.parent_id = int(d["PARENT"]) if str(d.get("PARENT") or "").isdigit() else None
        row.head_user_id = int(d["UF_HEAD"]) if str(d.get("UF_HEAD") or "").isdigit() and int(d["UF_HEAD"]) else None
        db.session.add(row)
    db.session.commit()
    return len(rows)


def mark_uninstalled(portal: Portal, clean: bool) -> None:
    days = current_app.config["UNINSTALL_RETENTION_DAYS"]
    portal.status, portal.status_reason = STATUS_UNINSTALLED, "ONAPPUNINSTALL"
    portal.access_token = portal.refresh_token = ""
    portal.uninstalled_at = utcnow()
    # "Delete app data" chosen at uninstall shortens the retention to zero.
    portal.purge_after = portal.uninstalled_at + timedelta(days=0 if clean else days)
    db.session.commit()


def purge_due_portals(now=None) -> list[str]:
    """Delete every row of uninstalled portals whose retention has passed."""
    now = now or utcnow()
    due = db.session.scalars(select(Portal).where(Portal.status == STATUS_UNINSTALLED,
                                                  Portal.purge_after <= now)).all()
    purged = []
    tenant_tables = [t for t in db.metadata.sorted_tables if "portal_id" in t.c]
    for portal in due:
        for table in reversed(tenant_tables):
            db.session.execute(delete(table).where(table.c.portal_id == portal.id))
        db.session.execute(delete(Portal.__table__).where(Portal.id == portal.id))
        purged.append(portal.member_id)
    db.session.commit()
    return purged


def tenant_tables() -> list[str]:
    return [t.name for t in db.metadata.sorted_tables if "portal_id" in t.c]


