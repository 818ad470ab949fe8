// Watchlist pages (enrol from photos, add photos, remove a person, undo a rejection's lesson) and
// the visitor page's "Add to watchlist" form. Multipart uploads go through fetch() with the
// session's CSRF header (the middleware reads a token from url-encoded forms only).
"use strict";
(() => {
  const app = document.getElementById("watchlist-app");
  if (!app) return;
  const texts = JSON.parse(app.dataset.texts || "{}");
  const reasons = JSON.parse(app.dataset.reasonTexts || "{}");
  const $ = (id) => document.getElementById(id);
  const fill = (template, values) => template.replace(/\{(\w+)\}/g, (_, key) => (key in values ? values[key] : ""));

  function say(message) { $("watchlist-message").textContent = message || ""; $("watchlist-error").textContent = ""; }
  function fail(message) { $("watchlist-message").textContent = ""; $("watchlist-error").textContent = message; }

  document.querySelectorAll("time.local-time[datetime]").forEach((node) => {
    if (node.dateTime) node.textContent = new Date(node.dateTime).toLocaleString(document.documentElement.lang);
  });

  // An upload (or any call) whose error answer may carry `refused` (a 422 "no usable photo").
  async function send(method, url, body) {
    const headers = { "X-CSRF-Token": window.vigil.csrf() };
    if (!(body instanceof FormData) && body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(url, {
      method, headers, credentials: "same-origin",
      body: body instanceof FormData || body === undefined ? body : JSON.stringify(body),
    });
    let answer = null;
    try { answer = await response.json(); } catch (e) { /* no JSON body */ }
    if (!response.ok) {
      const error = new Error((answer && typeof answer.detail === "string" && answer.detail) || response.statusText);
      error.status = response.status;
      error.refused = (answer && answer.refused) || [];
      throw error;
    }
    return answer;
  }

  // Each refused photo with the reason in the page's language, under `summary` ("refused photos:"
  // is added after a success's summary).
  function showRefusals(summary, refused, success = true) {
    const box = $("enrol-result");
    if (!box) return;
    const intro = success && summary && refused.length ? ` ${texts.refused || ""}` : "";
    $("enrol-summary").textContent = summary + intro;
    const list = $("enrol-refused");
    list.replaceChildren();
    refused.forEach((r) => {
      const item = document.createElement("li");
      item.className = "refusal";
      item.dataset.reason = r.reason;
      const name = document.createElement("strong");
      name.textContent = r.photo;
      item.append(name, document.createTextNode(`: ${reasons[r.reason] || r.message}`));
      list.appendChild(item);
    });
    box.hidden = !summary && refused.length === 0;
  }

  function uploadFailed(error) {
    if (error.status === 413) { fail(texts.too_large); showRefusals("", []); return; }
    if (error.status === 422 && error.refused.length) {  // the reasons, where the photos' results go
      say("");
      showRefusals(texts.none_usable, error.refused, false);
      return;
    }
    fail(error.message);
    showRefusals("", []);
  }

  // ------------------------------------------------------------ enrol (Watchlist page, admins)
  const enrolForm = $("enrol-form");
  if (enrolForm) {
    enrolForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = $("enrol-submit");
      button.disabled = true;
      say(texts.busy);
      try {
        const result = await send("POST", "/api/watchlist", new FormData(enrolForm));
        // The list is rendered by the server: reload it, keeping the refusals to show them again.
        window.sessionStorage.setItem("vigil.enrolment", JSON.stringify({
          summary: fill(texts.enrolled, { name: result.person.name, accepted: result.accepted }),
          refused: result.refused, person: result.person.id,
        }));
        window.location.reload();
      } catch (error) { uploadFailed(error); } finally { button.disabled = false; }
    });
  }
  const kept = window.sessionStorage.getItem("vigil.enrolment");
  if (kept) {
    window.sessionStorage.removeItem("vigil.enrolment");
    try {
      const shown = JSON.parse(kept);
      say("");
      showRefusals(shown.summary, shown.refused);
      const card = $(`person-${shown.person}`);
      if (card) card.classList.add("person-new");
    } catch (e) { /* nothing to show */ }
  }

  // ------------------------------------------------------------ more photos (person page, admins)
  const detail = $("person-detail");
  const photosForm = $("photos-form");
  if (photosForm && detail) {
    photosForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      $("photos-submit").disabled = true;
      say(texts.busy);
      try {
        const result = await send("POST", `/api/watchlist/${detail.dataset.personId}/photos`, new FormData(photosForm));
        window.sessionStorage.setItem("vigil.enrolment", JSON.stringify({
          summary: fill(texts.added, { accepted: result.accepted }), refused: result.refused, person: "",
        }));
        window.location.reload();
      } catch (error) { uploadFailed(error); } finally { $("photos-submit").disabled = false; }
    });
  }

  // ------------------------------------------------------------ remove a person (admins)
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action=remove]");
    if (!button) return;
    const holder = button.closest("[data-person-id]");
    if (!holder || !window.confirm(fill(texts.confirm_remove, { name: holder.dataset.name }))) return;
    button.disabled = true;
    try {
      await send("DELETE", `/api/watchlist/${holder.dataset.personId}`);
      if (detail) { window.location.assign("/watchlist"); return; }
      holder.remove();
      say(fill(texts.removed, { name: holder.dataset.name }));
    } catch (error) { fail(error.message); button.disabled = false; }
  });

  // ------------------------------------------------------------ undo a lesson (person page, admins)
  const lessons = $("person-lessons");
  if (lessons && detail) {
    lessons.addEventListener("click", async (event) => {
      const button = event.target.closest("button[data-action=undo]");
      if (!button || !window.confirm(texts.confirm_undo)) return;
      const row = button.closest("tr.lesson");
      button.disabled = true;
      try {
        const done = await send("DELETE", `/api/watchlist/${detail.dataset.personId}/lessons/${row.dataset.alertId}`);
        row.remove();
        say(fill(texts.undone, { faces: done.negatives_removed }));
      } catch (error) { fail(error.message); button.disabled = false; }
    });
  }

  // ------------------------------------------------------------ "Add to watchlist" (visitor page, admins)
  const visitorForm = $("watchlist-add-form");
  if (visitorForm) {
    visitorForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = $("watchlist-add-submit");
      button.disabled = true;
      say(texts.busy);
      const body = {
        name: $("watchlist-add-name").value.trim(),
        category: $("watchlist-add-category").value.trim(),
        notes: $("watchlist-add-notes").value.trim(),
      };
      try {
        const result = await send("POST", `/api/watchlist/from-visitor/${visitorForm.dataset.visitorId}`, body);
        say(fill(texts.enrolled, { name: result.person.name, accepted: result.accepted }));
        showRefusals("", result.refused);
        const link = $("watchlist-add-link");
        link.href = `/watchlist/${result.person.id}`;
        link.hidden = false;
      } catch (error) { uploadFailed(error); } finally { button.disabled = false; }
    });
  }
})();
