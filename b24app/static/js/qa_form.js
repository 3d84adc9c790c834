/* The reviewer's scoring form: live score (the same rule as qa/scoring.py), self-saving drafts,
   submit / «Нельзя оценить», and the recording player with speed, ±10 s and keyboard keys. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("qa-config").textContent);
  var root = document.querySelector("[data-testid=qa-form]");
  var form = document.querySelector("[data-testid=qa-checklist]");
  var $ = function (sel) { return root.querySelector(sel); };
  var VALUES = { yes: 1, partly: 0.5, no: 0 };
  var revision = cfg.revision, editable = cfg.editable, saveTimer = null, saving = null, dirty = false;

  function items() {
    var out = [];
    (cfg.items || []).forEach(function (sec, si) {
      (sec.items || []).forEach(function (it, ii) { out.push({ key: String(it.id || (si + "." + ii)), it: it }); });
    });
    return out;
  }
  var ITEMS = items();

  function answerOf(key) {
    var el = form && form.querySelector('input[name="a_' + CSS.escape(key) + '"]:checked');
    return el ? el.value : null;
  }

  function itemScore(it, raw) {
    if (raw === null) return undefined;
    if (raw === "na") return null;
    if (it.scale === "points") return Number(raw) / (it.max_points || 1);
    return VALUES[raw];
  }

  /* Σ(weight × item score) / Σ(weight of applicable items) × 100; a failed critical item makes it 0. */
  function compute() {
    var earned = 0, applicable = 0, answered = 0, critical = false;
    ITEMS.forEach(function (x) {
      var v = itemScore(x.it, answerOf(x.key));
      if (v === undefined) return;
      answered++;
      if (v === null) return;
      var w = Number(x.it.weight) || 0;
      applicable += w; earned += w * v;
      if (x.it.critical && v === 0) critical = true;
    });
    var percent = applicable > 0 ? (critical ? 0 : Math.round(earned / applicable * 1000) / 10) : null;
    return { percent: percent, critical: critical, answered: answered, total: ITEMS.length };
  }

  function fmt(p) {
    if (p === null) return cfg.text.noData;
    return (cfg.lang === "en" ? String(p) : String(p).replace(".", ",")) + " %";
  }

  function showScore() {
    if (!form) return;
    var s = compute();
    $("[data-testid=qa-score]").textContent = fmt(s.percent);
    $("[data-testid=qa-progress]").textContent = cfg.text.answered.replace("{n}", s.answered).replace("{total}", s.total);
    $("[data-testid=qa-critical]").hidden = !s.critical;
  }

  function payload(extra) {
    var answers = {}, comments = {};
    ITEMS.forEach(function (x) {
      var a = answerOf(x.key);
      if (a !== null) answers[x.key] = x.it.scale === "points" && a !== "na" ? Number(a) : a;
      var c = form.querySelector('textarea[name="c_' + CSS.escape(x.key) + '"]');
      if (c && c.value.trim()) comments[x.key] = c.value.trim();
    });
    var body = { revision: revision, version_id: cfg.versionId, answers: answers, comments: comments,
                 comment: form.querySelector("[name=comment]").value,
                 for_meeting: form.querySelector("[name=for_meeting]").checked };
    for (var k in extra || {}) body[k] = extra[k];
    return body;
  }

  function post(url, body) {
    return fetch(url, { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Frame-Token": B24Frame.token() },
      body: JSON.stringify(body) }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) { return { ok: r.ok, status: r.status, data: data }; });
    });
  }

  function status(text) { $("[data-testid=qa-saved]").textContent = text || ""; }
  function error(text) { var e = $("[data-testid=qa-error]"); e.textContent = text || ""; e.hidden = !text; }

  function mark(keys) {
    root.querySelectorAll(".qa-item.missing").forEach(function (el) { el.classList.remove("missing"); });
    (keys || []).forEach(function (k) {
      var el = root.querySelector('.qa-item[data-key="' + CSS.escape(k) + '"]');
      if (el) el.classList.add("missing");
    });
    var first = root.querySelector(".qa-item.missing");
    if (first) first.scrollIntoView({ block: "center" });
  }

  function saveDraft() {
    if (!editable || !dirty) return Promise.resolve(true);
    if (saving) return saving.then(saveDraft);
    dirty = false;
    status(cfg.text.saving);
    saving = post(cfg.urls.draft, payload()).then(function (res) {
      saving = null;
      if (res.ok) { revision = res.data.revision; status(cfg.text.saved); error(""); return true; }
      if (res.status >= 500 || res.status === 0) { dirty = true; status(cfg.text.failed); schedule(5000); return false; }
      error(res.data.error || cfg.text.failed); lock(); return false;
    }, function () { saving = null; dirty = true; status(cfg.text.failed); schedule(5000); return false; });
    return saving;
  }

  function schedule(ms) {
    clearTimeout(saveTimer);
    saveTimer = setTimeout(saveDraft, ms);
  }

  function lock() {
    editable = false;
    root.querySelectorAll("[data-testid=qa-checklist] input, [data-testid=qa-checklist] textarea").forEach(function (el) {
      el.disabled = true;
    });
    root.querySelectorAll("[data-act=submit], [data-act=unscorable]").forEach(function (b) { b.disabled = true; });
  }

  function changed() {
    showScore();
    if (!editable || cfg.status === "submitted" || cfg.status === "unscorable") return;
    dirty = true;
    schedule(800);
  }

  function final(url, extra) {
    clearTimeout(saveTimer);
    error("");
    var wait = saving || Promise.resolve();
    return wait.then(function () { return post(url, payload(extra)); }).then(function (res) {
      if (res.ok) { dirty = false; window.location.replace(cfg.urls.reload); return; }
      mark(res.data.items);
      error(res.data.key === "review.incomplete" ? cfg.text.incomplete : (res.data.error || cfg.text.failed));
      if (res.status === 409) lock();
    }, function () { error(cfg.text.failed); });
  }

  if (form) {
    form.addEventListener("change", changed);
    form.addEventListener("input", function (e) { if (e.target.tagName === "TEXTAREA") changed(); });
    showScore();
  }

  root.addEventListener("click", function (e) {
    var btn = e.target.closest("[data-act]");
    if (!btn) return;
    var act = btn.getAttribute("data-act");
    if (act === "comment") {
      var ta = btn.closest(".qa-item").querySelector(".qa-item-comment");
      ta.hidden = !ta.hidden;
      if (!ta.hidden) ta.focus();
    } else if (act === "submit") {
      final(cfg.urls.submit);
    } else if (act === "unscorable") {
      $("[data-testid=qa-reason-box]").hidden = false;
      $("[data-testid=qa-reason]").focus();
    } else if (act === "unscorable-confirm") {
      final(cfg.urls.unscorable, { reason: $("[data-testid=qa-reason]").value });
    } else if (act === "edit") {
      editable = true;
      form.classList.remove("readonly");
      form.querySelectorAll("input, textarea").forEach(function (el) { el.disabled = false; el.readOnly = false; });
      form.querySelectorAll(".qa-comment-toggle").forEach(function (b) { b.hidden = false; });
      btn.outerHTML = '<button type="button" data-act="submit" data-testid="qa-submit">' + btn.getAttribute("data-submit-text") + "</button>";
    } else if (act === "topic") {
      post(cfg.urls.topic, { topic_id: $("#qa-topic-select").value }).then(function (res) {
        if (res.ok) window.location.replace(cfg.urls.reload); else error(res.data.error || cfg.text.failed);
      });
    }
  });

  root.addEventListener("click", function (e) {
    var a = e.target.closest("[data-open-path]");
    if (!a) return;
    e.preventDefault();
    B24Frame.openPath(a.getAttribute("data-open-path"));
  });

  window.addEventListener("beforeunload", function () { if (dirty) saveDraft(); });

  /* The player. */
  var audio = document.getElementById("qa-audio");
  if (audio) {
    var playBtn = $("[data-testid=qa-play]"), seek = $("[data-testid=qa-seek]"), time = $("[data-testid=qa-time]");
    var speed = $("[data-testid=qa-speed]"), RATES = ["1", "1.25", "1.5", "2"];
    var clock = function (s) { s = Math.max(0, Math.floor(s || 0)); return Math.floor(s / 60) + ":" + ("0" + s % 60).slice(-2); };
    var shift = function (d) {
      var end = isFinite(audio.duration) ? audio.duration : Infinity;
      audio.currentTime = Math.min(end, Math.max(0, audio.currentTime + d));
    };
    var toggle = function () { if (audio.paused) audio.play().catch(function () {}); else audio.pause(); };
    var setRate = function (r) { speed.value = r; audio.playbackRate = Number(r); audio.defaultPlaybackRate = Number(r); };
    var tick = function () {
      time.textContent = clock(audio.currentTime) + " / " + clock(audio.duration);
      if (isFinite(audio.duration) && audio.duration > 0) seek.value = Math.round(audio.currentTime / audio.duration * 1000);
    };
    audio.addEventListener("timeupdate", tick);
    audio.addEventListener("loadedmetadata", tick);
    audio.addEventListener("play", function () { playBtn.textContent = playBtn.getAttribute("data-pause"); root.dataset.playing = "1"; });
    audio.addEventListener("pause", function () { playBtn.textContent = playBtn.getAttribute("data-play"); root.dataset.playing = "0"; });
    audio.addEventListener("error", function () { $("[data-testid=qa-audio-error]").hidden = false; });
    seek.addEventListener("input", function () {
      if (isFinite(audio.duration)) audio.currentTime = seek.value / 1000 * audio.duration;
    });
    speed.addEventListener("change", function () { setRate(speed.value); });
    root.querySelector(".qa-player").addEventListener("click", function (e) {
      var b = e.target.closest("[data-act]");
      if (!b) return;
      var act = b.getAttribute("data-act");
      if (act === "play") toggle(); else if (act === "back") shift(-10); else if (act === "fwd") shift(10);
    });
    document.addEventListener("keydown", function (e) {
      var tag = (e.target.tagName || "").toLowerCase();
      if (tag === "input" && e.target.type !== "radio" && e.target.type !== "checkbox" && e.target.type !== "range"
          || tag === "textarea" || tag === "select" || e.ctrlKey || e.metaKey || e.altKey) return;
      var i = RATES.indexOf(speed.value);
      if (e.key === " ") { e.preventDefault(); toggle(); }
      else if (e.key === "ArrowLeft") { e.preventDefault(); shift(-10); }
      else if (e.key === "ArrowRight") { e.preventDefault(); shift(10); }
      else if (e.key === ">" || e.key === "Ю") { setRate(RATES[Math.min(RATES.length - 1, i + 1)]); }
      else if (e.key === "<" || e.key === "Б") { setRate(RATES[Math.max(0, i - 1)]); }
    });
  }
})();
