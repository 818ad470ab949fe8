// Activity Clips page (admin): save the last seconds of a running camera with activity on
// (POST /api/save-clip), list the saved clips (GET /api/clips, newest first), play one in the
// page's player, download it, delete it (DELETE /api/clips/{camera}/{name}, confirmed).
"use strict";
(() => {
  const app = document.getElementById("actc-app");
  if (!app) return;
  const A = window.vigilActivity;
  const $ = A.$;
  const texts = JSON.parse(app.dataset.texts);
  const lang = document.documentElement.lang;
  const when = new Intl.DateTimeFormat(lang, { dateStyle: "short", timeStyle: "medium" });
  const format = (template, values) => template.replace(/\{(\w+)\}/g, (_, key) => String(values[key] ?? ""));
  const megabytes = (bytes) => `${A.fixed(bytes / 1e6, 1)} ${lang === "fr" ? "Mo" : "MB"}`;
  const seconds = (value) => `${A.fixed(value, 1)} s`;

  function say(message, error) {
    $("actc-message").textContent = message || "";
    $("actc-error").textContent = error || "";
  }

  function cell(row, text, className) {
    const td = row.insertCell();
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  function button(text, className, onClick) {
    const b = document.createElement("button");
    Object.assign(b, { type: "button", className, textContent: text });
    b.addEventListener("click", onClick);
    return b;
  }

  function play(clip, row) {
    const player = $("actc-player");
    player.src = clip.download;
    $("actc-player-name").textContent = `${clip.camera} · ${clip.name}`;
    $("actc-player-box").hidden = false;
    document.querySelectorAll("#actc-clips tr.playing").forEach((r) => r.classList.remove("playing"));
    row.classList.add("playing");
    player.play().catch(() => { /* autoplay refused: the controls are there */ });
  }

  async function remove(clip) {
    if (!window.confirm(texts.confirm_delete)) return;
    try {
      await window.vigil.api("DELETE", clip.download);
    } catch (e) { say("", e.message); return; }
    if ($("actc-player").getAttribute("src") === clip.download) {
      $("actc-player").removeAttribute("src");
      $("actc-player").load();
      $("actc-player-box").hidden = true;
    }
    say(format(texts.deleted, { name: clip.name }));
    await show();
  }

  function rows(clips) {
    const body = $("actc-clips").tBodies[0];
    body.replaceChildren();
    clips.forEach((clip) => {
      const row = body.insertRow();
      row.dataset.name = clip.name;
      row.dataset.camera = String(clip.camera_id);
      cell(row, clip.camera);
      cell(row, when.format(new Date(clip.start || clip.saved)));
      cell(row, clip.duration_s === null ? texts.unreadable : seconds(clip.duration_s), "num");
      cell(row, megabytes(clip.size), "num");
      cell(row, clip.audio_codec || texts.no_sound);
      const actions = cell(row, "", "actions");
      const link = document.createElement("a");
      Object.assign(link, { href: clip.download, textContent: texts.download, className: "actc-download" });
      link.setAttribute("download", clip.name);
      actions.append(
        button(texts.play, "link actc-play", () => play(clip, row)),
        link,
        button(texts.delete, "danger actc-delete", () => remove(clip)),
      );
    });
  }

  async function show() {
    $("actc-status").textContent = texts.loading;
    let listing;
    try {
      listing = await window.vigil.api("GET", "/api/clips");
    } catch (e) { $("actc-status").textContent = ""; say("", e.message); return; }
    const count = listing.clips.length;
    const summary = count === 1 ? texts.count_one : texts.count;
    $("actc-status").textContent = count ? format(summary, { count, size: megabytes(listing.total_size) }) : texts.empty;
    rows(listing.clips);
    app.dataset.loaded = String(count);
  }

  const form = $("actc-form");
  if (form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = { camera: Number($("actc-camera").value), seconds: Number($("actc-seconds").value) };
      $("actc-save").disabled = true;
      say(texts.saving);
      try {
        const saved = await window.vigil.api("POST", "/api/save-clip", body);
        const pruned = saved.pruned ? " " + format(texts.pruned, { count: saved.pruned }) : "";
        say(format(texts.saved, { name: saved.name, duration: seconds(saved.duration_s) }) + pruned);
        await show();
      } catch (e) {
        say("", `${texts.failed} ${e.message}`);
      } finally {
        $("actc-save").disabled = false;
      }
    });
  }
  show();
})();
