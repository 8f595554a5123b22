// Charts: every .plotly-chart[data-figure] is drawn from its JSON (built by the server),
// now and after each htmx swap. A point whose customdata is a path in evolab opens it on
// click. plotly's modebar stays on, for its image download.
(() => {
  "use strict";
  if (window.evolabCharts) return; // the script may be included more than once on a page
  window.evolabCharts = true;

  function open(data) {
    const point = data.points && data.points[0];
    const url = point && point.customdata;
    // Only paths of this site: a figure never sends anyone elsewhere.
    if (typeof url === "string" && url.startsWith("/") && !url.startsWith("//")) window.location.assign(url);
  }

  function drawCharts(root) {
    if (!window.Plotly) return;
    root.querySelectorAll(".plotly-chart[data-figure]:not([data-drawn])").forEach((element) => {
      const figure = JSON.parse(element.dataset.figure);
      element.dataset.drawn = "1";
      const config = { responsive: true, displaylogo: false };
      window.Plotly.newPlot(element, figure.data, figure.layout, config).then(() => element.on("plotly_click", open));
    });
  }

  document.addEventListener("htmx:afterSettle", () => drawCharts(document));
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => drawCharts(document));
  } else {
    drawCharts(document);
  }
  // plotly.js is loaded with defer too; draw once it is there.
  window.addEventListener("load", () => drawCharts(document));
})();
