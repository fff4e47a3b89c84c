/* Draw every server-built plotly figure in a freshly loaded or HTMX-swapped fragment. */
(function () {
  function draw(root) {
    if (!window.Plotly) return;
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      var source = document.getElementById(el.dataset.chart);
      if (!source) return;
      var spec = JSON.parse(source.textContent);
      window.Plotly.react(el, spec.data, spec.layout, { displayModeBar: false, responsive: true });
      el.dataset.drawn = "1";
    });
  }
  if (window.htmx) {
    window.htmx.onLoad(draw);
  } else {
    document.addEventListener("DOMContentLoaded", function () { draw(document); });
  }
})();
