// Activity History page: the stored segments (GET /api/activity/segments), newest first, a page at
// a time, filtered by camera, activity and local days; the CSV link carries the same filters.
"use strict";
(() => {
  const app = document.getElementById("acth-app");
  if (!app) return;
  const A = window.vigilActivity;
  const $ = A.$;
  const texts = JSON.parse(app.dataset.texts);
  const names = JSON.parse(app.dataset.names);
  const words = JSON.parse(app.dataset.words || "{}");  // object and sound ids -> names in the page's language
  const size = Number(app.dataset.pageSize) || 50;
  const lang = document.documentElement.lang;
  const when = new Intl.DateTimeFormat(lang, { dateStyle: "short", timeStyle: "medium" });
  const format = (template, values) => template.replace(/\{(\w+)\}/g, (_, key) => String(values[key] ?? ""));
  let current = null;

  function cell(row, text, className) {
    const td = row.insertCell();
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  // "motion 0.020, voice 60%, cup, speech": the cues that explain a decision, then objects and sounds.
  function cues(c) {
    const means = A.cueText(texts.cues, c, Object.keys(texts.cues).filter((key) => c[key] >= 0.05));
    return [...means, ...A.named(words.objects, c.objects), ...A.named(words.sounds, c.sounds)].join(", ");
  }

  function person(td, segment) {
    if (!segment.visitor_id) { td.textContent = "\u2014"; return; }
    const link = document.createElement("a");
    link.href = `/visitors/${segment.visitor_id}`;
    link.textContent = segment.visitor_name || segment.visitor_id.slice(0, 8);
    td.appendChild(link);
  }

  function rows(segments) {
    const body = $("acth-segments").tBodies[0];
    body.replaceChildren();
    segments.forEach((s) => {
      const row = body.insertRow();
      row.dataset.activity = s.activity;
      row.dataset.id = String(s.id);
      cell(row, s.camera);
      person(row.insertCell(), s);
      const activity = cell(row, "");
      activity.append(A.swatch(s.activity), names[s.activity] || s.activity);
      cell(row, when.format(new Date(s.start)));
      cell(row, s.open ? texts.ongoing : when.format(new Date(s.end)));
      cell(row, A.duration(s.duration_s), "num");
      cell(row, A.fixed(s.confidence, 2), "num");
      cell(row, cues(s.cues), "muted cues");
    });
  }

  async function show(values) {
    current = values;
    $("acth-error").textContent = "";
    const query = A.apiQuery(values);
    if (!query) { $("acth-error").textContent = texts.bad_period; return; }
    $("acth-csv").href = `/api/activity/segments.csv?${query}`;
    query.set("limit", String(size));
    query.set("offset", String((values.page - 1) * size));
    $("acth-status").textContent = texts.loading;
    let page;
    try {
      page = await window.vigil.api("GET", `/api/activity/segments?${query}`);
    } catch (e) { $("acth-status").textContent = ""; $("acth-error").textContent = e.message; return; }
    const pages = Math.max(1, Math.ceil(page.total / size));
    $("acth-status").textContent = page.total ? format(texts.count, { total: page.total }) : texts.empty;
    $("acth-page").textContent = pages > 1 ? format(texts.page, { page: values.page, pages }) : "";
    $("acth-prev").hidden = values.page <= 1;
    $("acth-next").hidden = values.page >= pages;
    rows(page.segments);
    app.dataset.loaded = `${values.camera}|${values.activity}|${values.from}|${values.to}|${values.page}`;
  }

  function turn(step) {
    const query = new URLSearchParams(window.location.search);
    query.set("page", String(current.page + step));
    ["from", "to"].forEach((key) => query.set(key, current[key]));
    window.history.pushState(null, "", `?${query}`);
    show(A.readFilters());
  }
  $("acth-prev").addEventListener("click", () => turn(-1));
  $("acth-next").addEventListener("click", () => turn(1));
  A.bindFilters(show);
  show(A.readFilters());
})();
