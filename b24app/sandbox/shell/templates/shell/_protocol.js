/* The portal side of the Bitrix24 frame protocol. A frame posts "<command>:<params>:<callbackKey>:<APP_SID>";
   the portal answers "<callbackKey>:<JSON>" to that frame's origin only, after checking APP_SID. */
(function () {
  "use strict";
  var frames = {};  // APP_SID -> {data, iframe, events: {name: callbackKey}}

  function post(url, body) {
    return fetch(url, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body || {})})
      .then(function (r) { return r.json(); });
  }

  function parse(text) {
    var parts = text.split(":");
    if (parts.length < 2) return null;
    var command = parts[0], appSid = parts[parts.length - 1], middle = parts.slice(1, -1), params = null, callback = null;
    if (middle.length) {
      var last = middle[middle.length - 1];
      if (!/^[\[{"]/.test(last) && !/[\]}"]$/.test(last)) callback = middle.pop();
      var raw = middle.join(":");
      if (raw) { try { params = JSON.parse(raw); } catch (e) { params = raw; } }
    }
    return {command: command, params: params, callback: callback, appSid: appSid};
  }

  function status(text) { var el = document.getElementById("status"); if (el) el.textContent = text; }

  function register(root) {
    (root || document).querySelectorAll(".frame-data").forEach(function (node) {
      var data = JSON.parse(node.textContent), box = node.parentNode;
      if (frames[data.app_sid]) return;
      frames[data.app_sid] = {data: data, iframe: box.querySelector("iframe"), events: {}};
      box.querySelector("form.frame-form").submit();
    });
  }

  function send(frame, key, payload) {
    frame.iframe.contentWindow.postMessage(key + ":" + JSON.stringify(payload), frame.data.origin);
  }

  var INTERFACES = {
    CALL_CARD: {command: ["getStatus", "disableAutoClose", "enableAutoClose"],
                event: ["CallCard::CallStateChanged", "CallCard::EntityChanged", "CallCard::BeforeClose"]}
  };

  function shellPath(path) {
    return typeof path === "string" && /^\/(crm\/type|chat|disk|telephony|app)\//.test(path);
  }

  window.addEventListener("message", function (event) {
    if (typeof event.data !== "string") return;
    var msg = parse(event.data);
    if (!msg) return;
    var frame = frames[msg.appSid];
    if (!frame || event.source !== frame.iframe.contentWindow || event.origin !== frame.data.origin) return;
    var d = frame.data;
    var reply = function (payload) { if (msg.callback) send(frame, msg.callback, payload); };
    var p = msg.params || {};
    switch (msg.command) {
      case "getInitData": reply(d.init); break;
      case "resizeWindow": {
        if (p.width) frame.iframe.style.width = typeof p.width === "number" ? p.width + "px" : p.width;
        if (Number(p.height) > 0) frame.iframe.style.height = Number(p.height) + "px";
        reply({width: p.width, height: p.height}); break;
      }
      case "setScroll": reply({}); break;
      case "setInstallFinish":
      case "setInstall":
        post("/_sandbox/install-finish", {user_id: d.user_id}).then(function (r) {
          d.init.INSTALL = false; status("Установка завершена"); reply(r);
        }); break;
      case "refreshAuth":
        post("/_sandbox/tokens", {user_id: d.user_id}).then(function (t) {
          var auth = {AUTH_ID: t.access_token, REFRESH_ID: t.refresh_token, AUTH_EXPIRES: t.expires_in};
          Object.assign(d.init, auth); reply(auth);
        }); break;
      case "openPath": {
        var path = (p && p.path) || (typeof p === "string" ? p : "");
        if (shellPath(path)) {
          reply({result: "close"});
          location.href = path + (path.indexOf("?") < 0 ? "?" : "&") + "user=" + d.user_id + "&from=rest_placement";
        } else { status("Путь портала недоступен в песочнице: " + path); reply({result: "error", errorCode: "PATH_NOT_AVAILABLE"}); }
        break;
      }
      case "closeApplication": {
        reply({});
        var box = frame.iframe.closest(".frame-box") || frame.iframe;
        if (frame.iframe.closest("#call-modal") && window.Phone) window.Phone.close(); else box.remove();
        break;
      }
      case "reloadWindow": location.reload(); break;
      case "setTitle": document.title = (p && p.title) || document.title; var h = document.querySelector(".pagetitle");
        if (h && p && p.title) h.textContent = p.title; reply({}); break;
      case "getInterface": reply(INTERFACES[d.placement] || {command: [], event: []}); break;
      case "placementBindEvent": {
        var name = (p && p.event) || p;
        if (msg.callback) frame.events[name] = msg.callback;  // the key stays: each event answers through it
        break;
      }
      case "getStatus": if (window.Phone) reply(window.Phone.status()); break;
      case "disableAutoClose": case "enableAutoClose": reply({}); break;
      case "setAppOption": case "setUserOption": {
        var target = msg.command === "setAppOption" ? d.init.APP_OPTIONS : d.init.USER_OPTIONS;
        if (p && p.name) target[p.name] = p.value; reply({}); break;
      }
      default: break;  // unknown commands are ignored, as the portal does
    }
  });

  /* A placement event to every frame that bound it: "<bindEvent callbackKey>:<JSON args>". */
  function emit(name, args, filter) {
    Object.keys(frames).forEach(function (sid) {
      var f = frames[sid];
      if (filter && !filter(f)) return;
      if (f.events[name] && f.iframe.isConnected) send(f, f.events[name], args);
    });
  }

  function forget(root) {
    Object.keys(frames).forEach(function (sid) { if (!frames[sid].iframe.isConnected) delete frames[sid]; });
  }

  document.addEventListener("click", function (e) {
    var tab = e.target.closest("[data-tab]");
    if (!tab) return;
    var scope = tab.closest(".card, .modal-box, #call-frames") || document;
    scope.querySelectorAll("[data-tab]").forEach(function (t) { t.classList.toggle("active", t === tab); });
    scope.querySelectorAll("[data-box]").forEach(function (b) { b.classList.toggle("hidden", b.dataset.box !== tab.dataset.tab); });
  });

  window.Shell = {
    frames: frames, register: register, emit: emit, forget: forget, post: post, status: status,
    press: function (messageId, index, button) {
      post("/chat/press", {user_id: window.SHELL.user, message_id: messageId, button_index: index}).then(function (r) {
        status(r.error ? "Ошибка: " + r.error : "Кнопка нажата");
        if (!r.error) setTimeout(function () { location.reload(); }, 300);
      });
    }
  };
  document.addEventListener("DOMContentLoaded", function () { register(document); });
})();
