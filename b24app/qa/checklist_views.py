"""The «Чек-листы» section of the settings page: the admin's editor over qa.checklists (versions, copies,
archive, JSON files); reviewers and directors read it. Forms post plain fields, parsed here once."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from urllib.parse import quote

from flask import Blueprint, current_app, g, redirect, request, url_for
from flask_babel import gettext
from sqlalchemy import func, select

from ..extensions import db
from ..messages import message
from ..portals.frame import frame_api, require_role
from ..portals.roles import names_for
from ..portals.routes import render_settings
from ..portals.sections import register as register_section
from . import checklists as C
from .checklist_texts import NOTICES
from .clock import local, portal_tz
from .models import Checklist, QaScore
from .scoring import MAX_POINTS

bp = Blueprint("qa_checklists", __name__)

FILE_LIMIT = 1024 * 1024
ITEM_FIELDS = ("id", "text", "hint", "weight", "scale", "max_points", "critical", "na_allowed")
# s<section>.title and s<section>.i<item>.<field>: positions in the form, renumbered by the page's script
# after adding, removing or moving rows; the server keeps their numeric order.
_FIELD = re.compile(r"s(\d{1,3})\.(?:i(\d{1,3})\.)?([a-z_]{1,12})", re.ASCII)
_ROW_ID = re.compile(r"[0-9]{1,18}", re.ASCII)


@dataclass
class Posted:
    """An editor form as posted: kept as typed, so a refused save shows the admin's own input again."""

    name: str | None
    version: int | None
    sections: list[dict]


def parse_form(form) -> Posted:
    sections: dict[int, dict] = {}
    for key in form.keys():
        m = _FIELD.fullmatch(key)
        if not m:
            continue
        sec = sections.setdefault(int(m[1]), {"title": None, "items": {}})
        if m[2] is None:
            if m[3] == "title":
                sec["title"] = form.get(key)
        elif m[3] in ITEM_FIELDS:
            sec["items"].setdefault(int(m[2]), {})[m[3]] = form.get(key)
    version = form.get("version", "")
    return Posted(name=form.get("name"),
                  version=int(version) if _ROW_ID.fullmatch(version or "") else None,
                  sections=[{"title": s["title"], "items": [s["items"][k] for k in sorted(s["items"])]}
                            for _, s in sorted(sections.items())])


@dataclass
class Editor:
    """What the editor shows: a saved checklist (or a new one) and, after a refusal, the posted input."""

    checklist: Checklist | None
    name: str
    version: int | None
    sections: list[dict]
    problems: list[str] = field(default_factory=list)
    bad: set = field(default_factory=set)         # (section, item) places with a problem, 1-based; item 0 = title
    history: list = field(default_factory=list)   # (number, saved at, who, scores, used)
    used: bool = False


BLANK = [{"title": "", "items": [{"text": "", "hint": "", "weight": "1", "scale": "yes_no"}]}]


def _describe(problems) -> tuple[list[str], set]:
    texts, bad = [], set()
    for key, si, ii in problems:
        text = message(key)
        if si and ii:
            text = gettext("Раздел %(s)s, пункт %(i)s: %(text)s", s=si, i=ii, text=text)
        elif si:
            text = gettext("Раздел %(s)s: %(text)s", s=si, text=text)
        if text not in texts:
            texts.append(text)
        if si:
            bad.add((si, ii or 0))
    return texts, bad


def _history(pid: int, cl: Checklist) -> list:
    versions = C.versions(pid, cl.id)
    counts = dict(db.session.execute(
        select(QaScore.version_id, func.count()).where(
            QaScore.portal_id == pid, QaScore.checklist_id == cl.id, QaScore.calibration_id == 0,
            QaScore.status == "submitted").group_by(QaScore.version_id)).all())
    names, tz = names_for(pid, {v.created_by for v in versions}), portal_tz(pid)
    return [(v.number, local(v.created_at, tz), names.get(v.created_by, "—") if v.created_by else gettext("приложение"),
             counts.get(v.id, 0), v.used) for v in reversed(versions)]


