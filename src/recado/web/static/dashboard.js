// Draws the dashboard charts from the JSON the page points to. No inline script: the CSP forbids it.
(function () {
  "use strict";
  const COLORS = {
    sent: "#0b6bcb", delivered: "#1f7a3a", clicked: "#8e44ad", replies: "#d97706", opt_outs: "#b42318",
  };
  const LABELS = {
    sent: "Sent", delivered: "Delivered", clicked: "Clicks", replies: "Replies", opt_outs: "Opt-outs",
  };

  function dataset(data, name, kind) {
    return {
      label: LABELS[name], data: data.series[name], borderColor: COLORS[name],
      backgroundColor: COLORS[name], type: kind, tension: 0.2, pointRadius: 2,
    };
  }

  function draw(canvasId, data, names, kind) {
    const canvas = document.getElementById(canvasId);
    if (!canvas || !window.Chart) return;
    new window.Chart(canvas, {
      type: kind,
      data: { labels: data.days.map((d) => d.slice(5)), datasets: names.map((n) => dataset(data, n, kind)) },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        interaction: { mode: "index", intersect: false },
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
      },
    });
    canvas.dataset.drawn = "true";
  }

  function start() {
    const first = document.getElementById("chart-sending");
    if (!first) return;
    fetch(first.dataset.source, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((response) => response.json())
      .then((data) => {
        draw("chart-sending", data, ["sent", "delivered", "clicked"], "line");
        draw("chart-responses", data, ["replies", "opt_outs"], "bar");
      });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
