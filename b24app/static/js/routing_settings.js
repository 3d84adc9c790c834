/* «Распределение звонков»: confirm before a run that writes, show only the stages of the chosen funnels,
   and follow the latest run's progress until it ends (then show the page again with its counts). */
(function () {
  "use strict";
  var section = document.querySelector('[data-testid="routing-section"]');
  if (!section) return;

  section.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      if (!window.confirm(form.dataset.confirm)) e.preventDefault();
    });
  });

  /* With no funnel chosen every funnel takes part, so every stage may be picked. */
  var funnels = section.querySelectorAll(".rt-funnel");
  function showStages() {
    var any = Array.prototype.some.call(funnels, function (f) {
      return f.querySelector('input[name="categories"]').checked;
    });
    funnels.forEach(function (f) {
      var on = !any || f.querySelector('input[name="categories"]').checked;
      var box = f.querySelector(".rt-stages");
      box.hidden = !on;
      if (!on) box.querySelectorAll("input").forEach(function (i) { i.checked = false; });
    });
  }
  funnels.forEach(function (f) { f.querySelector('input[name="categories"]').addEventListener("change", showStages); });
  if (funnels.length) showStages();

  var latest = section.querySelector('[data-testid="rt-latest"]');
  if (!latest || !latest.dataset.statusUrl) return;  /* QA reviewers see the run, not its live progress */
  var bar = latest.querySelector(".progress .bar"), text = latest.querySelector('[data-testid="rt-progress-text"]');
  function poll() {
    var status = latest.dataset.status;
    if (status !== "queued" && status !== "running") return;
    fetch(latest.dataset.statusUrl, {headers: {"X-Frame-Token": B24Frame.token()}})
      .then(function (r) { return r.json(); })
      .then(function (run) {
        bar.style.width = (run.progress || 0) + "%";
        text.textContent = text.dataset.template.replace("{read}", run.deals_read)
          .replace("{planned}", run.planned).replace("{applied}", run.applied);
        if (run.status !== "queued" && run.status !== "running") { window.location.href = latest.dataset.doneUrl; return; }
        setTimeout(poll, 1000);
      }).catch(function () { setTimeout(poll, 3000); });
  }
  poll();
})();
