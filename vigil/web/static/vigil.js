// Shared helpers for the pages: JSON calls that carry the session's CSRF token.
"use strict";
window.vigil = {
  csrf() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  },
  async api(method, url, body) {
    const options = { method, headers: { "X-CSRF-Token": window.vigil.csrf() }, credentials: "same-origin" };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(url, options);
    if (!response.ok) {
      let detail = response.statusText;
      try { detail = (await response.json()).detail || detail; } catch (e) { /* not JSON */ }
      const error = new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
      error.status = response.status;  // pages may word known refusals in the user's language
      throw error;
    }
    return response.status === 204 ? null : response.json();
  },
};
