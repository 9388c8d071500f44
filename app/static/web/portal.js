/* The key holders' portal: the pasted key lives in sessionStorage and goes only in a header. */
(function () {
  "use strict";
  var STORE = "relaygate.portalKey";

  function $(id) { return document.getElementById(id); }

  function money(value) {
    return Number(value).toLocaleString("en-US", {maximumFractionDigits: 6});
  }

  function count(value) { return Number(value).toLocaleString("en-US"); }

  function cell(row, text, numeric) {
    var td = document.createElement("td");
    td.textContent = text;
    if (numeric) { td.className = "num"; }
    row.appendChild(td);
    return td;
  }

  function fill(tableId, items, columns) {
    var body = $(tableId).tBodies[0];
    body.textContent = "";
    if (!items.length) {
      var empty = body.insertRow();
      var td = cell(empty, "Nothing yet.");
      td.colSpan = columns.length;
      td.className = "muted";
    }
    items.forEach(function (item) {
      var row = body.insertRow();
      columns.forEach(function (column) { cell(row, column.text(item), column.numeric); });
    });
  }

  var LIMIT_NAMES = {tokens: "Tokens (total)", dailyCost: "Cost today",
                     requestsPerMinute: "Requests per minute", concurrency: "Concurrent requests"};

  function limitName(limit) {
    if (limit.name.indexOf("plan:") === 0) {
      var parts = limit.name.split(":");
      return "Plan " + parts[1] + ", " + parts[2] + " models (" + limit.unit + ")";
    }
    return LIMIT_NAMES[limit.name] || limit.name;
  }

  function shown(value, unit) {
    if (value === null || value === undefined) { return "no limit"; }
    return unit === "USD" ? "$" + money(value) : count(value);
  }

  function remaining(limit) {
    if (limit.limit === null || limit.limit === undefined) { return "unlimited"; }
    if (limit.remaining === undefined) {
      return "per " + (limit.name === "concurrency" ? "moment" : "minute");
    }
    var left = shown(limit.remaining, limit.unit);
    return limit.resetsAt ? left + " until " + String(limit.resetsAt).slice(0, 16).replace("T", " ")
      : left;
  }

  function chart(title, unit, series, columns, kind, stacked) {
    var figure = document.createElement("figure");
    figure.className = "chart";
    figure.dataset.chart = kind;
    figure.dataset.unit = unit;
    figure.dataset.stacked = stacked ? "true" : "false";
    var caption = document.createElement("figcaption");
    caption.textContent = title + " (" + unit + ")";
    var canvas = document.createElement("div");
    canvas.className = "chart-canvas";
    var details = document.createElement("details");
    details.open = true;
    var summary = document.createElement("summary");
    summary.textContent = "Show as table";
    var table = document.createElement("table");
    table.className = "chart-data";
    var head = table.createTHead().insertRow();
    var th = document.createElement("th");
    th.textContent = "Day (UTC)";
    head.appendChild(th);
    columns.forEach(function (column) {
      var h = document.createElement("th");
      h.textContent = column.label;
      head.appendChild(h);
    });
    var body = table.createTBody();
    series.forEach(function (bucket) {
      var row = body.insertRow();
      var label = document.createElement("th");
      label.textContent = String(bucket.date).slice(0, 10);
      row.appendChild(label);
      columns.forEach(function (column) {
        var td = cell(row, unit === "USD" ? money(bucket[column.key]) : count(bucket[column.key]), true);
        td.dataset.value = bucket[column.key];
      });
    });
    details.appendChild(summary);
    details.appendChild(table);
    figure.appendChild(caption);
    figure.appendChild(canvas);
    figure.appendChild(details);
    return figure;
  }

  function render(report) {
    $("portal-key-name").textContent = report.key.name;
    var permissions = [].concat(report.key.permissions).join(", ");
    $("portal-key-meta").textContent = (report.key.isActive ? "active" : "revoked") +
      " · providers " + permissions + " · expires " + (report.key.expiresAt || "never") +
      " · last 30 days: " + count(report.summary.totalRequests) + " requests, $" +
      money(report.summary.totalCost);
    fill("portal-limits", report.limits, [
      {text: limitName},
      {text: function (l) { return shown(l.limit, l.unit); }, numeric: true},
      {text: function (l) { return l.used === undefined ? "–" : shown(l.used, l.unit); }, numeric: true},
      {text: remaining, numeric: true}
    ]);
    var charts = $("portal-charts");
    charts.textContent = "";
    charts.appendChild(chart("Requests", "requests", report.series,
      [{key: "requests", label: "Requests"}], "bar", false));
    charts.appendChild(chart("Tokens", "tokens", report.series,
      [{key: "inputTokens", label: "Input"}, {key: "outputTokens", label: "Output"},
       {key: "cacheWriteTokens", label: "Cache write"}, {key: "cacheReadTokens", label: "Cache read"}],
      "bar", true));
    charts.appendChild(chart("Cost", "USD", report.series, [{key: "cost", label: "Cost"}], "line", false));
    window.RelaygateCharts.drawAll(charts);
    fill("portal-models", report.models, [
      {text: function (m) { return m.name; }},
      {text: function (m) { return count(m.requests); }, numeric: true},
      {text: function (m) { return count(m.totalTokens); }, numeric: true},
      {text: function (m) { return money(m.cost); }, numeric: true}
    ]);
    fill("portal-allowed", report.allowedModels, [
      {text: function (m) { return m.id; }},
      {text: function (m) { return m.provider; }},
      {text: function (m) { return money(m.inputPrice); }, numeric: true},
      {text: function (m) { return money(m.outputPrice); }, numeric: true}
    ]);
    $("portal-login").hidden = true;
    $("portal-report").hidden = false;
  }

  function fail(message) {
    $("portal-error").textContent = message;
    $("portal-error").hidden = false;
    $("portal-login").hidden = false;
    $("portal-report").hidden = true;
  }

  function load(key) {
    $("portal-error").hidden = true;
    fetch("/api/keys/me/usage", {headers: {"x-api-key": key}, credentials: "omit",
                                 cache: "no-store"})
      .then(function (response) {
        return response.json().then(function (body) { return {status: response.status, body: body}; });
      })
      .then(function (answer) {
        if (answer.status === 200 && answer.body.success) {
          render(answer.body.data);
          return;
        }
        if (answer.status === 401) { window.sessionStorage.removeItem(STORE); }
        fail((answer.body.error && answer.body.error.message) || "The gateway refused the key.");
      })
      .catch(function () { fail("The gateway did not answer."); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".origin").forEach(function (element) {
      element.textContent = window.location.origin;
    });
    $("portal-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var key = $("portal-key").value.trim();
      $("portal-key").value = "";
      window.sessionStorage.setItem(STORE, key);
      load(key);
    });
    $("portal-forget").addEventListener("click", function () {
      window.sessionStorage.removeItem(STORE);
      $("portal-report").hidden = true;
      $("portal-login").hidden = false;
    });
    var saved = window.sessionStorage.getItem(STORE);
    if (saved) { load(saved); }
  });
})();