def _editor(viewer) -> Editor | None:
    pid = viewer.portal_id
    posted: Posted | None = g.get("checklist_posted")
    wanted = g.get("checklist_for") if posted is not None else request.args.get("checklist", "")
    if wanted == "new":
        cl = None
    elif isinstance(wanted, int) or _ROW_ID.fullmatch(wanted or ""):
        cl = C.checklist(pid, int(wanted))
        if cl is None:
            return None
    else:
        return None
    if posted is not None:
        ed = Editor(cl, posted.name or "", posted.version, posted.sections)
        ed.problems, ed.bad = g.get("checklist_problems") or ([], set())
    elif cl is None:
        ed = Editor(None, "", None, copy.deepcopy(BLANK))
    else:
        ed = Editor(cl, cl.name, cl.version, copy.deepcopy(cl.sections))
    if cl is not None:
        ed.history = _history(pid, cl)
        ed.used = bool(ed.history) and ed.history[0][4]
    return ed


def _topics(pid: int) -> dict[int, list[tuple[str, bool]]]:
    """Checklist id → (topic name, archived) of the topics that pick it.

    Topics sit a floor above qa (and import it), so their model is imported here, not with the module."""
    from ..topics.models import Topic

    out: dict[int, list[tuple[str, bool]]] = {}
    for cid, name, archived in db.session.execute(
            select(Topic.checklist_id, Topic.name, Topic.archived).where(
                Topic.portal_id == pid, Topic.checklist_id.isnot(None)).order_by(Topic.position, Topic.id)):
        out.setdefault(cid, []).append((name, archived))
    return out


def _context(viewer) -> dict:
    # Managers do not see the section: it is about how others judge them, not a setting of theirs.
    if not any(viewer.has(r) for r in ("admin", "director", "qa")):
        return {"cl_visible": False}
    pid = viewer.portal_id
    every = C.checklists(pid, include_archived=True)
    return {
        "cl_visible": True, "cl_can": viewer.has("admin"),
        "cl_active": [c for c in every if not c.archived], "cl_archived": [c for c in every if c.archived],
        "cl_topics": _topics(pid), "cl_editor": _editor(viewer) if viewer.has("admin") else None,
        "cl_import_problems": g.get("checklist_import_problems") or [], "cl_max_points": MAX_POINTS,
        "cl_action_problems": g.get("checklist_action_problems") or [],
        "cl_limits": C.LIMITS,
    }


register_section("checklists", "qa/checklists_section.html", _context, notices=NOTICES)


# --- actions -------------------------------------------------------------------------------------

def _done(key: str, checklist_id: int | None = None):
    if checklist_id:
        return redirect(url_for("portals.settings", ft=g.frame_token, msg=key, checklist=checklist_id,
                                _anchor="checklist-editor"), 303)
    return redirect(url_for("portals.settings", ft=g.frame_token, msg=key, _anchor="checklists"), 303)


STATUS = {"checklist.not_found": 404, "checklist.stale": 409}


def _refused(exc: C.ChecklistRefused, posted: Posted | None = None, editing: int | str | None = None):
    """Nothing was saved: the page again, every problem named, the admin's input kept in the editor."""
    db.session.rollback()
    status = STATUS.get(exc.message_key, 400)
    if posted is not None and status != 404:
        g.checklist_posted, g.checklist_for = posted, editing
        g.checklist_problems = _describe(exc.problems)
        notice = exc.message_key if exc.message_key == "checklist.stale" else "checklists.not_saved"
        return render_settings(notice, "error", status)
    return render_settings(exc.message_key, "error", status)


def _not_found():
    return render_settings("checklist.not_found", "error", 404)


@bp.post("/b24/qa/checklists")
@frame_api
@require_role("admin")
def create():
    posted = parse_form(request.form)
    try:
        cl = C.create(g.viewer.portal_id, posted.name, posted.sections, g.viewer.user_id)
    except C.ChecklistRefused as exc:
        return _refused(exc, posted, "new")
    db.session.commit()
    return _done("checklists.created", cl.id)


