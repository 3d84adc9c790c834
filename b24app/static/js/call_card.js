/* The CALL_CARD popup: pick the call's topic (click, 1–9, "/" to search), the client summary by XHR,
   the client's local time ticking, the call state from CallCard::CallStateChanged. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("cc-config").textContent);
  var T = cfg.text;
  var $ = function (sel, root) { return (root || document).querySelector(sel); };
  var $$ = function (sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); };
  var buttons = $$(".cc-topic");
  var search = $('[data-testid="cc-search"]');
  var statusEl = $('[data-testid="cc-status"]');
  var currentId = cfg.currentId;
  var saving = 0;

  function headers() {
    return {"X-Frame-Token": B24Frame.token(), "Accept": "application/json", "Content-Type": "application/json"};
  }

  function fill(text, key, value) { return text.replace("{" + key + "}", value); }

  function setStatus(text, kind) {
    statusEl.textContent = text || "";
    statusEl.className = "cc-status" + (kind ? " cc-" + kind : "");
  }

  /* --- topics ------------------------------------------------------------------------------------ */

  function visible() { return buttons.filter(function (b) { return !b.hidden; }); }

  function renumber() {
    visible().forEach(function (b, i) {
      var k = b.querySelector(".cc-key");
      if (!k) return;
      k.hidden = i >= 9;
      k.textContent = i < 9 ? String(i + 1) : "";
    });
    buttons.forEach(function (b) { if (b.hidden) { var k = b.querySelector(".cc-key"); if (k) k.hidden = true; } });
    var none = $('[data-testid="cc-nothing"]');
    if (none) none.hidden = visible().length > 0;
  }

  function highlight(id) {
    buttons.forEach(function (b) {
      var on = String(b.dataset.topicId) === String(id);
      b.classList.toggle("is-current", on);
      b.setAttribute("aria-pressed", on ? "true" : "false");
    });
    var btn = buttons.filter(function (b) { return String(b.dataset.topicId) === String(id); })[0];
    var cur = $('[data-testid="cc-current"]');
    if (btn && cur) {
      cur.innerHTML = "";
      var dot = document.createElement("span");
      dot.className = "cc-dot";
      dot.style.background = btn.style.getPropertyValue("--cc-color");
      cur.appendChild(dot);
      cur.appendChild(document.createTextNode(btn.querySelector(".cc-topic-name").textContent));
    }
  }

  function choose(btn) {
    if (!btn || cfg.blocked || btn.disabled) return;
    var id = btn.dataset.topicId, before = currentId, mine = ++saving;
    highlight(id);
    btn.classList.add("is-saving");
    setStatus(T.saving, "pending");
    fetch(cfg.chooseUrl, {method: "POST", headers: headers(), body: JSON.stringify({call_id: cfg.callId, topic_id: Number(id)})})
      .then(function (r) { return r.json().then(function (body) { return {ok: r.ok, body: body}; }); })
      .then(function (res) {
        btn.classList.remove("is-saving");
        if (mine !== saving) return;  // a later click decides
        if (res.ok) {
          currentId = res.body.topic_id;
          highlight(currentId);
          setStatus(fill(T.saved, "name", res.body.topic), "ok");
          document.body.dataset.savedTopic = String(currentId);
        } else {
          highlight(before);
          setStatus((res.body && res.body.error) || T.failed, "error");
        }
      })
      .catch(function () {
        btn.classList.remove("is-saving");
        if (mine !== saving) return;
        highlight(before);
        setStatus(T.failed, "error");
      });
  }

  buttons.forEach(function (b) { b.addEventListener("click", function () { choose(b); }); });

  function filter() {
    var q = (search.value || "").trim().toLowerCase();
    buttons.forEach(function (b) { b.hidden = !!q && b.dataset.name.indexOf(q) < 0; });
    renumber();
    B24Frame.fitWindow();
  }

  if (search) {
    search.addEventListener("input", filter);
    search.addEventListener("keydown", function (e) {
      if (e.key === "Escape") { search.value = ""; filter(); search.blur(); e.preventDefault(); }
      else if (e.key === "Enter") { choose(visible()[0]); e.preventDefault(); }
      else if (e.key === "ArrowDown" && visible()[0]) { visible()[0].focus(); e.preventDefault(); }
    });
  }

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var tag = (e.target && e.target.tagName) || "";
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") return;
    if (e.key === "/" && search) { e.preventDefault(); search.focus(); search.select(); return; }
    if (/^[1-9]$/.test(e.key)) {
      var btn = visible()[Number(e.key) - 1];
      if (btn) { e.preventDefault(); choose(btn); }
    }
  });

  /* --- local time -------------------------------------------------------------------------------- */

  var zone = cfg.zone;
  function tick() {
    var box = $('[data-testid="cc-local-time"]');
    if (!zone || !box || !box.dataset.zone) return;
    var now = new Date(), hm;
    try {
      hm = new Intl.DateTimeFormat("ru-RU", {hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: zone}).format(now);
    } catch (err) { return; }
    $('[data-testid="cc-clock"]', box).textContent = hm;
    var hour = Number(hm.slice(0, 2));
    box.classList.toggle("cc-night", hour < 9 || hour >= 21);
    box.title = box.classList.contains("cc-night") ? T.night : box.title;
    var diff = (Number(box.dataset.offset) + now.getTimezoneOffset()) / 60;
    var d = $(".cc-diff", box);
    if (d) d.textContent = diff > 0 ? fill(T.hoursAhead, "n", diff) : diff < 0 ? fill(T.hoursBehind, "n", -diff) : "";
  }

  function useZone(lt) {
    var box = $('[data-testid="cc-local-time"]');
    if (!box || !lt) return;
    zone = lt.zone;
    box.classList.remove("cc-time-none");
    box.dataset.zone = lt.zone;
    box.dataset.offset = lt.utc_offset;
    delete box.dataset.approx;
    box.innerHTML = '<span class="cc-clock"><b data-testid="cc-clock"></b></span><span class="cc-city" data-testid="cc-city"></span><span class="cc-diff muted"></span>';
    $(".cc-city", box).textContent = lt.city;
    box.title = T.byAddress;
    tick();
  }

  tick();
  setInterval(tick, 20000);

  /* --- client summary ---------------------------------------------------------------------------- */

  function text(sel, value) { var el = $(sel); if (el) el.textContent = value; }

  function loaded(data, failure) {
    var box = $('[data-testid="cc-client"]');
    box.classList.remove("is-loading");
    box.removeAttribute("aria-busy");
    var msg = $('[data-testid="cc-client-msg"]');
    if (failure || !data.found) {
      text('[data-testid="cc-name"]', failure ? "—" : T.noClient);
      text('[data-testid="cc-company"]', "");
      text('[data-testid="cc-responsible"]', "—");
      box.dataset.state = failure ? "unavailable" : "not-found";
      if (failure) { msg.textContent = failure; msg.hidden = false; msg.classList.add("cc-error"); }
    } else {
      text('[data-testid="cc-name"]', data.name);
      text('[data-testid="cc-company"]', data.company || "");
      text('[data-testid="cc-responsible"]', data.responsible || T.responsibleNone);
      if (data.deal) { text('[data-testid="cc-deal"]', data.deal); $(".cc-deal-row").hidden = false; }
      box.dataset.state = "found";
      var current = $('[data-testid="cc-local-time"]');
      // an address in the CRM is better than a guess from a mobile number's country
      if (data.local_time && (!current.dataset.zone || current.dataset.approx)) useZone(data.local_time);
    }
    B24Frame.fitWindow();
  }

  fetch(cfg.clientUrl + "?ref=" + encodeURIComponent(cfg.clientRef), {headers: headers()})
    .then(function (r) { return r.json().then(function (body) { return {ok: r.ok, body: body}; }); })
    .then(function (res) { if (res.ok) loaded(res.body); else loaded(null, (res.body && res.body.error) || T.unavailable); })
    .catch(function () { loaded(null, T.unavailable); });

  /* --- the call's state from the portal ---------------------------------------------------------- */

  function showState(state) {
    var el = $('[data-testid="cc-state"]');
    if (!el || !state) return;
    el.dataset.state = state;
    el.textContent = cfg.states[state] || state;
  }

  B24Frame.bindEvent("CallCard::CallStateChanged", function (state) { showState(state); });
  B24Frame.send("getStatus").then(function (st) { if (st && st.CALL_STATE) showState(st.CALL_STATE); });

  renumber();
})();
