// The Alerts page: the list from /api/alerts with the page's filters, kept up to date by the
// `vigil:alert` events alerts-live.js re-dispatches from the alert stream; Confirm / Reject with an
// optional note (and, for admins, "add this face to the references") through
// POST /api/alerts/{id}/decision.
"use strict";
(() => {
  const app = document.getElementById("alerts-app");
  if (!app) return;
  const texts = JSON.parse(app.dataset.texts || "{}");
  const filters = JSON.parse(app.dataset.filters || "{}");
  const admin = app.dataset.admin === "true";
  const lang = app.dataset.lang || undefined;
  const $ = (id) => document.getElementById(id);
  const list = $("alerts-list");
  const PAGE = 50;
  let total = 0;
  let loaded = 0;

  const fill = (template, values) => template.replace(/\{(\w+)\}/g, (_, key) => (key in values ? values[key] : ""));
  const when = (iso) => (iso ? new Date(iso).toLocaleString(lang) : "—");
  function say(message) { $("alerts-message").textContent = message || ""; $("alerts-error").textContent = ""; }
  function fail(message) { $("alerts-message").textContent = ""; $("alerts-error").textContent = message; }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function picture(url, full, className, alt) {
    const link = el("a", "alert-picture");
    link.href = full || url;
    link.target = "_blank";
    link.rel = "noopener";
    const img = el("img", className);
    Object.assign(img, { src: url, alt, loading: "lazy" });
    link.appendChild(img);
    return link;
  }

  function facts(alert) {
    const dl = el("dl", "facts alert-facts");
    const rows = [
      [texts.score, alert.score.toFixed(2), "alert-score"],
      [texts.camera, alert.camera, "alert-camera"],
      [texts.first_at, when(alert.first_at), "alert-first"],
      [texts.last_at, when(alert.last_at), "alert-last"],
    ];
    if (alert.repeats) rows.push([texts.repeats, String(alert.repeats), "alert-repeats"]);
    rows.forEach(([label, value, name]) => { dl.append(el("dt", "", label), el("dd", name, value)); });
    return dl;
  }

  function decisionLine(alert) {
    if (!alert.decided_at) return null;
    const line = el("p", "alert-decision");
    line.textContent = fill(texts.decided, {
      status: texts[`status.${alert.status}`], by: alert.decided_by || "?", at: when(alert.decided_at),
    });
    if (alert.note) line.appendChild(el("q", "alert-note-text", alert.note));
    return line;
  }

  function decideForm(alert) {
    const form = el("form", "alert-decide");
    const note = el("input", "alert-note");
    Object.assign(note, { type: "text", maxLength: 2000, placeholder: texts.note });
    note.setAttribute("aria-label", texts.note);
    form.appendChild(note);
    if (admin) {
      const label = el("label", "check alert-add-ref-label");
      const box = el("input", "alert-add-ref");
      box.type = "checkbox";
      label.append(box, document.createTextNode(` ${texts.add_reference}`));
      form.appendChild(label);
    }
    const buttons = el("div", "alert-buttons");
    const confirm = el("button", "alert-confirm", texts.confirm);
    Object.assign(confirm, { type: "submit" });
    confirm.dataset.decision = "confirmed";
    const reject = el("button", "alert-reject danger", texts.reject);
    Object.assign(reject, { type: "submit" });
    reject.dataset.decision = "rejected";
    buttons.append(confirm, reject);
    form.appendChild(buttons);
    return form;
  }

  function card(alert) {
    const article = el("article", `alert-card card level-${alert.level} status-${alert.status}`);
    article.id = `alert-${alert.id}`;
    article.dataset.alertId = alert.id;
    const pictures = el("div", "alert-pictures");
    if (alert.crop_thumb_url) pictures.appendChild(picture(alert.crop_thumb_url, alert.crop_url, "alert-crop", alert.person));
    if (alert.snapshot_thumb_url) {
      pictures.appendChild(picture(alert.snapshot_thumb_url, alert.snapshot_url, "alert-snapshot", texts.snapshot));
    }
    const info = el("div", "alert-info");
    const head = el("h2", "alert-head");
    const person = el("a", "alert-person", alert.person);
    person.href = `/watchlist/${alert.person_id}`;
    head.append(person, el("span", `pill level-pill level-${alert.level}`, texts[`level.${alert.level}`]),
      el("span", `pill status-pill status-${alert.status}`, texts[`status.${alert.status}`]));
    info.append(head, facts(alert));
    const decided = decisionLine(alert);
    if (decided) info.appendChild(decided);
    if (alert.status === "open") info.appendChild(decideForm(alert));
    article.append(pictures, info);
    return article;
  }

  function wanted(alert) {
    return (!filters.camera || alert.camera === filters.camera) && (!filters.level || alert.level === filters.level)
      && (!filters.status || alert.status === filters.status) && (!filters.person || alert.person_id === filters.person);
  }

  function showTotal() {
    $("alerts-total").textContent = fill(texts.total, { total });
    $("alerts-empty").hidden = list.children.length > 0;
    $("alerts-more").hidden = loaded >= total;
  }

  function query(offset) {
    const params = new URLSearchParams({ limit: String(PAGE), offset: String(offset) });
    ["camera", "level", "status", "person"].forEach((name) => { if (filters[name]) params.set(name, filters[name]); });
    return `/api/alerts?${params}`;
  }

  async function load(offset) {
    try {
      const page = await window.vigil.api("GET", query(offset));
      total = page.total;
      page.alerts.forEach((alert) => { if (!$(`alert-${alert.id}`)) list.appendChild(card(alert)); });
      loaded = offset + page.alerts.length;
      showTotal();
    } catch (error) { fail(error.message); }
  }

  async function focusHash() {
    const id = window.location.hash.startsWith("#alert-") ? window.location.hash.slice(7) : "";
    if (!/^[0-9a-f-]{36}$/.test(id)) return;
    let target = $(`alert-${id}`);
    if (!target) {  // not on this page of the list (or filtered out): shown on top
      try { target = card(await window.vigil.api("GET", `/api/alerts/${id}`)); list.prepend(target); showTotal(); }
      catch (e) { return; }
    }
    target.classList.add("alert-focus");
    target.scrollIntoView({ block: "center" });
  }

  // ------------------------------------------------------------ decisions
  list.addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target.closest("form.alert-decide");
    const button = event.submitter;
    if (!form || !button || !button.dataset.decision) return;
    const article = form.closest(".alert-card");
    const body = { decision: button.dataset.decision, note: form.querySelector(".alert-note").value.trim() };
    const addRef = form.querySelector(".alert-add-ref");
    if (addRef && addRef.checked && body.decision === "confirmed") body.add_to_references = true;
    form.querySelectorAll("button").forEach((b) => { b.disabled = true; });
    say(texts.busy);
    try {
      const result = await window.vigil.api("POST", `/api/alerts/${article.dataset.alertId}/decision`, body);
      article.replaceWith(card(result));
      const learned = [];
      if (result.negatives_learned) learned.push(fill(texts.learned, { faces: result.negatives_learned }));
      if (result.reference_added) learned.push(texts.reference_added);
      say(learned.join(" "));
    } catch (error) {
      const refusals = { 409: error.message.includes("kept no face") ? texts.no_face : texts.already, 429: texts.too_fast };
      fail(refusals[error.status] || error.message);
      form.querySelectorAll("button").forEach((b) => { b.disabled = false; });
    }
  });

  $("alerts-more").addEventListener("click", () => load(loaded));

  // ------------------------------------------------------------ live updates
  document.addEventListener("vigil:alert", (event) => {
    const { type, alert } = event.detail;
    const current = $(`alert-${alert.id}`);
    if (!wanted(alert)) {  // e.g. decided while the page lists open alerts only
      if (current) { current.remove(); total = Math.max(0, total - 1); loaded = Math.max(0, loaded - 1); showTotal(); }
      return;
    }
    const fresh = card(alert);
    if (current) {
      const note = current.querySelector(".alert-note");
      const fresher = fresh.querySelector(".alert-note");
      if (note && fresher) fresher.value = note.value;  // an operator typing a note keeps it
      if (current.classList.contains("alert-focus")) fresh.classList.add("alert-focus");
      current.replaceWith(fresh);
    } else if (type === "watchlist_alert") {
      fresh.classList.add("alert-new");
      list.prepend(fresh);
      total += 1;
      loaded += 1;
      showTotal();
    }
  });

  window.addEventListener("hashchange", () => {  // a toast's link followed on this very page
    list.querySelectorAll(".alert-focus").forEach((node) => node.classList.remove("alert-focus"));
    focusHash();
  });
  load(0).then(focusHash);
})();
