// «Отчёт» tab: start a report job, follow its progress, download the file when it is built.
(function () {
  "use strict";
  function texts() {
    var t = document.getElementById("report-run-texts");
    return t ? JSON.parse(t.innerHTML) : {};
  }
  function ru(iso) { var p = iso.split("-"); return p[2] + "." + p[1] + "." + p[0]; }

  function draw(row, run) {
    var t = texts();
    row.dataset.status = run.status;
    row.innerHTML = "";
    var period = document.createElement("td");
    period.textContent = ru(run.first) + " — " + ru(run.last);
    var state = document.createElement("td");
    state.setAttribute("data-testid", "report-run-status");
    if (run.status === "queued" || run.status === "running") {
      var bar = document.createElement("span");
      bar.className = "report-progress";
      bar.setAttribute("data-testid", "report-progress");
      var fill = document.createElement("span");
      fill.style.width = (run.progress || 0) + "%";
      bar.appendChild(fill);
      state.appendChild(bar);
      var stage = document.createElement("span");
      stage.className = "report-stage muted";
      stage.textContent = run.status_text + (run.stage ? ": " + run.stage : "") + " · " + (run.progress || 0) + "%";
      state.appendChild(stage);
    } else {
      state.textContent = run.status_text + (run.error ? ": " + run.error : "");
      if (run.status === "failed") state.className = "bad";
    }
    var calls = document.createElement("td");
    calls.className = "num";
    calls.textContent = run.calls == null ? "" : run.calls.toLocaleString("ru-RU");
    var file = document.createElement("td");
    if (run.download) {
      var a = document.createElement("a");
      a.href = run.download;
      a.textContent = t.download || "Скачать";
      a.setAttribute("data-testid", "report-download");
      file.appendChild(a);
    }
    if (run.file_url) {
      var d = document.createElement("a");
      d.href = run.file_url;
      d.target = "_blank";
      d.rel = "noopener";
      d.textContent = " " + (t.disk || "На Диске");
      d.setAttribute("data-testid", "report-disk-link");
      file.appendChild(d);
    }
    [period, state, calls, file].forEach(function (td) { row.appendChild(td); });
  }

  function follow(row, run, startDownload) {
    draw(row, run);
    if (run.status === "done") {
      if (startDownload && run.download) window.location.href = run.download;  // the browser keeps the page
      return;
    }
    if (run.status === "failed") return;
    setTimeout(function () {
      fetch(run.status_url, {headers: {"Accept": "application/json"}})
        .then(function (r) { return r.json(); })
        .then(function (next) { if (next && next.id) follow(row, next, startDownload); })
        .catch(function () { setTimeout(function () { follow(row, run, startDownload); }, 2000); });
    }, 1000);
  }

  function init() {
    var box = document.querySelector("[data-testid=report-builder]");
    if (!box || box.dataset.ready) return;
    box.dataset.ready = "1";
    var rows = document.querySelector("[data-testid=report-run-rows]");
    rows.querySelectorAll("tr[data-run]").forEach(function (row) {
      follow(row, JSON.parse(row.dataset.run), false);
    });
    var form = box.querySelector("form.report-start");
    var error = box.querySelector("[data-testid=report-error]");
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      error.hidden = true;
      var button = form.querySelector("button");
      button.disabled = true;
      fetch(form.dataset.url, {method: "POST", body: new FormData(form), headers: {"Accept": "application/json"}})
        .then(function (r) { return r.json().then(function (body) { return {ok: r.ok, body: body}; }); })
        .then(function (res) {
          button.disabled = false;
          if (!res.ok) { error.textContent = res.body.error || ""; error.hidden = false; return; }
          var row = document.createElement("tr");
          row.setAttribute("data-testid", "report-run");
          rows.insertBefore(row, rows.firstChild);
          rows.closest("table").hidden = false;
          document.querySelector("[data-testid=report-runs-empty]").hidden = true;
          follow(row, res.body, true);
        })
        .catch(function () { button.disabled = false; });
    });
  }
  init();
  document.addEventListener("analytics:refreshed", init);
})();
