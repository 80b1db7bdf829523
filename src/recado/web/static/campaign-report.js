// Draws a campaign's hourly chart from the data-hourly attribute of its canvas (the report's
// hourly series). No inline script: the CSP forbids it.
(function () {
  "use strict";
  const SERIES = [
    ["sent", "Sent", "#0b6bcb"],
    ["delivered", "Delivered", "#1f7a3a"],
    ["clicks", "Clicks", "#8e44ad"],
    ["conversions", "Conversions", "#d97706"],
  ];

  function start() {
    const canvas = document.getElementById("chart-hourly");
    if (!canvas || !window.Chart) return;
    const hours = JSON.parse(canvas.dataset.hourly || "[]");
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: hours.map((h) => h.hour.slice(5, 13).replace("T", " ") + "h"),
        datasets: SERIES.map(([key, label, color]) => ({
          label: label, data: hours.map((h) => h[key]), borderColor: color,
          backgroundColor: color, borderWidth: 1,
        })),
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        interaction: { mode: "index", intersect: false },
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
      },
    });
    canvas.dataset.drawn = "true";
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
