// Anonymise page: upload (with progress) or a server path, start the job, poll /api/jobs/{id},
// then show the before/after frame at a chosen position and the download link.
"use strict";
(function () {
  const app = document.getElementById("anon-app");
  if (!app) return;
  const texts = JSON.parse(app.dataset.texts);
  const pollMs = Number(app.dataset.pollMs) || 1000;
  const $ = (id) => document.getElementById(id);
  let jobId = null;

  function status(text, error) {
    $("anon-status").hidden = false;
    $("anon-state").textContent = text;
    $("anon-error").textContent = error || "";
  }

  function progress(fraction, failed) {
    window.vigil.showProgress($("anon-bar"), $("anon-percent"), fraction, failed);
  }

  function upload(file) {
    return window.vigil.uploadVideo(file, progress);
  }

  async function poll() {
    const job = await window.vigil.api("GET", "/api/jobs/" + jobId);
    progress(job.progress.overall, job.state === "failed");
    $("anon-cancel").hidden = !(job.state === "queued" || job.state === "running");
    if (job.state === "done") {
      status(texts.done);
      showResult();
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

  function showCompare() {
    $("anon-compare").src = "/api/anonymize/jobs/" + jobId + "/compare.jpg?at=" + $("anon-at").value;
  }

  function showResult() {
    $("anon-result").hidden = false;
    $("anon-download").href = "/api/anonymize/jobs/" + jobId + "/output";
    showCompare();
  }

  $("anon-at").addEventListener("change", showCompare);
  $("anon-cancel").addEventListener("click", () => {
    window.vigil.api("DELETE", "/api/jobs/" + jobId).catch((e) => status(texts.failed, e.message));
  });
  $("anon-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = $("anon-file").files[0];
    const path = $("anon-path").value.trim();
    if (!file && !path) { status("", texts.need_source); return; }
    $("anon-result").hidden = true;
    $("anon-start").disabled = true;
    try {
      const body = {
        faces: $("anon-faces").value, pad: Number($("anon-pad").value),
        persons: $("anon-persons").value, force: $("anon-force").checked,
      };
      if (file) {
        status(texts.uploading);
        body.upload = (await upload(file)).id;
      } else {
        body.path = path;
      }
      progress(0);
      status(texts.running);
      const job = await window.vigil.api("POST", "/api/anonymize/jobs", body);
      jobId = job.id;
      await poll();
    } catch (e) {
      status(texts.failed, e.message);
    } finally {
      $("anon-start").disabled = false;
    }
  });
})();
