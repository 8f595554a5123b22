// evolab's own script: no inline handlers, so a strict Content-Security-Policy holds.
// A CSRF failure inside an htmx request must not fail silently: tell the person to reload.
document.addEventListener("htmx:responseError", (event) => {
  const xhr = event.detail.xhr;
  if (xhr.status === 403 && xhr.responseText.includes("security token")) {
    window.alert("This page is out of date. Reload it and try again; nothing was changed.");
  }
});
// hx-confirm on plain (non-htmx) forms: ask before submitting.
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.getAttribute("hx-confirm");
  if (question && !form.hasAttribute("hx-post") && !window.confirm(question)) {
    event.preventDefault();
  }
});
