// Activity Statistics page: GET /api/activity/statistics for the chosen camera and local days,
// then with Chart.js (served from /static/vendor): hours per activity per day and per ISO week
// (stacked bars), minutes per day per activity (lines: the trend), the totals, this week against
// the last, and the transitions as a from -> to matrix. Charts are kept on window.acthCharts so
// the browser tests can read what was drawn.
"use strict";
(() => {
  const app = document.getElementById("acth-app");
  if (!app) return;
  const A = window.vigilActivity;
  const $ = A.$;
  const texts = JSON.parse(app.dataset.texts);
  const names = JSON.parse(app.dataset.names);
  const label = (id) => names[id] || id;
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const charts = {};
  window.acthCharts = charts;

  function barChart(canvas, periods, present) {
    return new Chart(canvas, {
      type: "bar",
      data: {
        labels: periods.map((p) => p.label),
        datasets: present.map((id) => ({
          label: label(id), activity: id, backgroundColor: A.COLOURS[id],
          data: periods.map((p) => (p.seconds[id] || 0) / 3600),
        })),
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        scales: { x: { stacked: true, ticks: { autoSkip: true, maxRotation: 60 } }, y: { stacked: true, beginAtZero: true,
          title: { display: true, text: texts.hours } } },
        plugins: { legend: { position: "bottom" },
          tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${A.duration(c.raw * 3600)}` } } },
      },
    });
  }

  function trendChart(canvas, days, present) {
    return new Chart(canvas, {
      type: "line",
      data: {
        labels: days.map((d) => d.label),
        datasets: present.map((id) => ({
          label: label(id), activity: id, borderColor: A.COLOURS[id], backgroundColor: A.COLOURS[id],
          cubicInterpolationMode: "monotone", pointRadius: 2, data: days.map((d) => (d.seconds[id] || 0) / 60),
        })),
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        scales: { x: { ticks: { autoSkip: true, maxRotation: 60 } },
                  y: { beginAtZero: true, title: { display: true, text: texts.minutes } } },
        plugins: { legend: { position: "bottom" } },
      },
    });
  }

  function cell(row, text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  }

  function nameCell(row, id) {
    const td = cell(row, "");
    td.append(A.swatch(id), label(id));
    row.dataset.activity = id;
    return td;
  }

  function totalsTable(stats) {
    const body = $("acth-totals").tBodies[0];
    body.replaceChildren();
    const all = Object.values(stats.totals).reduce((a, b) => a + b, 0);
    stats.activities.filter((id) => stats.totals[id]).forEach((id) => {
      const row = body.insertRow();
      nameCell(row, id);
      cell(row, A.duration(stats.totals[id]), "num");
      cell(row, A.percent(stats.totals[id] / all, 1), "num");
    });
  }

  function trendsTable(stats) {
    const body = $("acth-trends").tBodies[0];
    body.replaceChildren();
    stats.trends.forEach((t) => {
      const row = body.insertRow();
      nameCell(row, t.activity);
      cell(row, A.duration(t.last_week_s), "num");
      cell(row, A.duration(t.this_week_s), "num");
      cell(row, (t.change_s >= 0 ? "+" : "\u2212") + A.duration(Math.abs(t.change_s)), t.change_s >= 0 ? "num up" : "num down");
    });
  }

  // Rows: the activity before; columns: the one after; only activities that take part.
  function transitionsMatrix(stats) {
    const table = $("acth-transitions");
    const head = table.tHead, body = table.tBodies[0];
    head.replaceChildren(); body.replaceChildren();
    $("acth-transitions-none").hidden = stats.transitions.length > 0;
    table.hidden = stats.transitions.length === 0;
    if (!stats.transitions.length) return;
    const counts = {};
    stats.transitions.forEach((t) => { counts[`${t.from}>${t.to}`] = t.count; });
    const sources = stats.activities.filter((id) => stats.transitions.some((t) => t.from === id));
    const targets = stats.activities.filter((id) => stats.transitions.some((t) => t.to === id));
    const top = head.insertRow();
    const corner = document.createElement("th");
    corner.textContent = texts.before_after;
    corner.className = "muted";
    top.appendChild(corner);
    targets.forEach((id) => { const th = document.createElement("th"); th.append(A.swatch(id), label(id)); top.appendChild(th); });
    const max = Math.max(...Object.values(counts));
    sources.forEach((from) => {
      const row = body.insertRow();
      const th = document.createElement("th");
      th.append(A.swatch(from), label(from));
      row.appendChild(th);
      targets.forEach((to) => {
        const n = counts[`${from}>${to}`] || 0;
        const td = cell(row, n ? String(n) : "\u00b7", "num");
        td.id = `acth-tr-${from}-${to}`;
        td.dataset.count = String(n);
        if (n) td.style.background = `rgba(46, 204, 113, ${(0.15 + 0.55 * n / max).toFixed(2)})`;
      });
    });
  }

  async function show(values) {
    $("acth-error").textContent = "";
    const query = A.apiQuery(values);
    if (!query) { $("acth-error").textContent = texts.bad_period; return; }
    query.set("tz", zone);
    $("acth-status").textContent = texts.loading;
    let stats;
    try {
      stats = await window.vigil.api("GET", `/api/activity/statistics?${query}`);
    } catch (e) { $("acth-status").textContent = ""; $("acth-error").textContent = e.message; return; }
    const present = stats.activities.filter((id) => stats.totals[id]);
    $("acth-status").textContent = present.length ? "" : texts.empty;
    app.dataset.loaded = `${values.camera}|${values.from}|${values.to}`;  // for the tests: this filter drawn
    Object.values(charts).forEach((chart) => chart.destroy());
    Chart.defaults.color = getComputedStyle(document.body).color;
    Chart.defaults.borderColor = "rgba(255, 255, 255, 0.12)";
    charts.days = barChart($("acth-days"), stats.days, present);
    charts.weeks = barChart($("acth-weeks"), stats.weeks, present);
    charts.trend = trendChart($("acth-trend"), stats.days, present);
    totalsTable(stats);
    trendsTable(stats);
    transitionsMatrix(stats);
  }

  A.bindFilters(show);
  show(A.readFilters());
})();
