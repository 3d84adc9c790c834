// The call list and the call page: CRM links open in the portal's slider, the list's own search
// (number, outcome) rides along when the filter bar above is changed, the player reports a failed load.
(function () {
  "use strict";

  function keepSearch() {
    var search = document.querySelector("[data-testid=calls-search]");
    var filters = document.querySelector("[data-testid=filters]");
    if (!search || !filters) return;
    var args = {};
    try { args = JSON.parse(search.getAttribute("data-calls-args") || "{}"); } catch (e) { args = {}; }
    Object.keys(args).forEach(function (name) {
      var input = filters.querySelector("input[type=hidden][name='" + name + "']");
      if (!input) {
        input = document.createElement("input");
        input.type = "hidden";
        input.name = name;
        filters.appendChild(input);
      }
      input.value = args[name];
    });
  }

  function watchPlayer() {
    var audio = document.getElementById("call-audio");
    var error = document.querySelector("[data-testid=call-audio-error]");
    if (!audio || !error || audio.getAttribute("data-watched")) return;
    audio.setAttribute("data-watched", "1");
    audio.addEventListener("error", function () { error.hidden = false; });
  }

  function init() {
    keepSearch();
    watchPlayer();
  }

  if (!window.__analyticsCallsClicks) {
    window.__analyticsCallsClicks = true;
    document.addEventListener("click", function (e) {
      var a = e.target.closest && e.target.closest("[data-open-path]");
      if (!a) return;
      e.preventDefault();
      if (window.B24Frame) window.B24Frame.openPath(a.getAttribute("data-open-path"));
    });
    document.addEventListener("analytics:refreshed", init);
  }
  window.AnalyticsCalls = { init: init };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
