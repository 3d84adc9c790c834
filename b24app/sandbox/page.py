"""The minimal portal page at `/`: a left menu with the app's LEFT_MENU items, CRM and telephony
analytics lists, and the chosen placement in an iframe loaded as Bitrix24 does it (a hidden form POSTed
into a frame named "<DOMAIN>|<PROTOCOL>|<APP_SID>"), plus the parent side of the postMessage protocol."""

from __future__ import annotations

import json
import secrets
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, render_template_string, request

from .catalog import MENU_PLACEMENTS
from .state import PortalState


def php_json(value: Any) -> str:
    """json_encode as PHP writes it (slashes escaped), the way PLACEMENT_OPTIONS arrives."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("/", "\\/")


def frame_for(state: PortalState, user_id: int, handler: str, placement: str, options: dict[str, Any],
              install: bool = False) -> dict[str, Any]:
    """Everything the page needs to open one placement for one user."""
    s = state.settings
    user = state.directory.user(user_id)
    pair = state.issue_tokens(user_id)
    app_sid = secrets.token_hex(16)
    query = {"DOMAIN": state.domain, "PROTOCOL": "0", "LANG": s.language, "APP_SID": app_sid}
    action = handler + ("&" if "?" in handler else "?") + urlencode(query)
    placement_options = php_json(options)
    form = {
        "AUTH_ID": pair.access_token, "AUTH_EXPIRES": str(pair.expires_in), "REFRESH_ID": pair.refresh_token,
        "SERVER_ENDPOINT": state.server_endpoint, "APPLICATION_TOKEN": state.app.application_token,
        "APPLICATION_SCOPE": s.app_scope, "member_id": s.member_id, "status": s.app_status,
        "PLACEMENT": placement,
    }
    if placement != "DEFAULT":
        form["PLACEMENT_OPTIONS"] = placement_options
    parts = urlsplit(handler)
    init = {
        "AUTH_ID": pair.access_token, "REFRESH_ID": pair.refresh_token, "AUTH_EXPIRES": pair.expires_in,
        "DOMAIN": state.domain, "PROTOCOL": 0, "PATH": "/marketplace/app/1/", "LANG": s.language,
        "MEMBER_ID": s.member_id, "IS_ADMIN": bool(user and user.admin), "APP_OPTIONS": {}, "USER_OPTIONS": {},
        "PLACEMENT": placement, "PLACEMENT_OPTIONS": options, "INSTALL": install, "FIRST_RUN": install,
    }
    return {"action": action, "form": form, "name": f"{state.domain}|0|{app_sid}", "app_sid": app_sid,
            "origin": f"{parts.scheme}://{parts.netloc}", "init": init, "user_id": user_id,
            "placement": placement}


def page_blueprint(state: PortalState) -> Blueprint:
    bp = Blueprint("sandbox_page", __name__)

    @bp.get("/")
    def portal_page():
        s = state.settings
        try:
            user_id = int(request.args.get("user", 1))
        except ValueError:
            user_id = 1
        user = state.directory.user(user_id) or state.directory.user(1)
        app_ready = state.app.installed
        menu = {code: [b for b in state.placements() if b.placement == code] for code in MENU_PLACEMENTS}
        opened = request.args.get("open", "")
        frame, notice = None, ""
        if opened and s.app_url:
            if opened == "app":
                installing = not app_ready
                if installing and not user.admin:
                    notice = "Приложение установлено не до конца. Обратитесь к администратору портала."
                else:
                    path = s.install_path if installing else s.handler_path
                    frame = frame_for(state, user.id, s.app_url + path, "DEFAULT", {}, install=installing)
            else:
                binding = next((b for b in state.placements() if str(b.id) == opened), None)
                if binding is None:
                    notice = "Такого встраивания нет."
                elif not app_ready:
                    notice = "Приложение установлено не до конца: встраивания не показываются."
                else:
                    uri = "/report/analytics/?IFRAME=Y&IFRAME_TYPE=SIDE_SLIDER" if binding.placement.startswith(
                        "CRM_ANALYTICS") else "/report/telephony/" if binding.placement.startswith(
                        "TELEPHONY") else f"/?user={user.id}"
                    frame = frame_for(state, user.id, binding.handler, binding.placement, {"URI": uri})
        return render_template_string(TEMPLATE, s=s, state=state, user=user, users=state.directory.all_users(),
                                      menu=menu, frame=frame, notice=notice, app_ready=app_ready)

    return bp


TEMPLATE = """<!doctype html>
<html lang="ru">
<head>
<meta charset="utf-8">
<title>Битрикс24 — песочница</title>
<style>
  body { margin: 0; font: 14px/1.4 "Helvetica Neue", Arial, sans-serif; color: #333; background: #eef2f4; }
  header { background: #2fc6f6; color: #fff; padding: 10px 20px; display: flex; gap: 20px; align-items: center; }
  header h1 { font-size: 18px; margin: 0; flex: 1; }
  header a { color: #fff; }
  .layout { display: flex; min-height: calc(100vh - 44px); }
  nav { width: 240px; background: #1f3b4d; color: #cfd8dc; padding: 12px 0; }
  nav h2 { font-size: 11px; text-transform: uppercase; letter-spacing: .05em; margin: 14px 16px 4px; color: #8fa4ae; }
  nav a { display: block; color: #fff; padding: 6px 16px; text-decoration: none; }
  nav a:hover, nav a.active { background: #2d5266; }
  main { flex: 1; padding: 16px; }
  iframe { border: 0; background: #fff; width: 100%; height: 700px; }
  .notice { background: #fff3cd; padding: 10px 14px; border-radius: 4px; }
  #status { color: #6b7c85; font-size: 12px; margin-top: 6px; }
</style>
</head>
<body>
<header>
  <h1 data-testid="portal-title">Битрикс24 · {{ state.domain }}</h1>
  <span>Пользователь:</span>
  {% for u in users if u.active %}
    <a href="?user={{ u.id }}" {% if u.id == user.id %}style="font-weight:bold"{% endif %}>{{ u.name }} {{ u.last_name }}</a>
  {% endfor %}
</header>
<div class="layout">
<nav data-testid="left-menu">
  <h2>Приложения</h2>
  {% if s.app_url %}
    <a href="?user={{ user.id }}&open=app" data-testid="app-default">
      {% if app_ready %}Приложение{% else %}Установка приложения{% endif %}</a>
  {% endif %}
  {% if app_ready %}
    {% for b in menu["LEFT_MENU"] %}
      <a href="?user={{ user.id }}&open={{ b.id }}" data-placement="LEFT_MENU">{{ b.title }}</a>
    {% endfor %}
  {% endif %}
  <h2>CRM · Аналитика</h2>
  {% if app_ready %}
    {% for b in menu["CRM_ANALYTICS_MENU"] %}
      <a href="?user={{ user.id }}&open={{ b.id }}" data-placement="CRM_ANALYTICS_MENU">{{ b.title }}</a>
    {% else %}<a>Нет отчётов приложений</a>{% endfor %}
  {% endif %}
  <h2>Телефония · Статистика</h2>
  {% if app_ready %}
    {% for b in menu["TELEPHONY_ANALYTICS_MENU"] %}
      <a href="?user={{ user.id }}&open={{ b.id }}" data-placement="TELEPHONY_ANALYTICS_MENU">{{ b.title }}</a>
    {% endfor %}
  {% endif %}
</nav>
<main>
  {% if notice %}<p class="notice" data-testid="notice">{{ notice }}</p>{% endif %}
  {% if frame %}
    <iframe id="app-frame" name="{{ frame.name }}" data-testid="app-frame"></iframe>
    <form id="app-form" method="post" target="{{ frame.name }}" action="{{ frame.action }}" style="display:none">
      {% for k, v in frame.form.items() %}<input type="hidden" name="{{ k }}" value="{{ v }}">
      {% endfor %}
    </form>
    <div id="status"></div>
    <script>
      const FRAME = {{ frame|tojson }};
      const iframe = document.getElementById("app-frame");
      document.getElementById("app-form").submit();

      function parseMessage(text) {
        const parts = text.split(":");
        if (parts.length < 2) return null;
        const command = parts[0], appSid = parts[parts.length - 1];
        const middle = parts.slice(1, -1);
        let params = null, callback = null;
        if (middle.length) {
          const last = middle[middle.length - 1];
          // the callback key is the last part unless that part closes the JSON params
          if (!/^[\\[{]/.test(last) && !/[\\]}]$/.test(last)) callback = middle.pop();
          const raw = middle.join(":");
          if (raw) { try { params = JSON.parse(raw); } catch (e) { params = raw; } }
        }
        return {command, params, callback, appSid};
      }

      async function post(url, body) {
        const r = await fetch(url, {method: "POST", headers: {"Content-Type": "application/json"},
                                    body: JSON.stringify(body || {})});
        return r.json();
      }

      window.addEventListener("message", async (event) => {
        if (event.source !== iframe.contentWindow || typeof event.data !== "string") return;
        const msg = parseMessage(event.data);
        if (!msg || msg.appSid !== FRAME.app_sid) return;
        const reply = (payload) => {
          if (msg.callback) iframe.contentWindow.postMessage(msg.callback + ":" + JSON.stringify(payload), FRAME.origin);
        };
        const status = document.getElementById("status");
        switch (msg.command) {
          case "getInitData": reply(FRAME.init); break;
          case "resizeWindow": {
            const p = msg.params || {};
            if (p.width) iframe.style.width = typeof p.width === "number" ? p.width + "px" : p.width;
            if (p.height > 0) iframe.style.height = p.height + "px";
            reply({}); break;
          }
          case "setInstallFinish":
          case "setInstall": {
            const r = await post("/_sandbox/install-finish", {user_id: FRAME.user_id});
            FRAME.init.INSTALL = false;
            status.textContent = "Установка завершена";
            reply(r); break;
          }
          case "refreshAuth": {
            const t = await post("/_sandbox/tokens", {user_id: FRAME.user_id});
            Object.assign(FRAME.init, {AUTH_ID: t.access_token, REFRESH_ID: t.refresh_token, AUTH_EXPIRES: t.expires_in});
            reply({AUTH_ID: t.access_token, REFRESH_ID: t.refresh_token, AUTH_EXPIRES: t.expires_in}); break;
          }
          case "openPath": {
            const path = msg.params && msg.params.path || msg.params;
            status.textContent = "Открыт путь портала: " + path;
            reply({result: "close"}); break;
          }
          case "closeApplication": iframe.remove(); reply({}); break;
          case "setTitle": document.title = (msg.params && msg.params.title) || document.title; reply({}); break;
          case "reloadWindow": location.reload(); break;
          default: break;  // unknown commands are ignored, as the portal does
        }
      });
    </script>
  {% elif not notice %}
    <p>Выберите пункт меню слева.</p>
  {% endif %}
</main>
</div>
</body>
</html>
"""
