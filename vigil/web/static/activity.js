// Activity page: upload a video (the anonymisation upload) or name a server path, start an
// `activity` job, poll /api/jobs/{id}, then draw its segments with Chart.js (served from
// /static/vendor, see scripts/vendor-web.sh): a timeline (one floating bar per segment, one colour
// per activity) and the share of the time per activity, with the table and the CSV/JSON downloads.
// "Analyse one frame" posts the same video and a time, or a picture, to /api/activity/frame.
"use strict";
(function () {
  const app = document.getElementById("act-app");
  if (!app) return;
  const texts = JSON.parse(app.dataset.texts);
  const names = JSON.parse(app.dataset.names);  // activity id -> name in the page's language
  const otherNames = JSON.parse(app.dataset.otherNames);  // ... in the other language (tooltips)
  const words = JSON.parse(app.dataset.words || "{}");  // object and sound ids -> names in the page's language
  const pollMs = Number(app.dataset.pollMs) || 1000;
  const $ = (id) => document.getElementById(id);
  // One colour per activity id, the same on every page (activity-common.js).
  const { COLOURS, ORDER } = window.vigilActivity;
  let jobId = null;
  let source = null;  // {upload} or {path} of the analysed video, for the frame analysis
  const charts = [];

  function status(text, error) {
    $("act-status").hidden = false;
    $("act-state").textContent = text;
    $("act-error").textContent = error || "";
  }

  function progress(fraction, failed) {
    window.vigil.showProgress($("act-bar"), $("act-percent"), fraction, failed);
  }

  function upload(file) {
    return window.vigil.uploadVideo(file, progress);
  }

  async function poll() {
    const job = await window.vigil.api("GET", "/api/jobs/" + jobId);
    progress(job.progress.overall, job.state === "failed");
    $("act-cancel").hidden = !(job.state === "queued" || job.state === "running");
    if (job.state === "done") {
      status(texts.done);
      showResult(job.result);
      return;
    }
    if (job.state === "failed") {
      const reasons = (job.progress.items || []).map((item) => item.error).filter(Boolean);
      status(texts.failed, job.error || reasons.join("; "));
      return;
    }
    if (job.state === "cancelled") { status(texts.cancelled); return; }
    setTimeout(() => poll().catch((e) => status(texts.failed, e.message)), pollMs);
  }

  const { fixed, percent, named } = window.vigilActivity;  // "1,5" and "40 %" in French
  // "motion 0.018, eyes closed 90%": mean cues in the page's language (objects and sounds too).
  const cueText = (cues, keys) => window.vigilActivity.cueText(texts.cues, cues, keys);
  const label = (id) => names[id] || id;

  function timeline(analysis) {
    const row = analysis.input.split("/").pop();
    const present = ORDER.filter((id) => analysis.segments.some((s) => s.activity === id));
    return new Chart($("act-timeline"), {
      type: "bar",
      data: {
        labels: [row],
        datasets: present.map((id) => ({
          label: label(id),
          activity: id,
          backgroundColor: COLOURS[id],
          grouped: false,  // segments of one row overlap in place, not side by side
          barPercentage: 1,
          categoryPercentage: 0.9,
          data: analysis.segments.filter((s) => s.activity === id)
            .map((s) => ({ x: [s.start, s.end], y: row, confidence: s.confidence })),
        })),
      },
      options: {
        indexAxis: "y",
        animation: false,
        maintainAspectRatio: false,
        scales: {
          x: { type: "linear", min: 0, max: analysis.duration_s, title: { display: true, text: texts.seconds } },
          y: { ticks: { display: false } },
        },
        plugins: {
          tooltip: {
            callbacks: {
              label: (item) => {
                const id = item.dataset.activity;
                const [start, end] = item.raw.x;
                return `${label(id)} (${otherNames[id]}): ${fixed(start, 1)}–${fixed(end, 1)} s, `
                  + `${texts.confidence} ${fixed(item.raw.confidence, 2)}`;
              },
            },
          },
        },
      },
    });
  }

  function distribution(analysis) {
    const ids = ORDER.filter((id) => id in analysis.distribution);
    $("act-distribution").parentElement.style.height = (3 + 2.2 * ids.length) + "rem";  // one bar a row
    return new Chart($("act-distribution"), {
      type: "bar",
      data: {
        labels: ids.map(label),
        datasets: [{
          label: texts.share,
          data: ids.map((id) => Math.round(analysis.distribution[id] * 1000) / 10),
          backgroundColor: ids.map((id) => COLOURS[id]),
        }],
      },
      options: {
        indexAxis: "y",
        animation: false,
        maintainAspectRatio: false,
        scales: { x: { min: 0, max: 100, ticks: { callback: (value) => percent(value / 100) } } },
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { label: (item) => `${otherNames[ids[item.dataIndex]]}: ${percent(item.raw / 100, 1)}` } },
        },
      },
    });
  }

  function table(analysis) {
    const body = $("act-segments").querySelector("tbody");
    body.replaceChildren();
    for (const segment of analysis.segments) {
      const cues = segment.cues;
      const parts = [...cueText(cues, ["motion", "eyes_closed", "head_down", "voice"]), ...named(words.objects, cues.objects),
        ...named(words.sounds, cues.sounds)];
      const row = document.createElement("tr");
      row.dataset.activity = segment.activity;
      for (const text of [fixed(segment.start, 1), fixed(segment.end, 1), label(segment.activity),
        fixed(segment.confidence, 2), parts.join(", ")]) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.appendChild(cell);
      }
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = COLOURS[segment.activity];
      row.children[2].prepend(swatch);
      body.appendChild(row);
    }
  }

  function showResult(result) {
    const analysis = (result && result.analyses || [])[0];
    if (!analysis) return;
    $("act-result").hidden = false;
    $("act-dominant").textContent = label(analysis.dominant);
    $("act-dominant").dataset.activity = analysis.dominant;
    $("act-duration").textContent = fixed(analysis.duration_s, 1);
    $("act-csv").href = "/api/activity/jobs/" + jobId + "/result.csv";
    $("act-json").href = "/api/activity/jobs/" + jobId + "/result.json";
    $("act-frame-at").max = String(analysis.duration_s);
    while (charts.length) charts.pop().destroy();
    Chart.defaults.color = getComputedStyle(document.body).color;
    charts.push(timeline(analysis), distribution(analysis));
    table(analysis);
  }

  async function analyseFrame() {
    const picture = $("act-frame-image").files[0];
    if (picture) {
      const response = await fetch("/api/activity/frame", {
        method: "POST", credentials: "same-origin", body: picture,
        headers: { "X-CSRF-Token": window.vigil.csrf(), "Content-Type": picture.type || "application/octet-stream" },
      });
      const body = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(typeof body.detail === "string" ? body.detail : response.statusText);
      return body;
    }
    if (!source) throw new Error(texts.frame_need);
    return window.vigil.api("POST", "/api/activity/frame", { ...source, at: Number($("act-frame-at").value) });
  }

  $("act-frame-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("act-frame-error").textContent = "";
    $("act-frame-start").disabled = true;
    try {
      const frame = await analyseFrame();
      $("act-frame-result").hidden = false;
      $("act-frame-activity").textContent = label(frame.activity);
      $("act-frame-activity").dataset.activity = frame.activity;
      $("act-frame-confidence").textContent = fixed(frame.confidence, 2);
      $("act-frame-people").textContent = `${texts.people}: ${frame.people}`;
      const cues = frame.cues;
      $("act-frame-cues").textContent = [...cueText(cues, ["eyes_closed", "head_down", "hand_at_ear", "hands_in_front"]),
        ...named(words.objects, cues.objects)].join(", ");
    } catch (e) {
      $("act-frame-result").hidden = true;
      $("act-frame-error").textContent = e.message;
    } finally {
      $("act-frame-start").disabled = false;
    }
  });

  $("act-cancel").addEventListener("click", () => {
    window.vigil.api("DELETE", "/api/jobs/" + jobId).catch((e) => status(texts.failed, e.message));
  });
  $("act-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = $("act-file").files[0];
    const path = $("act-path").value.trim();
    if (!file && !path) { status("", texts.need_source); return; }
    $("act-result").hidden = true;
    $("act-start").disabled = true;
    try {
      if (file) {
        status(texts.uploading);
        source = { upload: (await upload(file)).id };
      } else {
        source = { path };
      }
      progress(0);
      status(texts.running);
      const body = { ...source, sample_interval_s: Number($("act-interval").value), classifier: $("act-classifier").value };
      const job = await window.vigil.api("POST", "/api/activity/jobs", body);
      jobId = job.id;
      await poll();
    } catch (e) {
      status(texts.failed, e.message);
    } finally {
      $("act-start").disabled = false;
    }
  });
})();
