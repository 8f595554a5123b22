// The proposal page: keyboard shortcuts for reading cases quickly (its chart is drawn by
// charts.js). No inline handlers and no HTML built from data.
(() => {
  "use strict";

  // --- Keyboard: j/k move between case rows, r (or t) folds reasoning, v goes to the vote
  // form, ? lists the keys. Keys typed into a field are the field's.
  function typing(target) {
    return target.closest("input, textarea, select, [contenteditable=''], [contenteditable='true']") !== null;
  }

  function caseRows() {
    return Array.from(document.querySelectorAll("[data-case-row]"));
  }

  function moveCase(step) {
    const rows = caseRows();
    if (!rows.length) return;
    const current = rows.findIndex((row) => row.classList.contains("selected"));
    const next = current === -1 ? (step > 0 ? 0 : rows.length - 1) : Math.min(rows.length - 1, Math.max(0, current + step));
    rows.forEach((row) => row.classList.remove("selected"));
    const row = rows[next];
    row.classList.add("selected");
    // Focus the row's link: focus stays visible and Enter opens the transcripts.
    const link = row.querySelector("a[data-compare]");
    if (link) link.focus();
    row.scrollIntoView({ block: "nearest" });
  }

  function toggleReasoning() {
    const blocks = Array.from(document.querySelectorAll("details.reasoning"));
    if (!blocks.length) return;
    const open = blocks.some((block) => !block.open);
    blocks.forEach((block) => {
      block.open = open;
    });
  }

  function focusVote() {
    const field = document.querySelector(
      "#review-panel select, #review-panel input:not([type=hidden]), #review-panel textarea, #review-panel button",
    );
    if (!field) return false;
    field.focus();
    field.scrollIntoView({ block: "center" });
    return true;
  }

  function toggleHelp() {
    const help = document.getElementById("keys-help");
    const button = document.querySelector("[data-keys-help]");
    if (!help) return;
    help.hidden = !help.hidden;
    if (button) button.setAttribute("aria-expanded", String(!help.hidden));
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    const actions = {
      j: () => moveCase(1),
      k: () => moveCase(-1),
      r: toggleReasoning,
      t: toggleReasoning,
      v: focusVote,
      "?": toggleHelp,
    };
    const action = actions[event.key];
    if (action && action() !== false) event.preventDefault();
  });

  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-keys-help]")) toggleHelp();
  });

  // A transcript pair that arrives by htmx takes the focus, so a keyboard user is there.
  document.addEventListener("htmx:afterSettle", (event) => {
    const pair = document.getElementById("pair");
    const swapped = event.detail.target || event.detail.elt;
    if (swapped && swapped.id === "pair" && pair && pair.querySelector("h2")) {
      pair.focus();
      pair.scrollIntoView({ block: "start" });
    }
  });

  // Live review activity re-fetches the review panel; not while someone is writing in it
  // (the refresh would wipe the text). Their own submit re-renders the panel anyway.
  document.addEventListener("htmx:beforeRequest", (event) => {
    const panel = event.detail.elt;
    if (!(panel instanceof Element) || panel.id !== "review-panel") return;
    if (event.detail.requestConfig && event.detail.requestConfig.verb !== "get") return;
    const fields = panel.querySelectorAll("textarea, input[type=text], input:not([type])");
    if (Array.from(fields).some((field) => field.value !== field.defaultValue)) event.preventDefault();
  });
})();
