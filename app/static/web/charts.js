/* Draw every <figure class="chart"> from the table inside it (the table stays as the fallback). */
(function () {
  "use strict";
  var COLORS = ["#2563eb", "#16a34a", "#f59e0b", "#9333ea"];

  function formatter(unit) {
    if (unit === "USD") {
      // Cents for amounts of a dollar and more; three significant digits below (a request
      // costs millionths), so a small axis does not read $0, $0, $0.
      return function (value) {
        var amount = Number(value);
        var options = Math.abs(amount) >= 1 || amount === 0 ? {maximumFractionDigits: 2}
          : {maximumSignificantDigits: 3};
        return "$" + amount.toLocaleString("en-US", options);
      };
    }
    return function (value) { return Number(value).toLocaleString("en-US"); };
  }

  function draw(figure) {
    if (figure.dataset.drawn || typeof window.Chart === "undefined") { return; }
    var table = figure.querySelector("table.chart-data");
    var heads = Array.prototype.slice.call(table.tHead.rows[0].cells, 1);
    var rows = Array.prototype.slice.call(table.tBodies[0].rows);
    var labels = rows.map(function (row) { return row.cells[0].textContent; });
    var datasets = heads.map(function (head, i) {
      return {
        label: head.textContent,
        data: rows.map(function (row) { return Number(row.cells[i + 1].dataset.value); }),
        backgroundColor: COLORS[i % COLORS.length], borderColor: COLORS[i % COLORS.length],
        pointRadius: 2, tension: 0.2
      };
    });
    var unit = figure.dataset.unit, format = formatter(unit);
    var stacked = figure.dataset.stacked === "true";
    var canvas = document.createElement("canvas");
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", figure.querySelector("figcaption").textContent);
    figure.querySelector(".chart-canvas").appendChild(canvas);
    new window.Chart(canvas, {
      type: figure.dataset.chart,
      data: {labels: labels, datasets: datasets},
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        scales: {
          x: {stacked: stacked, ticks: {maxTicksLimit: 12}},
          y: {stacked: stacked, beginAtZero: true, title: {display: true, text: unit},
              ticks: {callback: format}}
        },
        plugins: {
          legend: {display: datasets.length > 1},
          tooltip: {callbacks: {label: function (ctx) {
            return ctx.dataset.label + ": " + format(ctx.parsed.y) + (unit === "USD" ? "" : " " + unit);
          }}}
        }
      }
    });
    figure.querySelector("details").open = false;
    figure.dataset.drawn = "true";
  }

  window.RelaygateCharts = {
    drawAll: function (root) {
      (root || document).querySelectorAll("figure.chart").forEach(draw);
    }
  };
  document.addEventListener("DOMContentLoaded", function () { window.RelaygateCharts.drawAll(); });
  document.addEventListener("htmx:afterSettle", function () { window.RelaygateCharts.drawAll(); });
})();
