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
  // A job's (or an upload's) progress on a <progress> bar and its percent text in the page's
  // language ("40%", French "40 %"). A failed job's progress reads 1 once every input has ended,
  // failed ones too: its bar is styled failed (red) and shows no "100%", so it does not read as
  // complete. Cancelled jobs keep where they stopped.
  showProgress(bar, percent, fraction, failed) {
    bar.value = fraction;
    bar.classList.toggle("failed", Boolean(failed));
    percent.textContent = failed ? "" : window.vigil.percent(fraction);
  },
  // A fraction as a percentage in the page's language: "40%" in English, "40 %" in French (with
  // the no-break space French puts before %), the same on every page.
  percent(fraction, digits = 0) {
    return window.vigil._format("percent", digits).format(Number(fraction));
  },
  // `value` with `digits` decimals in the page's language ("33,7" in French), as the server's
  // `number()` writes it in the templates.
  number(value, digits = 1) {
    return window.vigil._format("decimal", digits).format(Number(value));
  },
  _formats: {},
  _format(style, digits) {  // made once per style and digits (a page formats many numbers)
    const key = `${style}${digits}`;
    window.vigil._formats[key] ||= new Intl.NumberFormat(document.documentElement.lang || "en", {
      style, minimumFractionDigits: digits, maximumFractionDigits: digits, useGrouping: false });
    return window.vigil._formats[key];
  },
  // A video file streamed as the request body to the upload route (201 + JSON), with progress:
  // XMLHttpRequest for its upload progress events (fetch has none).
  uploadVideo(file, onProgress) {
    return new Promise((resolve, reject) => {
      const request = new XMLHttpRequest();
      request.open("POST", "/api/anonymize/uploads?filename=" + encodeURIComponent(file.name));
      request.setRequestHeader("X-CSRF-Token", window.vigil.csrf());
      request.setRequestHeader("Content-Type", "application/octet-stream");
      request.upload.onprogress = (event) => { if (event.lengthComputable) onProgress(event.loaded / event.total); };
      request.onload = () => {
        let body = {};
        try { body = JSON.parse(request.responseText); } catch (e) { /* not JSON */ }
        if (request.status === 201) resolve(body);
        else reject(new Error(body.detail ? (typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail)) : request.statusText));
      };
      request.onerror = () => reject(new Error(request.statusText || "network error"));
      request.send(file);
    });
  },
};
