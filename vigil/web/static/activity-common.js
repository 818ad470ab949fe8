// Shared by the activity pages (file analysis, Statistics, History), the live page's activity
// tiles and the cameras page: one colour per activity id (the only definition), the line saying
// what a camera's live activity hears. For Statistics and History: the filters
// (camera, activity, period as local dates) kept in the page's URL so a reload or a shared link
// shows the same, and number/time formatting.
"use strict";
window.vigilActivity = (() => {
  // Numbers in the page's language ("0,70" in French, "0.70" in English), without thousands
  // separators (as toFixed wrote them); Chart.js axes and tooltips use the same locale.
  const LANG = document.documentElement.lang || "en";
  if (window.Chart) window.Chart.defaults.locale = LANG;
  const COLOURS = {
    asleep: "#3949ab", eating: "#f57c00", reading: "#8e24aa", on_phone: "#00897b",
    conversation: "#fbc02d", busy: "#e53935", inactive: "#78909c", absent: "#cfd8dc",
  };
  const DEFAULT_DAYS = 28;
  const $ = (id) => document.getElementById(id);
  const pad = (n) => String(n).padStart(2, "0");
  const isoDate = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  // A yyyy-mm-dd of the date input as the browser's local midnight (not UTC's).
  const localMidnight = (text) => { const [y, m, d] = text.split("-").map(Number); return new Date(y, m - 1, d); };

  function swatch(id) {
    const span = document.createElement("span");
    span.className = "swatch";
    span.style.background = COLOURS[id] || "#888";
    return span;
  }

  // The filter form's values from the URL (defaults: the last 28 days, today included).
  function readFilters() {
    const query = new URLSearchParams(window.location.search);
    const today = new Date();
    const first = new Date(today.getFullYear(), today.getMonth(), today.getDate() - (DEFAULT_DAYS - 1));
    const values = {
      camera: query.get("camera") || "", activity: query.get("activity") || "",
      from: query.get("from") || isoDate(first), to: query.get("to") || isoDate(today),
      page: Math.max(1, parseInt(query.get("page") || "1", 10) || 1),
    };
    if ($("acth-camera")) $("acth-camera").value = values.camera;
    if ($("acth-activity")) $("acth-activity").value = values.activity;
    $("acth-from").value = values.from;
    $("acth-to").value = values.to;
    return values;
  }

  // The API's query: `from` local midnight, `to` the midnight after the last day (exclusive).
  function apiQuery(values) {
    const start = localMidnight(values.from);
    const end = localMidnight(values.to);
    end.setDate(end.getDate() + 1);
    if (!(start < end)) return null;
    const query = new URLSearchParams({ from: start.toISOString(), to: end.toISOString() });
    if (values.camera) query.set("camera", values.camera);
    if (values.activity) query.set("activity", values.activity);
    return query;
  }

  // Submitting the filters writes them into the URL (history entry) and calls `show`.
  function bindFilters(show) {
    $("acth-filters").addEventListener("submit", (event) => {
      event.preventDefault();
      const query = new URLSearchParams();
      ["camera", "activity"].forEach((key) => { const el = $(`acth-${key}`); if (el && el.value) query.set(key, el.value); });
      query.set("from", $("acth-from").value);
      query.set("to", $("acth-to").value);
      window.history.pushState(null, "", `?${query}`);
      show(readFilters());
    });
    window.addEventListener("popstate", () => show(readFilters()));
  }

  // `value` with exactly `digits` decimals, in the page's language (vigil.js).
  const fixed = (value, digits) => window.vigil.number(value, digits);

  function duration(seconds) {
    const s = Math.round(seconds);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return h ? `${h} h ${pad(m)} min` : m ? `${m} min ${pad(r)} s` : `${r} s`;
  }

  // A fraction as a percentage in the page's language (vigil.js).
  const percent = (fraction, digits = 0) => window.vigil.percent(fraction, digits);

  // "motion 0.018, eyes closed 100%": a segment's or frame's mean cues as the CLI writes them. Every
  // cue but motion (a box movement) is a share of the samples, shown as a percentage so that it
  // does not read like a count. `names`: cue id -> name in the page's language.
  function cueText(names, cues, keys) {
    return keys.map((key) => {
      const value = Number(cues[key]);
      return `${names[key]} ${key === "motion" ? fixed(value, 3) : percent(value)}`;
    });
  }

  // A cue summary's object or sound ids named in the page's language (`names`: the page's
  // `words.objects` or `words.sounds`, from vigil.activity.labels.cue_words); an unnamed id as it is.
  const named = (names, ids) => ids.map((id) => (names && names[id]) || id);

  // The sound a camera's live activity asked for and what it hears (GET /api/activity/live's
  // `sound`) in words, from the page's live.sound.* texts (`texts`, keys without the prefix): a
  // warning when sound was asked but nothing is heard; no line while the camera is stopped (null).
  const kHz = new Intl.NumberFormat(LANG, { maximumFractionDigits: 1 });
  const fill = (template, values) => template.replace(/\{(\w+)\}/g, (_, key) => String(values[key] ?? ""));
  function soundLine(sound, texts) {
    if (!sound) return { text: "", warn: false };
    const device = sound.device || "";
    let codec = (sound.codec || "").toUpperCase();
    if (sound.sample_rate) codec += `, ${kHz.format(sound.sample_rate / 1000)} kHz`;
    if (sound.problem) {
      return { text: fill(texts[`problem.${sound.problem}`] || sound.error || "", { device }), warn: true };
    }
    if (sound.source === "none") return { text: texts.none || "", warn: false };
    if (!sound.heard) return { text: fill(texts[`waiting.${sound.source}`] || "", { device }), warn: false };
    return { text: fill(texts[sound.source] || sound.heard, { codec, device }), warn: false };
  }

  // Writes that line into `element`: warning colour (.sound-warn) or muted, the server's reason
  // (redacted) on hover.
  function showSound(element, sound, texts) {
    const { text, warn } = soundLine(sound, texts);
    element.textContent = text;
    element.classList.toggle("sound-warn", warn);
    element.classList.toggle("muted", !warn);
    element.title = (sound && sound.error) || "";
  }

  return { COLOURS, ORDER: Object.keys(COLOURS), $, swatch, readFilters, apiQuery, bindFilters, fixed, percent, duration,
    cueText, named, soundLine, showSound };
})();
