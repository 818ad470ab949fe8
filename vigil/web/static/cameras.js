// Cameras page: add / start / stop / delete cameras, scan USB indexes, view a snapshot, and the
// dead-zone (ROI) editor: click points on the snapshot to draw polygons, saved with PATCH.
"use strict";
(() => {
  const app = document.getElementById("cameras-app");
  if (!app) return;
  const texts = JSON.parse(app.dataset.texts || "{}");
  const $ = (id) => document.getElementById(id);

  function say(message) { $("cameras-message").textContent = message || ""; $("cameras-error").textContent = ""; }
  function fail(error) { $("cameras-message").textContent = ""; $("cameras-error").textContent = String(error.message || error); }

  async function act(method, url, body) {
    say(texts.busy);
    try { const result = await window.vigil.api(method, url, body); say(""); return result; }
    catch (error) { fail(error); throw error; }
  }

  // A JPEG from the API as an object URL (an <img src> could not show the error's reason).
  async function jpegUrl(url) {
    const response = await fetch(`${url}?t=${Date.now()}`, { credentials: "same-origin" });
    if (!response.ok) {
      let detail = response.statusText;
      try { detail = (await response.json()).detail || detail; } catch (e) { /* not JSON */ }
      throw new Error(detail);
    }
    return URL.createObjectURL(await response.blob());
  }

  // ------------------------------------------------------------ table actions
  const table = $("cameras-table");
  if (table) {
    table.addEventListener("click", async (event) => {
      const button = event.target.closest("button[data-action]");
      if (!button) return;
      const row = button.closest("tr.camera-row");
      const id = row.dataset.cameraId;
      const action = button.dataset.action;
      try {
        if (action === "start" || action === "stop") {
          await act("POST", `/api/cameras/${id}/${action}`);
          window.location.reload();
        } else if (action === "delete") {
          if (!window.confirm(texts.confirm_delete)) return;
          await act("DELETE", `/api/cameras/${id}`);
          window.location.reload();
        } else if (action === "snapshot") {
          say(texts.busy);
          $("snapshot-img").src = await jpegUrl(`/api/cameras/${id}/snapshot.jpg`);
          $("snapshot-view").hidden = false;
          say("");
        } else if (action === "zones") {
          await roi.open(row);
        }
      } catch (error) { fail(error); }
    });
    // Activity analysis on/off: PATCH; a running camera restarts with it (as for its other settings).
    // Its sound choice is shown while it is on.
    table.addEventListener("change", async (event) => {
      const box = event.target.closest("input.camera-activity-toggle");
      if (!box) return;
      const id = box.closest("tr.camera-row").dataset.cameraId;
      box.disabled = true;
      try {
        const camera = await act("PATCH", `/api/cameras/${id}`, { activity: box.checked });
        box.checked = camera.activity;
        say(camera.activity ? texts.activity_on : texts.activity_off);
      } catch (error) { box.checked = !box.checked; }
      $(`camera-audio-label-${id}`).hidden = !box.checked;
      box.disabled = false;
    });
    // The activity's sound: "" (follow activity.live_audio) is sent as null.
    table.addEventListener("focusin", (event) => {
      const select = event.target.closest("select.camera-audio-select");
      if (select) select.dataset.saved = select.value;  // what to go back to if the PATCH fails
    });
    table.addEventListener("change", async (event) => {
      const select = event.target.closest("select.camera-audio-select");
      if (!select) return;
      const id = select.closest("tr.camera-row").dataset.cameraId;
      select.disabled = true;
      try {
        const camera = await act("PATCH", `/api/cameras/${id}`, { activity_audio: select.value || null });
        select.value = camera.activity_audio || "";
        say(texts.audio_saved.replace("{source}", select.selectedOptions[0].textContent.trim()));
      } catch (error) { select.value = select.dataset.saved || ""; }
      select.disabled = false;
    });
  }

  // ------------------------------------------------------------ add form and USB scan
  const form = $("camera-add-form");
  if (form) {
    const activity = $("camera-activity");
    activity.addEventListener("change", () => { $("camera-activity-audio-label").hidden = !activity.checked; });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = {
        url: $("camera-url").value.trim(), loop: $("camera-loop").checked, activity: activity.checked,
      };
      if (activity.checked) body.activity_audio = $("camera-activity-audio").value || null;
      const name = $("camera-name").value.trim();
      if (name) body.name = name;
      try { await act("POST", "/api/cameras", body); window.location.reload(); } catch (e) { /* shown */ }
    });
  }
  const scan = $("usb-scan");
  if (scan) {
    scan.addEventListener("click", async () => {
      const results = $("usb-scan-results");
      results.textContent = texts.busy;
      try {
        const answer = await act("POST", "/api/cameras/scan");
        results.textContent = answer.found.length ? `${texts.scan_found} ` : texts.scan_none;
        answer.found.forEach((device) => {
          const use = document.createElement("button");
          use.type = "button";
          use.className = "usb-use";
          use.dataset.url = device.url;
          use.textContent = `${texts.scan_use} ${device.url}${device.in_use ? ` (${texts.scan_in_use})` : ""}`;
          use.addEventListener("click", () => { $("camera-url").value = device.url; $("camera-url").focus(); });
          results.appendChild(use);
        });
      } catch (e) { results.textContent = ""; }
    });
  }

  // ------------------------------------------------------------ state polling
  function showCamera(camera) {
    const state = $(`camera-state-${camera.id}`);
    if (!state) return false;
    state.textContent = (texts.states || {})[camera.state] || camera.state;
    state.className = `camera-state state-${camera.state}`;
    $(`camera-error-${camera.id}`).textContent = camera.last_error || "";
    $(`camera-fps-${camera.id}`).textContent = camera.health
      ? `${window.vigil.number(camera.health.input_fps)} / ${window.vigil.number(camera.health.analysed_fps)}` : "";
    const row = $(`camera-row-${camera.id}`);
    const start = row.querySelector("button.camera-start");
    const stop = row.querySelector("button.camera-stop");
    if (start) start.hidden = camera.running;
    if (stop) stop.hidden = !camera.running;
    return true;
  }
  // Under the Sound choice, what a running camera's activity hears (GET /api/activity/live's
  // `sound`, worded as on the live page's tiles); asked only while a camera here has activity on.
  const soundLines = Array.from(document.querySelectorAll(".camera-sound"));
  async function pollSound() {
    if (!soundLines.some((line) => $(`camera-activity-${line.closest("tr").dataset.cameraId}`).checked)) {
      soundLines.forEach((line) => window.vigilActivity.showSound(line, null, texts.sound || {}));
      return;
    }
    const response = await fetch("/api/activity/live", { credentials: "same-origin" });
    if (!response.ok) return;
    const sounds = new Map((await response.json()).map((state) => [String(state.camera_id), state.sound]));
    soundLines.forEach((line) => {
      const sound = sounds.get(line.closest("tr").dataset.cameraId);  // absent: activity off
      window.vigilActivity.showSound(line, sound || null, texts.sound || {});
    });
  }
  async function poll() {
    try {
      const response = await fetch("/api/cameras", { credentials: "same-origin" });
      if (response.ok) (await response.json()).forEach(showCamera);
      await pollSound();
    } catch (e) { /* server restarting */ }
    setTimeout(poll, 3000);
  }
  pollSound().catch(() => { /* server restarting: the next poll */ });
  setTimeout(poll, 3000);

  // ------------------------------------------------------------ dead-zone editor
  const roi = {
    row: null, polygons: [], points: [],
    image: $("roi-snapshot"), canvas: $("roi-canvas"),

    async open(row) {
      this.row = row;
      this.polygons = JSON.parse(row.dataset.zones || "[]");
      this.points = [];
      $("roi-title").textContent = texts.roi_title.replace("{name}", row.dataset.cameraName);
      $("roi-editor").hidden = false;
      say(texts.roi_loading);
      this.image.src = await jpegUrl(`/api/cameras/${row.dataset.cameraId}/snapshot.jpg`);
      await this.image.decode();
      say("");
      this.draw();
      $("roi-editor").scrollIntoView({ behavior: "smooth" });
    },

    scale() { return this.image.naturalWidth / Math.max(1, this.image.clientWidth); },

    draw() {
      const canvas = this.canvas;
      canvas.width = this.image.clientWidth;
      canvas.height = this.image.clientHeight;
      const g = canvas.getContext("2d");
      const s = this.scale();
      g.clearRect(0, 0, canvas.width, canvas.height);
      g.lineWidth = 2;
      const path = (points) => {
        g.beginPath();
        points.forEach(([x, y], i) => (i ? g.lineTo(x / s, y / s) : g.moveTo(x / s, y / s)));
      };
      this.polygons.forEach((polygon) => {
        path(polygon); g.closePath();
        g.fillStyle = "rgba(231, 76, 60, 0.35)"; g.fill();
        g.strokeStyle = "#e74c3c"; g.stroke();
      });
      if (this.points.length) {
        path(this.points);
        g.strokeStyle = "#f1c40f"; g.stroke();
        g.fillStyle = "#f1c40f";
        this.points.forEach(([x, y]) => g.fillRect(x / s - 3, y / s - 3, 6, 6));
      }
    },

    click(event) {
      const box = this.canvas.getBoundingClientRect();
      const s = this.scale();
      const x = Math.round((event.clientX - box.left) * s);
      const y = Math.round((event.clientY - box.top) * s);
      this.points.push([Math.max(0, x), Math.max(0, y)]);
      this.draw();
    },

    closePolygon() {
      if (this.points.length < 3) { fail(new Error(texts.roi_need3)); return false; }
      this.polygons.push(this.points);
      this.points = [];
      this.draw();
      return true;
    },

    async save() {
      if (this.points.length && !this.closePolygon()) return;
      const id = this.row.dataset.cameraId;
      await act("PATCH", `/api/cameras/${id}`, { dead_zones: this.polygons });
      this.row.dataset.zones = JSON.stringify(this.polygons);
      say(texts.roi_saved);
    },
  };
  if ($("roi-editor")) {
    roi.canvas.addEventListener("click", (event) => roi.click(event));
    $("roi-close-polygon").addEventListener("click", () => roi.closePolygon());
    $("roi-undo").addEventListener("click", () => { roi.points.pop(); roi.draw(); });
    $("roi-clear").addEventListener("click", () => { roi.polygons = []; roi.points = []; roi.draw(); });
    $("roi-save").addEventListener("click", () => roi.save().catch(() => { /* shown */ }));
    $("roi-cancel").addEventListener("click", () => { $("roi-editor").hidden = true; });
    window.addEventListener("resize", () => { if (!$("roi-editor").hidden) roi.draw(); });
  }
})();
