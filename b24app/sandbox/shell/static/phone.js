/* The telephony simulator's call popup: CALL_CARD frames as tabs, call state sent to them as
   CallCard::CallStateChanged placement events. */
(function () {
  "use strict";
  var call = null;
  var $ = function (id) { return document.getElementById(id); };
  var STATES = {connecting: "Соединение…", ringing: "Входящий звонок…", connected: "Разговор", idle: "Звонок завершён"};

  function setState(state, extra) {
    if (!call) return;
    call.options.CALL_STATE = state;
    $("call-state").textContent = STATES[state] || state;
    var sids = call.frames.map(function (f) { return f.app_sid; });
    Shell.emit("CallCard::CallStateChanged", [state, extra || {}], function (f) { return sids.indexOf(f.data.app_sid) >= 0; });
  }

  window.Phone = {
    start: function (direction) {
      var body = {user_id: Number($("ph-user").value), phone: $("ph-phone").value, direction: direction, line: $("ph-line").value};
      Shell.post("/telephony/call/start", body).then(function (r) {
        if (r.error) { Shell.status("Ошибка: " + r.error); return; }
        call = r;
        $("call-title").textContent = (direction === "outgoing" ? "Исходящий звонок: " : "Входящий звонок: ") + r.options.PHONE_NUMBER;
        $("call-frames").innerHTML = r.frames.length ? r.html : '<p class="empty">Приложения не встроили карточку звонка.</p>';
        $("call-modal").classList.remove("hidden");
        Shell.register($("call-frames"));
        $("call-state").textContent = STATES[r.options.CALL_STATE];
        $("call-state").dataset.callId = r.call_id;
      });
    },
    answer: function () {
      if (!call) return;
      Shell.post("/telephony/call/" + call.call_id + "/answer").then(function (r) {
        if (!r.error) setState("connected"); else Shell.status(r.error);
      });
    },
    hangup: function () {
      if (!call) return;
      var body = {talk_seconds: $("call-talk").value, vote: $("call-vote").value};
      Shell.post("/telephony/call/" + call.call_id + "/hangup", body).then(function (r) { finished(r); });
    },
    miss: function () {
      if (!call) return;
      Shell.post("/telephony/call/" + call.call_id + "/miss").then(function (r) { finished(r); });
    },
    close: function () {
      if (call) Shell.emit("CallCard::BeforeClose", [], null);
      $("call-modal").classList.add("hidden");
      $("call-frames").innerHTML = "";
      Shell.forget();
      call = null;
    },
    status: function () {
      if (!call) return {};
      var o = Object.assign({}, call.options);
      o.CRM_ENTITY_ID = Number(o.CRM_ENTITY_ID) || 0;
      o.CALL_LIST_MODE = o.CALL_LIST_MODE === "true";
      if (o.CRM_ACTIVITY_ID === "undefined") delete o.CRM_ACTIVITY_ID;
      return o;
    },
    current: function () { return call; }
  };

  function finished(r) {
    if (r.error) { Shell.status("Ошибка: " + r.error); return; }
    var code = r.row && r.row.CALL_FAILED_CODE;
    setState("idle", code && code !== "200" ? {failedCode: code} : {});
    call.options.CRM_ACTIVITY_ID = r.options.CRM_ACTIVITY_ID;
    Shell.status("Звонок записан в статистику: " + r.call_id + " (" + (r.row ? r.row.CALL_DURATION : 0) + " с)");
    $("call-state").dataset.finished = "1";
  }
})();
