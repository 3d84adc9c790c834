/* The Bitrix24 parent-frame protocol (as BX24.js and @bitrix24/b24jssdk speak it), kept small.
   window.name is "<DOMAIN>|<PROTOCOL>|<APP_SID>"; commands go to the parent as
   "<command>:<json params>:<callbackKey>:<APP_SID>" and replies come back as "<callbackKey>:<json>". */
(function () {
  "use strict";
  var parts = (window.name || "").split("|");
  var domain = parts[0] || "", protocol = parts[1] === "1" ? "https" : "http", appSid = parts[2] || "";
  var origin = domain ? protocol + "://" + domain : null;
  var pending = {}, listeners = {}, seq = 0;

  window.addEventListener("message", function (e) {
    if (!origin || e.origin !== origin || typeof e.data !== "string") return;
    var i = e.data.indexOf(":");
    if (i < 0) return;
    var key = e.data.slice(0, i), cb = pending[key], listener = listeners[key];
    if (!cb && !listener) return;
    var payload = e.data.slice(i + 1);
    try { payload = payload ? JSON.parse(payload) : null; } catch (err) { /* raw reply */ }
    if (listener) { listener.apply(null, Array.isArray(payload) ? payload : [payload]); return; }
    delete pending[key];
    cb(payload);
  });

  function send(command, params) {
    return new Promise(function (resolve) {
      if (!origin || window.parent === window) { resolve(null); return; }
      var key = "cq" + (++seq) + "_" + Date.now();
      pending[key] = resolve;
      var msg = [command, params ? JSON.stringify(params) : "", key, appSid].filter(function (x) { return x !== ""; }).join(":");
      window.parent.postMessage(msg, origin);
      setTimeout(function () { if (pending[key]) { delete pending[key]; resolve(null); } }, 5000);
    });
  }

  /* A placement event (BX24.placement.bindEvent): the portal answers every time through the same key. */
  function bindEvent(name, cb) {
    if (!origin || window.parent === window) return;
    var key = "cqev" + (++seq) + "_" + Date.now();
    listeners[key] = cb;
    window.parent.postMessage(["placementBindEvent", JSON.stringify({event: name}), key, appSid].join(":"), origin);
  }

  function fitWindow() {
    // The body's own box, not scrollHeight: scrollHeight never drops below the frame, so it could only grow.
    var b = document.body;
    if (!b) return Promise.resolve();
    var cs = window.getComputedStyle(b);
    var h = Math.ceil(b.getBoundingClientRect().height + parseFloat(cs.marginTop) + parseFloat(cs.marginBottom));
    return send("resizeWindow", { width: "100%", height: h });
  }

  window.B24Frame = {
    inFrame: !!origin && window.parent !== window,
    send: send,
    bindEvent: bindEvent,
    fitWindow: fitWindow,
    installFinish: function () { return send("setInstallFinish"); },
    openPath: function (path) { return send("openPath", { path: path }); },
    close: function () { return send("closeApplication"); },
    token: function () { var m = document.querySelector('meta[name="frame-token"]'); return m ? m.content : ""; }
  };

  document.addEventListener("DOMContentLoaded", function () {
    fitWindow();
    if (window.ResizeObserver) new ResizeObserver(function () { fitWindow(); }).observe(document.body);
  });
})();
