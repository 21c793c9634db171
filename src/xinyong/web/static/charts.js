// xinyong: bar charts drawn from a data- attribute (no inline scripts: the CSP allows only
// scripts served from this site). Markup: <figure class="chart" data-chart='{"categories": [...],
// "series": [{"name": "...", "data": [...]}, ...]}'>. Needs /static/vendor/echarts.min.js first.
(function () {
  "use strict";

  var COLOURS = ["#1565c0", "#c62828", "#ef6c00", "#2e7d32", "#6a1b9a"];

  function draw(el) {
    if (typeof window.echarts === "undefined") {
      return;
    }
    var spec;
    try {
      spec = JSON.parse(el.getAttribute("data-chart") || "{}");
    } catch (e) {
      return;
    }
    if (!spec.categories || !spec.categories.length) {
      return;
    }
    // Horizontal bars: long department names read across, and the chart grows with their number.
    var n = spec.categories.length;
    el.style.height = Math.max(160, 70 + 26 * n * Math.max(1, (spec.series || []).length / 2)) + "px";
    var chart = window.echarts.init(el, null, { renderer: "canvas" });
    chart.setOption({
      color: COLOURS,
      // richText: the tooltip is drawn in the canvas, not as HTML with inline styles (blocked by the CSP).
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, renderMode: "richText" },
      legend: { top: 0 },
      grid: { left: 8, right: 24, top: 32, bottom: 8, containLabel: true },
      yAxis: { type: "category", data: spec.categories, inverse: true,
               axisLabel: { width: 220, overflow: "truncate" } },
      xAxis: { type: "value", minInterval: 1 },
      series: (spec.series || []).map(function (s) {
        return { name: s.name, type: "bar", data: s.data, barMaxWidth: 14 };
      })
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }

  function drawAll() {
    document.querySelectorAll("[data-chart]").forEach(draw);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawAll);
  } else {
    drawAll();
  }
})();
