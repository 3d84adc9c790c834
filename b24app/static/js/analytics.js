// Analytics pages: the filter bar submits itself; editing a date makes the period custom; and while the tab
// is visible the page asks every 2 s whether the figures were recounted, and if so swaps its block for a
// fresh one (no reload: the scroll, the filters and the iframe stay) and tells page scripts to redraw.
(function () {
  "use strict";

  var form = document.querySelector("[data-testid=filters]");
  if (form) {
    var period = form.querySelector("[data-period]");
    form.querySelectorAll("input[type=date]").forEach(function (input) {
      input.addEventListener("change", function () {
        if (period) period.value = "custom";
        form.submit();
      });
    });
    form.querySelectorAll("select").forEach(function (select) {
      select.addEventListener("change", function () { form.submit(); });
    });
  }

  var body = document.querySelector(".a-body");
  if (!body || !window.fetch) return;

  var EVERY = 2000, MAX_DELAY = 60000;
  // The app's root from this script's own address (…/static/js/analytics.js), so a prefix still works.
  var script = document.currentScript || document.querySelector('script[src*="js/analytics.js"]');
  var root = script ? script.src.replace(/\/static\/js\/analytics\.js.*$/, "") : "";
  var liveUrl = root + "/b24/analytics/live";
  // The version the page's figures were read at (rendered by the server), so a recount between the
  // render and the first poll is not missed; without it, the first poll's answer.
  var drawn = document.querySelector(".a-body[data-version]");
  var known = drawn && drawn.dataset.version !== "" ? Number(drawn.dataset.version) : null, delay = EVERY, timer = null, busy = false, stopped = false;
  var loaded = {};  // external scripts already run on this page: a refresh must not run them (and their listeners) twice
  document.querySelectorAll("script[src]").forEach(function (s) { loaded[s.src] = true; });

  function token() {
    if (window.B24Frame && window.B24Frame.token) return window.B24Frame.token();
    var m = document.querySelector('meta[name="frame-token"]');
    return m ? m.content : "";
  }

  function get(url) {
    return fetch(url, { headers: { "X-Frame-Token": token() }, credentials: "same-origin", cache: "no-store" });
  }

  function schedule(ms) {
    clearTimeout(timer);
    timer = null;
    if (stopped || document.visibilityState !== "visible") return;  // visibilitychange starts it again
    timer = setTimeout(poll, ms);
  }

  function refused(status) {
    // The session ended or the viewer lost his access: asking again cannot help; a reload will say why.
    if (status === 401 || status === 403) { stopped = true; return true; }
    return false;
  }

  function failed() {
    delay = Math.min(delay * 2, MAX_DELAY);
    schedule(delay);
  }

  function poll() {
    if (busy || stopped) return;
    busy = true;
    get(liveUrl).then(function (r) {
      if (refused(r.status)) return null;
      if (!r.ok) throw new Error("live " + r.status);
      return r.json();
    }).then(function (data) {
      if (!data) return null;
      if (known === null) { known = data.version; return null; }
      if (data.version === known) return null;
      return refresh().then(function () { known = data.version; });
    }).then(function () {
      busy = false;
      delay = EVERY;
      schedule(EVERY);
    }, function () {
      busy = false;
      failed();
    });
  }

  function partialUrl() {
    var url = new URL(window.location.href);
    url.searchParams.set("partial", "1");
    url.hash = "";
    return url.toString();
  }

  function refresh() {
    return get(partialUrl()).then(function (r) {
      if (refused(r.status)) return;
      if (!r.ok) throw new Error("partial " + r.status);
      return r.text().then(swap);
    });
  }

  function swap(html) {
    var x = window.scrollX, y = window.scrollY;
    body.innerHTML = html;
    // Scripts set by innerHTML do not run: inline ones run again (they belong to the block), a file the page
    // has not run yet is loaded; data blocks (application/json) are left to the page scripts.
    var waits = [];
    body.querySelectorAll("script").forEach(function (old) {
      var type = (old.getAttribute("type") || "").toLowerCase();
      if (type && type !== "text/javascript" && type !== "module") return;
      if (old.src && loaded[old.src]) return;
      var s = document.createElement("script");
      for (var i = 0; i < old.attributes.length; i++) s.setAttribute(old.attributes[i].name, old.attributes[i].value);
      if (old.src) {
        loaded[old.src] = true;
        waits.push(new Promise(function (done) { s.onload = done; s.onerror = done; }));
      } else {
        s.textContent = old.textContent;
      }
      old.parentNode.replaceChild(s, old);
    });
    window.scrollTo(x, y);
    return Promise.all(waits).then(function () {
      document.dispatchEvent(new Event("analytics:refreshed"));
    });
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") {
      delay = EVERY;
      if (!busy) poll();  // back on the tab: catch up at once
    } else {
      clearTimeout(timer);
      timer = null;
    }
  });

  window.AnalyticsLive = { poll: poll, version: function () { return known; } };
  if (document.visibilityState === "visible") poll();  // the version this page was drawn at
})();
