// Jobs page: polls /api/jobs and updates states and progress bars in place; a new or removed
// job reloads the page (the server renders the rows). Admins cancel with a confirmed click.
"use strict";
(function () {
  const app = document.getElementById("jobs-app");
  if (!app) return;
  const texts = JSON.parse(app.dataset.texts);
  const pollMs = Number(app.dataset.pollMs) || 1500;
  const errorBox = document.getElementById("jobs-error");
  const ACTIVE = new Set(["queued", "running", "cancelling"]);
  const ENDED = new Set(["done", "skipped", "failed"]);

  function itemFraction(item) {
    if (ENDED.has(item.state)) return 1;
    return item.units_total > 0 ? Math.min(item.units_done / item.units_total, 0.99) : 0;
  }

  function updateRow(row, job) {
    const state = row.querySelector(".job-state");
    state.textContent = texts.states[job.state] || job.state;
    state.className = "job-state state-" + job.state;
    row.querySelector(".job-error").textContent = job.error || "";
    window.vigil.showProgress(row.querySelector(".job-bar"), row.querySelector(".job-percent"),
      job.progress.overall, job.state === "failed");
    const cancel = row.querySelector(".job-cancel");
    if (cancel) cancel.hidden = !(job.state === "queued" || job.state === "running");
    if (job.finished_at && !row.querySelector(".job-finished time")) {
      row.querySelector(".job-finished").textContent = job.finished_at.replace("T", " ").slice(0, 19);
    }
    row.querySelectorAll(".job-item").forEach((li) => {
      const item = job.progress.items[Number(li.dataset.item)];
      if (!item) return;
      li.querySelector(".item-bar").value = itemFraction(item);
      li.querySelector(".item-bar").classList.toggle("failed", item.state === "failed");
      li.querySelector(".item-state").textContent = texts.items[item.state] || item.state;
      li.querySelector(".item-count").textContent = item.units_done + "/" + item.units_total;
      li.querySelector(".item-error").textContent = item.error || "";
    });
  }

  async function refresh() {
    try {
      const body = await window.vigil.api("GET", "/api/jobs");
      const shown = Array.from(document.querySelectorAll(".job-row")).map((row) => row.dataset.jobId);
      const ids = body.jobs.map((job) => job.id);
      if (ids.length !== shown.length || ids.some((id) => !shown.includes(id))) {
        window.location.reload();
        return;
      }
      body.jobs.forEach((job) => updateRow(document.getElementById("job-" + job.id), job));
      errorBox.textContent = "";
      if (body.jobs.some((job) => ACTIVE.has(job.state))) setTimeout(refresh, pollMs);
      else setTimeout(refresh, pollMs * 4);  // nothing moves: look for new jobs less often
    } catch (error) {
      errorBox.textContent = error.message;
      setTimeout(refresh, pollMs * 4);
    }
  }

  app.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action=cancel]");
    if (!button || !window.confirm(texts.confirm_cancel)) return;
    const row = button.closest(".job-row");
    button.disabled = true;
    try {
      updateRow(row, await window.vigil.api("DELETE", "/api/jobs/" + row.dataset.jobId));
    } catch (error) {
      errorBox.textContent = error.message;
    } finally {
      button.disabled = false;
    }
  });

  setTimeout(refresh, pollMs);
})();
