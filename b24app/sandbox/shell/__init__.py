"""The portal shell: Bitrix24-like pages of the sandbox portal (left menu, user switcher, app pages,
CRM analytics, telephony simulator, smart processes, chat, Disk), each app page an iframe opened
the way Bitrix24 opens placements (a form POSTed into a named frame; the frame protocol answered)."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)

from ..catalog import MENU_PLACEMENTS
from ..state import PlacementBinding, PortalState

ROLE_NAMES = {"admin": "администратор", "director": "руководитель", "qa": "QA-проверяющий",
              "manager": "менеджер"}
USER_COOKIE = "b24_shell_user"


def _call(obj: Any, name: str, *args, default: Any = None) -> Any:
    """A data-store method when the store (and the method) exists; `default` otherwise."""
    fn = getattr(obj, name, None) if obj is not None else None
    if fn is None:
        return default
    try:
        return fn(*args)
    except (LookupError, ValueError, TypeError):
        return default


def user_role(user: Any) -> str:
    for attr in ("role", "qa_role"):
        value = getattr(user, attr, None)
        if value:
            return ROLE_NAMES.get(str(value), str(value))
    if getattr(user, "admin", False):
        return ROLE_NAMES["admin"]
    title = (getattr(user, "position", "") or "").lower()
    if "директор" in title or "руковод" in title:
        return ROLE_NAMES["director"]
    if "качеств" in title or "qa" in title:
        return ROLE_NAMES["qa"]
    return ROLE_NAMES["manager"]


def shell_blueprint(state: PortalState) -> Blueprint:
    from ..page import frame_for

    bp = Blueprint("shell", __name__, template_folder="templates", static_folder="static",
                   static_url_path="/_shell/static")

    # --- acting user -------------------------------------------------------------------------------

    def acting_user():
        raw = request.args.get("user") or request.cookies.get(USER_COOKIE) or "1"
        try:
            user = state.directory.user(int(raw))
        except ValueError:
            user = None
        return user or state.directory.user(1) or state.directory.all_users()[0]

    def page(template: str, **ctx) -> Response:
        user = acting_user()
        users = [u for u in state.directory.all_users() if u.active]
        bindings = state.placements() if state.app.installed else []
        menu = {code: [b for b in bindings if b.placement == code] for code in MENU_PLACEMENTS}
        ctx.setdefault("frames", [])
        body = render_template(f"shell/{template}", state=state, s=state.settings, user=user, users=users,
                               role=user_role, menu=menu, app_ready=state.app.installed,
                               u=lambda endpoint, **kw: url_for(endpoint, user=user.id, **kw), **ctx)
        resp = make_response(body)
        if request.args.get("user"):
            resp.set_cookie(USER_COOKIE, str(user.id), samesite="Lax")
        return resp

    def binding(binding_id: int) -> PlacementBinding | None:
        return next((b for b in state.placements() if b.id == binding_id), None)

    def open_frame(b: PlacementBinding, user_id: int, options: dict[str, Any]) -> dict[str, Any]:
        frame = frame_for(state, user_id, b.handler, b.placement, options)
        frame["title"] = b.title
        return frame

    # --- pages ---------------------------------------------------------------------------------------

    @bp.get("/")
    def home():
        opened = request.args.get("open", "")
        if opened == "app":
            return app_default()
        if opened.isdigit():
            return app_page(int(opened))
        return page("home.html", calls=len(state.calls))

    @bp.get("/app/")
    def app_default():
        s, user = state.settings, acting_user()
        if not s.app_url:
            return page("notice.html", title="Приложение", notice="Приложение не зарегистрировано на портале.")
        installing = not state.app.installed
        if installing and not user.admin:
            return page("notice.html", title="Установка приложения",
                        notice="Приложение установлено не до конца. Обратитесь к администратору портала.")
        path = s.install_path if installing else s.handler_path
        frame = frame_for(state, user.id, s.app_url + path, "DEFAULT", {}, install=installing)
        frame["title"] = "Установка приложения" if installing else "Приложение"
        return page("app.html", title=frame["title"], frames=[frame])

    @bp.get("/app/<int:binding_id>/")
    def app_page(binding_id: int):
        b = binding(binding_id)
        if b is None:
            return page("notice.html", title="Приложение", notice="Такого встраивания нет.")
        if not state.app.installed:
            return page("notice.html", title=b.title,
                        notice="Приложение установлено не до конца: встраивания не показываются.")
        uri = ("/report/analytics/?IFRAME=Y&IFRAME_TYPE=SIDE_SLIDER" if b.placement.startswith("CRM_ANALYTICS")
               else "/report/telephony/" if b.placement.startswith("TELEPHONY")
               else f"/?user={acting_user().id}")
        frame = open_frame(b, acting_user().id, {"URI": uri})
        return page("app.html", title=b.title, frames=[frame], active=b.id)

    @bp.get("/crm/analytics/")
    def analytics():
        tabs = [b for b in state.placements() if b.placement == "CRM_ANALYTICS_MENU"] if state.app.installed else []
        if tabs and not request.args.get("tab"):
            return redirect(url_for("shell.analytics", user=acting_user().id, tab=tabs[0].id))
        frames = []
        current = next((b for b in tabs if str(b.id) == request.args.get("tab")), None)
        if current:
            frames = [open_frame(current, acting_user().id,
                                 {"URI": "/report/analytics/?IFRAME=Y&IFRAME_TYPE=SIDE_SLIDER"})]
        return page("analytics.html", title="CRM · Аналитика", tabs=tabs, current=current, frames=frames)

    @bp.get("/telephony/")
    def telephony():
        crm = getattr(state, "crm", None)
        clients = []
        for kind in ("CONTACT", "COMPANY", "LEAD"):
            for row in (_call(crm, "entity_rows", kind, default=[]) or [])[:40]:
                phones = row.get("PHONE") or []
                phone = phones[0].get("VALUE") if phones and isinstance(phones[0], dict) else ""
                if phone:
                    name = _call(crm, "client_name", kind, int(row["ID"]), default="") or f"{kind} {row['ID']}"
                    clients.append({"kind": kind, "id": row["ID"], "name": name, "phone": phone})
        lines = _call(getattr(state, "lines", None), "all", default=[]) or []
        cards = [b for b in state.placements() if b.placement == "CALL_CARD"] if state.app.installed else []
        sim = state.__dict__.get("phone")
        return page("telephony.html", title="Телефония", clients=clients, lines=lines, cards=cards,
                    record_delay=sim.record_delay if sim else 0)

    @bp.post("/telephony/call/start")
    def call_start():
        sim = state.__dict__["phone"]
        body = request.get_json(silent=True) or {}
        user_id = int(body.get("user_id") or acting_user().id)
        try:
            started = sim.start(user_id, str(body.get("phone") or "").strip(),
                                str(body.get("direction") or "outgoing"), body.get("line") or None)
        except ValueError as exc:
            return jsonify({"error": str(exc)}), 400
        cards = [b for b in state.placements() if b.placement == "CALL_CARD"] if state.app.installed else []
        frames = [open_frame(b, user_id, started["options"]) for b in cards]
        html = render_template("shell/_frames.html", frames=frames, tabs=True)
        return jsonify({**started, "frames": frames, "html": html})

    @bp.post("/telephony/call/<call_id>/<action>")
    def call_action(call_id: str, action: str):
        sim = state.__dict__["phone"]
        body = request.get_json(silent=True) or {}
        try:
            if action == "answer":
                out = sim.answer(call_id)
            elif action == "hangup":
                talk, vote = body.get("talk_seconds"), body.get("vote")
                out = sim.hangup(call_id, None if talk in (None, "") else int(talk),
                                 None if vote in (None, "") else int(vote))
            elif action == "miss":
                out = sim.miss(call_id)
            else:
                abort(404)
        except LookupError:
            return jsonify({"error": "no such call"}), 404
        except ValueError as exc:
            return jsonify({"error": str(exc)}), 400
        return jsonify(out)

    @bp.get("/crm/type/")
    def spa_types():
        types = _call(getattr(state, "crm", None), "spa_types", default=[]) or []
        return page("spa_types.html", title="Смарт-процессы", types=types)

    @bp.get("/crm/type/<int:etid>/list/")
    @bp.get("/crm/type/<int:etid>/kanban/")
    def spa_items(etid: int):
        crm = getattr(state, "crm", None)
        spa = next((t for t in (_call(crm, "spa_types", default=[]) or []) if int(t.get("entityTypeId", 0)) == etid),
                   {"entityTypeId": etid, "title": f"Смарт-процесс {etid}"})
        items = _call(crm, "items", etid, default=[]) or []
        stages = _call(crm, "stages", etid, default=[]) or []
        kanban = request.path.rstrip("/").endswith("kanban")
        columns = [{"stage": st, "items": [i for i in items if i.get("stageId") == st.get("STATUS_ID")]}
                   for st in sorted(stages, key=lambda st: int(st.get("SORT") or 0))]
        return page("spa_items.html", title=spa.get("title"), spa=spa, items=items, stages=stages,
                    columns=columns, kanban=kanban, etid=etid)

    @bp.get("/crm/type/<int:etid>/details/<int:item_id>/")
    def spa_item(etid: int, item_id: int):
        crm = getattr(state, "crm", None)
        item = _call(crm, "item", etid, item_id)
        if not item:
            return page("notice.html", title="Элемент", notice="Элемент не найден или данных CRM нет.")
        stages = {st.get("STATUS_ID"): st.get("NAME") for st in (_call(crm, "stages", etid, default=[]) or [])}
        user = acting_user()
        code = f"CRM_DYNAMIC_{etid}_DETAIL_TAB"
        tabs = [b for b in state.placements() if b.placement == code] if state.app.installed else []
        frames = [open_frame(b, user.id, {"ID": str(item_id)}) for b in tabs]
        activities = _call(crm, "bound_activities", etid, item_id, default=[]) or []
        for act in activities:
            ids = act.get("STORAGE_ELEMENT_IDS") or [f.get("id") for f in (act.get("FILES") or [])
                                                     if isinstance(f, dict)]
            act["_records"] = [f"/_sandbox/disk/file/{fid}/download" for fid in ids if fid]
        return page("spa_item.html", title=item.get("title") or f"Элемент {item_id}", item=item, etid=etid,
                    stage_name=stages.get(item.get("stageId"), item.get("stageId")), frames=frames,
                    activities=activities)

    @bp.get("/company/personal/user/<int:user_id>/tasks/task/view/<int:task_id>/")
    def task_view(user_id: int, task_id: int):
        task = _call(getattr(state, "tasks", None), "get", task_id)
        if not task:
            return page("notice.html", title="Задача", notice="Задача не найдена или доступ к ней запрещён."), 404
        owner = state.directory.user(int(task["responsibleId"]))
        return page("task.html", title=task["title"], task=task,
                    responsible=f"{owner.name} {owner.last_name}" if owner else task["responsibleId"])

    @bp.get("/chat/")
    def chat():
        messages = _call(getattr(state, "im", None), "messages_for", acting_user().id, default=None)
        return page("chat.html", title="Чаты и уведомления", messages=messages)

    @bp.post("/chat/press")
    def chat_press():
        body = request.get_json(silent=True) or request.form
        try:
            out = state.im.press_button(int(body.get("user_id") or acting_user().id), int(body["message_id"]),
                                        int(body.get("button_index", 0)))
        except (AttributeError, KeyError, TypeError, ValueError):
            return jsonify({"error": "bad request"}), 400
        except LookupError as exc:
            return jsonify({"error": f"no such {exc.args[0] if exc.args else 'message'}"}), 404
        return jsonify(out)

    @bp.get("/disk/")
    def disk():
        store = getattr(state, "disk", None)
        folders = _call(store, "folders", default=[]) or []
        current = request.args.get("folder", type=int) or (int(folders[0]["ID"]) if folders else None)
        files = _call(store, "files", current, default=[]) or [] if current else []
        return page("disk.html", title="Диск", folders=folders, current=current, files=files)

    @bp.get("/_shell/user")
    def switch_user():
        user = acting_user()
        back = request.args.get("next") or "/"
        if not back.startswith("/") or back.startswith("//"):
            back = "/"
        resp = redirect(back + ("&" if "?" in back else "?") + f"user={user.id}")
        resp.set_cookie(USER_COOKIE, str(user.id), samesite="Lax")
        return resp

    return bp
