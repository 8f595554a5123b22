// evolab's own script: no inline handlers, so a strict Content-Security-Policy holds.
// A CSRF failure inside an htmx request is shown by csrf.js.
// hx-confirm on plain (non-htmx) forms: ask before submitting.
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.getAttribute("hx-confirm");
  if (question && !form.hasAttribute("hx-post") && !window.confirm(question)) {
    event.preventDefault();
  }
});
