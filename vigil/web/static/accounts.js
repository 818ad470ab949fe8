// Account page (own password, own API keys) and Users page (admins): calls to /api/me/password,
// /api/keys and /api/users through window.vigil.api, which sends the session's CSRF token.
"use strict";
(() => {
  const app = document.getElementById("accounts-app");
  if (!app) return;
  const texts = JSON.parse(app.dataset.texts || "{}");
  const $ = (id) => document.getElementById(id);

  function say(message) { $("accounts-message").textContent = message || ""; $("accounts-error").textContent = ""; }
  function fail(error) { $("accounts-message").textContent = ""; $("accounts-error").textContent = String(error.message || error); }

  // `refusals` words the refusals this call can meet (by HTTP status) in the page's language.
  async function act(method, url, body, refusals = {}) {
    say(texts.busy);
    try { const result = await window.vigil.api(method, url, body); say(""); return result; }
    catch (error) { fail(refusals[error.status] || error); throw error; }
  }

  const utc = (iso) => `${iso.slice(0, 16).replace("T", " ")} UTC`;

  // ------------------------------------------------------------ own password (Account page)
  const passwordForm = $("password-form");
  if (passwordForm) {
    passwordForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const newPassword = $("new-password").value;
      if (newPassword !== $("repeat-password").value) { fail(new Error(texts.mismatch)); return; }
      try {
        const body = { current_password: $("current-password").value, new_password: newPassword };
        await act("POST", "/api/me/password", body, { 403: texts.wrong_current, 422: texts.weak });
        // The answer carries a new session cookie (and so a new CSRF token): load the page again.
        window.location.assign("/account?notice=password_changed");
      } catch (e) { /* shown */ }
    });
  }

  // ------------------------------------------------------------ API keys (both pages)
  const keysTable = $("keys-table");

  function keyRow(key) {
    const row = document.createElement("tr");
    row.className = "key-row";
    row.dataset.keyId = key.id;
    const cells = [[key.name, "key-name"], [`${key.prefix}…`, "key-prefix"], [utc(key.created_at), "key-created-at"],
      [key.last_used_at ? utc(key.last_used_at) : texts.never, "key-last-used"]];
    cells.forEach(([text, name]) => {
      const cell = document.createElement("td");
      if (name === "key-prefix") {
        const code = document.createElement("code");
        code.className = name;
        code.textContent = text;
        cell.appendChild(code);
      } else {
        cell.className = name;
        cell.textContent = text;
      }
      row.appendChild(cell);
    });
    const actions = document.createElement("td");
    actions.className = "actions";
    const revoke = document.createElement("button");
    Object.assign(revoke, { type: "button", className: "key-revoke danger", textContent: texts.revoke });
    revoke.dataset.action = "revoke";
    actions.appendChild(revoke);
    row.appendChild(actions);
    return row;
  }

  function showKeyCount() {
    const count = keysTable.tBodies[0].rows.length;
    keysTable.hidden = count === 0;
    $("keys-none").hidden = count > 0;
  }

  if (keysTable) {
    keysTable.addEventListener("click", async (event) => {
      const button = event.target.closest("button[data-action=revoke]");
      if (!button || !window.confirm(texts.confirm_revoke)) return;
      const row = button.closest("tr.key-row");
      try {
        await act("DELETE", `/api/keys/${row.dataset.keyId}`);
        row.remove();
        showKeyCount();
        say(texts.revoked);
      } catch (e) { /* shown */ }
    });
  }

  const keyForm = $("key-form");
  if (keyForm) {
    keyForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const created = await act("POST", "/api/keys", { name: $("key-name").value.trim() });
        // The token is in this answer only: show it now; the list shows what is kept (its prefix).
        $("key-token").textContent = created.token;
        $("key-created").hidden = false;
        keyForm.reset();
        const listed = (await window.vigil.api("GET", "/api/keys")).find((key) => key.id === created.id);
        if (listed) { keysTable.tBodies[0].appendChild(keyRow(listed)); showKeyCount(); }
      } catch (e) { /* shown */ }
    });
    $("key-copy").addEventListener("click", async () => {
      const token = $("key-token");
      window.getSelection().selectAllChildren(token);  // also the fallback: the user copies the selection
      try { await navigator.clipboard.writeText(token.textContent); say(texts.copied); } catch (e) { /* selected */ }
    });
  }

  // ------------------------------------------------------------ users (Users page, admins)
  const usersTable = $("users-table");
  let resetting = null;  // the row whose password the reset form sets

  if (usersTable) {
    usersTable.addEventListener("change", async (event) => {
      const select = event.target.closest("select.user-role");
      if (!select) return;
      const row = select.closest("tr.user-row");
      try {
        await act("PATCH", `/api/users/${row.dataset.userId}`, { role: select.value }, { 409: texts.last_admin });
        select.dataset.role = select.value;
        say(texts.role_changed);
      } catch (e) { select.value = select.dataset.role; }  // refused (the last admin): back as it is
    });
    usersTable.addEventListener("click", async (event) => {
      const button = event.target.closest("button[data-action]");
      if (!button) return;
      const row = button.closest("tr.user-row");
      const url = `/api/users/${row.dataset.userId}`;
      try {
        if (button.dataset.action === "toggle") {
          const disable = row.dataset.disabled !== "true";
          if (disable && !window.confirm(texts.confirm_disable)) return;
          await act("PATCH", url, { disabled: disable }, { 409: texts.last_admin });
          window.location.reload();
        } else if (button.dataset.action === "delete") {
          if (!window.confirm(texts.confirm_delete)) return;
          await act("DELETE", url, undefined, { 409: texts.last_admin });
          window.location.reload();
        } else if (button.dataset.action === "reset") {
          resetting = row;
          $("reset-title").textContent = texts.reset_title.replace("{name}", row.dataset.username);
          $("reset-editor").hidden = false;
          $("reset-password").focus();
        }
      } catch (e) { /* shown */ }
    });
  }

  const resetForm = $("reset-form");
  if (resetForm) {
    resetForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const body = { password: $("reset-password").value };
        await act("POST", `/api/users/${resetting.dataset.userId}/password`, body, { 422: texts.weak });
        resetForm.reset();
        $("reset-editor").hidden = true;
        say(texts.reset_done);
      } catch (e) { /* shown */ }
    });
    $("reset-cancel").addEventListener("click", () => { resetForm.reset(); $("reset-editor").hidden = true; });
  }

  const addForm = $("user-add-form");
  if (addForm) {
    addForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = { username: $("user-name").value.trim(), password: $("user-password").value, role: $("user-role").value };
      const refusals = { 409: texts.user_exists, 422: texts.invalid_user };
      try { await act("POST", "/api/users", body, refusals); window.location.reload(); } catch (e) { /* shown */ }
    });
  }
})();
