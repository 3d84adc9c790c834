// The overview's chart: calls by day, stacked by outcome (Chart.js 4, loaded by the layout).
(function () {
  "use strict";
  var chart = null;

  function initOverview() {
    var canvas = document.getElementById("chart-by-day");
    var source = document.getElementById("overview-by-day");
    if (!canvas || !source || typeof Chart === "undefined") return;
    var data = JSON.parse(source.textContent);
    if (chart) chart.destroy();  // a live refresh swapped the canvas: draw on the new one
    chart = new Chart(canvas, {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: data.datasets.map(function (d) {
          return { label: d.label, data: d.data, backgroundColor: d.color, stack: "calls", borderWidth: 0 };
        })
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
        plugins: { legend: { position: "bottom" } }
      }
    });
    canvas.dataset.drawn = "1";
  }

  window.initAnalyticsOverview = initOverview;
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", initOverview);
  } else {
    initOverview();
  }
  document.addEventListener("analytics:refreshed", initOverview);
})();