@bp.post("/b24/qa/checklists/<int:checklist_id>")
@frame_api
@require_role("admin")
def save(checklist_id: int):
    pid, posted = g.viewer.portal_id, parse_form(request.form)
    cl = C.checklist(pid, checklist_id)
    if cl is None:
        return _not_found()
    before = (cl.version, cl.name, copy.deepcopy(cl.sections))
    try:
        if posted.version is None:  # a form without the version it was opened at cannot prove it is current
            raise C.ChecklistRefused("checklist.stale")
        C.save(pid, checklist_id, posted.name, posted.sections, g.viewer.user_id, expected_version=posted.version)
    except C.ChecklistRefused as exc:
        return _refused(exc, posted, checklist_id)
    db.session.commit()
    if cl.version != before[0]:
        key = "checklists.saved_new_version"
    elif (cl.name, cl.sections) == before[1:]:
        key = "checklists.unchanged"
    else:
        key = "checklists.saved"
    return _done(key, cl.id)


@bp.post("/b24/qa/checklists/<int:checklist_id>/duplicate")
@frame_api
@require_role("admin")
def duplicate(checklist_id: int):
    pid = g.viewer.portal_id
    cl = C.checklist(pid, checklist_id)
    if cl is None:
        return _not_found()
    name = C.free_name(pid, gettext("%(name)s (копия)", name=cl.name[:C.LIMITS["name"] - 9]))
    copied = C.duplicate(pid, cl.id, name, g.viewer.user_id)
    db.session.commit()
    return _done("checklists.duplicated", copied.id)


@bp.post("/b24/qa/checklists/<int:checklist_id>/archive")
@frame_api
@require_role("admin")
def archive(checklist_id: int):
    pid = g.viewer.portal_id
    cl = C.checklist(pid, checklist_id)
    if cl is None:
        return _not_found()
    # A topic in use would send new calls to a checklist no one can pick any more: move the topics first.
    active = [name for name, archived in _topics(pid).get(cl.id, []) if not archived]
    if active:
        g.checklist_action_problems = [gettext(
            "Темы с этим чек-листом: %(topics)s. Выберите им другой чек-лист в разделе «Темы звонков», потом отправьте этот в архив.",
            topics=", ".join(f"«{t}»" for t in active))]
        return render_settings("checklists.in_use", "error", 409)
    C.set_archived(pid, cl.id, True)
    db.session.commit()
    return _done("checklists.archived")


@bp.post("/b24/qa/checklists/<int:checklist_id>/restore")
@frame_api
@require_role("admin")
def restore(checklist_id: int):
    pid = g.viewer.portal_id
    if C.checklist(pid, checklist_id) is None:
        return _not_found()
    C.set_archived(pid, checklist_id, False)
    db.session.commit()
    return _done("checklists.restored")


@bp.get("/b24/qa/checklists/<int:checklist_id>/export")
@frame_api
@require_role("admin")
def export(checklist_id: int):
    """The checklist as a file to keep or to load into another portal (the same builder as any other caller)."""
    cl = C.checklist(g.viewer.portal_id, checklist_id)
    if cl is None:
        return _not_found()
    body = json.dumps(C.export_json(cl), ensure_ascii=False, indent=2)
    resp = current_app.response_class(body, mimetype="application/json")
    readable = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', "_", cl.name).strip() or "checklist"
    resp.headers["Content-Disposition"] = (f"attachment; filename=\"checklist-{cl.id}-v{cl.version}.json\"; "
                                           f"filename*=UTF-8''{quote(f'{readable}.json')}")
    return resp


@bp.post("/b24/qa/checklists/import")
@frame_api
@require_role("admin")
def import_file():
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _import_refused(["checklists.no_file"])
    raw = upload.stream.read(FILE_LIMIT + 1)
    if len(raw) > FILE_LIMIT:
        return _import_refused(["checklists.too_big"])
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return _import_refused(["checklists.bad_json"])
    pid = g.viewer.portal_id
    if isinstance(data, dict) and isinstance(data.get("name"), str) and data["name"].strip():
        data = {**data, "name": C.free_name(pid, data["name"])}
    try:
        cl = C.import_json(pid, data, g.viewer.user_id)
    except C.ChecklistRefused as exc:
        db.session.rollback()
        texts, _ = _describe(exc.problems)
        return _import_refused([], texts)
    db.session.commit()
    return _done("checklists.imported", cl.id)


def _import_refused(keys: list[str], texts: list[str] | None = None):
    g.checklist_import_problems = [message(k) for k in keys] + (texts or [])
    return render_settings(keys[0] if keys else "checklist.bad_file", "error", 400)
