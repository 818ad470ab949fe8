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
  const known = images.map((img) => img.dataset.cameraId).sort().join(",");

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
        ? format(texts.fps || "{input} / {analysed} fps", {
            input: camera.health.input_fps, analysed: camera.health.analysed_fps })
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
        const ids = cameras.map((c) => String(c.id)).sort().join(",");
        if (ids !== known) { window.location.reload(); return; }  // cameras added or removed
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

  setTimeout(poll, 2000);
})();
