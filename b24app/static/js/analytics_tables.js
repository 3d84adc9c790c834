// Analytics tables and the by-day chart: a click on a row drills down (its first cell's link works without JS),
// a CRM client opens in the portal's slider, and the chart is drawn again after a live refresh.
(function () {
  "use strict";

  document.addEventListener("click", function (e) {
    var crm = e.target.closest("[data-open-path]");
    if (crm) {
      // Inside the portal the CRM card opens in its slider; outside it the link's own href goes to the portal.
      if (window.B24Frame && window.B24Frame.inFrame) {
        e.preventDefault();
        window.B24Frame.openPath(crm.getAttribute("data-open-path"));
      }
      return;
    }
    if (e.target.closest("a, button, input, select, label")) return;
    var row = e.target.closest("tr[data-href]");
    if (!row) return;
    var selection = window.getSelection ? String(window.getSelection()) : "";
    if (selection) return;  // selecting a figure to copy it is not a click on the row
    window.location.href = row.getAttribute("data-href");
  });

  var COLORS = {incoming: "#2fc6f6", accepted: "#9dcf00", missed: "#ff5752", outgoing: "#7a81e4"};
  var chart = null;

  function init() {
    var canvas = document.getElementById("analytics-days-chart");
    var source = document.getElementById("analytics-days-data");
    if (chart) { chart.destroy(); chart = null; }
    if (!canvas || !source || typeof window.Chart === "undefined") return;
    var data = JSON.parse(source.textContent);
    chart = new window.Chart(canvas, {
      type: "line",
      data: {
        labels: data.labels,
        datasets: data.series.map(function (s) {
          return {label: s.label, data: s.data, borderColor: COLORS[s.key], backgroundColor: COLORS[s.key],
                  tension: 0, pointRadius: data.labels.length > 62 ? 0 : 2};
        })
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        interaction: {mode: "index", intersect: false},
        scales: {y: {beginAtZero: true, ticks: {precision: 0}}},
        plugins: {legend: {position: "bottom"}}
      }
    });
  }

  window.AnalyticsTables = {init: init};
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
  document.addEventListener("analytics:refreshed", init);
})();
