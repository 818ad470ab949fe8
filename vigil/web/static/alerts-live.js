// Live watchlist alerts on every page of an operator or admin (base.html loads this script only
// for them; the stream answers viewers 403). One EventSource on /api/alerts/stream per page:
// - a match (raised, or a probable upgraded to match) shows a toast and beeps;
// - the Alerts nav badge shows how many alerts are open, re-counted on every event (so a probable
//   raises it discreetly and a decision lowers it);
// - every event is re-dispatched as a `vigil:alert` DOM event, which the Alerts page listens to.
"use strict";
(() => {
  const toasts = document.getElementById("alert-toasts");
  if (!toasts || !window.EventSource) return;
  const texts = JSON.parse(toasts.dataset.texts || "{}");
  const badge = document.getElementById("alerts-badge");
  const TYPES = ["watchlist_alert", "watchlist_alert_upgraded", "watchlist_alert_repeat", "watchlist_alert_decided"];
  const TOAST_MS = 20000;

  // ------------------------------------------------------------ the badge: open alerts
  let counting = false;
  let again = false;  // an event came while counting: count once more after
  async function recount() {
    if (!badge) return;
    if (counting) { again = true; return; }
    counting = true;
    do {
      again = false;
      try {
        const page = await window.vigil.api("GET", "/api/alerts?status=open&limit=1");
        badge.textContent = String(page.total);
        badge.hidden = page.total === 0;
      } catch (e) { /* the next event counts again */ }
    } while (again);
    counting = false;
  }

  // ------------------------------------------------------------ sound: a short WebAudio beep
  // Browsers refuse audio before the user touched the page: the context is created (or resumed)
  // at the first gesture, and a beep that cannot play is skipped without a word.
  let audio = null;
  function unlockAudio() {
    try {
      const Context = window.AudioContext || window.webkitAudioContext;
      if (!Context) return;
      if (!audio) audio = new Context();
      if (audio.state === "suspended") audio.resume().catch(() => {});
    } catch (e) { audio = null; }
  }
  ["pointerdown", "keydown"].forEach((name) => document.addEventListener(name, unlockAudio, { once: true, capture: true }));

  function beep() {
    try {
      // Creating a context before any gesture only earns a console warning: skip the beep then.
      const touched = navigator.userActivation ? navigator.userActivation.hasBeenActive : true;
      if (!audio && touched) unlockAudio();
      if (!audio || audio.state !== "running") return;
      const now = audio.currentTime;
      [0, 0.18].forEach((start) => {
        const oscillator = audio.createOscillator();
        const gain = audio.createGain();
        oscillator.type = "sine";
        oscillator.frequency.value = 880;
        gain.gain.setValueAtTime(0.0001, now + start);
        gain.gain.exponentialRampToValueAtTime(0.25, now + start + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, now + start + 0.14);
        oscillator.connect(gain).connect(audio.destination);
        oscillator.start(now + start);
        oscillator.stop(now + start + 0.15);
      });
    } catch (e) { /* no sound: the toast is enough */ }
  }

  // ------------------------------------------------------------ toasts
  const fill = (template, values) => template.replace(/\{(\w+)\}/g, (_, key) => (key in values ? values[key] : ""));

  function toast(type, alert) {
    const box = document.createElement("div");
    box.className = "toast toast-match";
    box.setAttribute("role", "alert");
    box.dataset.alertId = alert.id;
    if (alert.crop_thumb_url) {
      const img = document.createElement("img");
      Object.assign(img, { src: alert.crop_thumb_url, alt: "", className: "toast-thumb" });
      box.appendChild(img);
    }
    const body = document.createElement("div");
    body.className = "toast-body";
    const title = document.createElement("strong");
    title.className = "toast-title";
    title.textContent = type === "watchlist_alert_upgraded" ? texts.upgraded : texts.title;
    const line = document.createElement("p");
    line.className = "toast-text";
    line.textContent = fill(texts.body, { person: alert.person, camera: alert.camera, score: alert.score.toFixed(2) });
    const link = document.createElement("a");
    Object.assign(link, { href: `/alerts#alert-${alert.id}`, className: "toast-link", textContent: texts.open });
    body.append(title, line, link);
    const close = document.createElement("button");
    Object.assign(close, { type: "button", className: "toast-close link", textContent: "×", title: texts.close });
    close.setAttribute("aria-label", texts.close);
    close.addEventListener("click", () => box.remove());
    box.append(body, close);
    toasts.prepend(box);
    while (toasts.children.length > 4) toasts.lastElementChild.remove();
    window.setTimeout(() => box.remove(), TOAST_MS);
  }

  // ------------------------------------------------------------ the stream
  function handle(type, message) {
    const alert = message.alert;
    const match = alert.level === "match" && (type === "watchlist_alert" || type === "watchlist_alert_upgraded");
    if (match) {
      toast(type, alert);
      beep();
    }
    if (type === "watchlist_alert_decided") {
      toasts.querySelectorAll(`.toast[data-alert-id="${alert.id}"]`).forEach((box) => box.remove());
    }
    recount();
    document.dispatchEvent(new CustomEvent("vigil:alert", { detail: { type, alert } }));
  }

  const stream = new EventSource("/api/alerts/stream");
  TYPES.forEach((type) => stream.addEventListener(type, (event) => {
    try { handle(type, JSON.parse(event.data)); } catch (e) { /* a malformed message is skipped */ }
  }));
  // EventSource reconnects by itself; once it is open again, what was missed is counted.
  stream.addEventListener("open", recount);
  window.addEventListener("pagehide", () => stream.close());
  recount();
})();
