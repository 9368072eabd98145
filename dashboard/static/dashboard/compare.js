/* Rhythmic compare page: one chart per metric, one line per compared version, from metric snapshots. */
(function () {
  "use strict";
  var source = document.getElementById("compare-series");
  var box = document.getElementById("compare-charts");
  if (!source || !box) return;
  var series = JSON.parse(source.textContent);
  Object.keys(series).forEach(function (metric) {
    var chart = new window.RhythmicCharts.LineChart(box, { title: metric });
    Object.keys(series[metric]).forEach(function (version) {
      chart.set("v" + version, series[metric][version].map(function (p) { return [new Date(p[0]), p[1]]; }));
    });
  });
})();
