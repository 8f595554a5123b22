// A refused CSRF check in an htmx request must not fail silently: htmx does not swap
// error responses, so the server marks this refusal (X-Evolab-Error: csrf, a plain-text
// message; see evolab/core/csrf.py) and this script shows the message in a banner.
(() => {
  "use strict";
  const BANNER_ID = "csrf-banner";

  function showBanner(message) {
    let banner = document.getElementById(BANNER_ID);
    if (!banner) {
      banner = document.createElement("div");
      banner.id = BANNER_ID;
      banner.className = "error-box";
      banner.setAttribute("role", "alert");
      const text = document.createElement("span");
      const reload = document.createElement("button");
      reload.type = "button";
      reload.textContent = "Reload the page";
      reload.addEventListener("click", () => window.location.reload());
      banner.append(text, " ", reload);
      const main = document.getElementById("main") || document.body;
      main.prepend(banner);
    }
    // textContent: the message is shown as text, never parsed as markup.
    banner.querySelector("span").textContent = message;
    banner.scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("htmx:responseError", (event) => {
    const xhr = event.detail.xhr;
    if (xhr.status === 403 && xhr.getResponseHeader("X-Evolab-Error") === "csrf") {
      showBanner(xhr.responseText || "Your session or this form expired — reload the page.");
    }
  });
})();
