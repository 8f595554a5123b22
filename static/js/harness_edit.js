// Harness editor: "Add a file" clones the formset's empty row. Without this script the
// form still works; it always renders one blank row for a new file.
(() => {
  const button = document.getElementById("add-file-row");
  const template = document.getElementById("file-row-template");
  const rows = document.getElementById("file-rows");
  const total = document.getElementById("id_f-TOTAL_FORMS");
  if (!button || !template || !rows || !total) {
    return;
  }
  button.addEventListener("click", () => {
    const index = Number.parseInt(total.value, 10);
    const html = template.innerHTML.replace(/__prefix__/g, String(index));
    rows.insertAdjacentHTML("beforeend", html);
    total.value = String(index + 1);
    const row = rows.lastElementChild;
    const path = row && row.querySelector("input[type=text]");
    if (path) {
      path.focus();
    }
  });
  // A ticked "remove" dims its file, so what will be committed is visible at a glance.
  rows.addEventListener("change", (event) => {
    const box = event.target;
    if (box instanceof HTMLInputElement && box.type === "checkbox") {
      const row = box.closest("[data-file-row]");
      if (row) {
        row.classList.toggle("removed", box.checked);
      }
    }
  });
})();
