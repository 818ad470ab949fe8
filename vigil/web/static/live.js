// Live page: keeps each camera's state and fps up to date (polls /api/cameras), drives the JPEG
// refresh mode when there are too many cameras for MJPEG streams, and closes the streams while
// the tab is hidden (no encoding or bandwidth for nobody).
"use strict";
(() => {
  const grid = document.getElementById("live-grid");
  if (!grid) return;
  const texts = JSON.parse(grid.dataset.texts || "{}");
  const mode = grid.dataset.mode;
  const period = 1000 / Math.max(0.2, parseFloat(grid.dataset.fps) || 5);
  const images = Array.from(grid.querySelectorAll("img.live-img"));
  // Which cameras, and which of them have an activity tile: a change reloads the page.
  const known = images.map((img) => `${img.dataset.cameraId}:${document.getElementById(`live-activity-${img.dataset.cameraId}`) ? 1 : 0}`)
    .sort().join(",");

  function format(template, values) {
    return template.replace(/\{(\w+)\}/g, (_, key) => String(values[key] ?? ""));
  }

  function showCamera(camera) {
    const state = document.getElementById(`live-state-${camera.id}`);
    if (state) {
      state.textContent = (texts.states || {})[camera.state] || camera.state;
      state.className = `live-state state-${camera.state}`;
    }
    const fps = document.getElementById(`live-fps-${camera.id}`);
    if (fps) {
      fps.textContent = camera.health
        ? format(texts.fps || "{input} / {analysed} fps", {  // 33,7 in French
            input: window.vigil.number(camera.health.input_fps),
            analysed: window.vigil.number(camera.health.analysed_fps) })
        : "";
    }
    const error = document.getElementById(`live-error-${camera.id}`);
    if (error) error.textContent = camera.last_error || "";
  }

  async function poll() {
    try {
      const response = await fetch("/api/cameras", { credentials: "same-origin" });
      if (response.ok) {
        const cameras = await response.json();
        const ids = cameras.map((c) => `${c.id}:${c.activity ? 1 : 0}`).sort().join(",");
        if (ids !== known) { window.location.reload(); return; }  // cameras added, removed, activity switched
        cameras.forEach(showCamera);
      }
    } catch (e) { /* server restarting: try again later */ }
    setTimeout(poll, 2000);
  }

  // Refresh mode: the next picture is asked for once the previous one arrived.
  function refresh(img) {
    if (document.hidden) { img.dataset.paused = "1"; return; }
    img.src = `${img.dataset.src}?t=${Date.now()}`;
  }
  if (mode === "refresh") {
    images.forEach((img) => {
      img.addEventListener("load", () => setTimeout(() => refresh(img), period));
      img.addEventListener("error", () => setTimeout(() => refresh(img), 2000));
      refresh(img);
    });
  }

  document.addEventListener("visibilitychange", () => {
    images.forEach((img) => {
      if (mode === "mjpeg") {
        if (document.hidden) { img.dataset.stream = img.src; img.removeAttribute("src"); }
        else if (img.dataset.stream) { img.src = img.dataset.stream; }
      } else if (!document.hidden && img.dataset.paused) {
        delete img.dataset.paused;
        refresh(img);
      }
    });
  });

  // Activity tiles (cameras with activity analysis on): the current activity, since when and how
  // sure, from GET /api/activity/live (the pipelines' state in memory) every few seconds.
  const tiles = Array.from(grid.querySelectorAll(".live-activity"));
  const activityTexts = texts.activity || {};
  const clock = new Intl.DateTimeFormat(document.documentElement.lang, { hour: "2-digit", minute: "2-digit" });
  const { COLOURS } = window.vigilActivity;  // the activity pages' colours (activity-common.js)

  const soundTexts = activityTexts.sound || {};  // the sound line: window.vigilActivity.showSound

  function showActivity(state) {
    const tile = document.getElementById(`live-activity-${state.camera_id}`);
    if (!tile) return;
    const part = (name) => tile.querySelector(`.${name}`);
    const sound = part("act-sound");
    if (sound) window.vigilActivity.showSound(sound, state.sound, soundTexts);
    tile.dataset.activity = state.activity || "";
    part("act-swatch").className = state.activity ? "act-swatch swatch" : "act-swatch";
    part("act-swatch").style.background = COLOURS[state.activity] || "";
    if (!state.activity) {
      part("act-name").textContent = state.running ? activityTexts.waiting : activityTexts.stopped;
      part("act-since").textContent = "";
      part("act-confidence").textContent = "";
      return;
    }
    const minutes = Math.max(0, Math.round((Date.now() - Date.parse(state.since)) / 60000));
    part("act-name").textContent = (activityTexts.names || {})[state.activity] || state.activity;
    part("act-since").textContent = format(activityTexts.since || "since {time}", {
      time: `${clock.format(new Date(state.since))} (${minutes} min)` });
    part("act-confidence").textContent = format(activityTexts.confidence || "{value}", {
      value: window.vigilActivity.percent(state.confidence) });
  }

  async function pollActivity() {
    try {
      const response = await fetch("/api/activity/live", { credentials: "same-origin" });
      if (response.ok) (await response.json()).forEach(showActivity);
    } catch (e) { /* server restarting: try again later */ }
    setTimeout(pollActivity, 5000);
  }
  if (tiles.length) pollActivity();

  setTimeout(poll, 2000);
})();
