// The pivot's form: without JavaScript it is a plain GET; with it, choosing rows, columns or the measure
// rebuilds the table at once. Runs again after a live refresh swaps the page's content.
(function () {
  "use strict";

  function init() {
    var form = document.querySelector("[data-testid=pivot-form]");
    if (!form || form.dataset.ready) return;
    form.dataset.ready = "1";
    form.querySelectorAll("select").forEach(function (select) {
      select.addEventListener("change", function () { form.submit(); });
    });
  }

  window.AnalyticsPivot = { init: init };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
  if (!window.AnalyticsPivotBound) {
    window.AnalyticsPivotBound = true;
    document.addEventListener("analytics:refreshed", init);
  }
})();
