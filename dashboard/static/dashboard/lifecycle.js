/* Rhythmic: the model page's chart of production, canary and challengers (a line per learning version, x the
   learn-log entry of each metric snapshot). Clicking a point opens the rewind preview of that version, back to
   right after that entry. */
(function () {
  "use strict";

  var source = document.getElementById("lifecycle-chart-data");
  var box = document.getElementById("lifecycle-chart-box");
  if (!source || !box || !window.RhythmicCharts) return;
  var data = JSON.parse(source.textContent);
  var picker = document.getElementById("lifecycle-metric");

  function rewindTo(label, point) {
    var query = "?version=" + encodeURIComponent(data.versions[label]) + "&to_seq=" + encodeURIComponent(point[0]);
    window.location.assign(data.rewind_url + query);
  }

  function draw(metric) {
    box.innerHTML = "";
    var chart = new window.RhythmicCharts.LineChart(box, {
      title: metric + " per version",
      empty: "no snapshot yet: they are taken after learns",
      formatX: function (seq) { return "#" + Math.round(seq); },
      minSpan: 1,
      onPoint: data.rewind_url ? rewindTo : null,
    });
    var series = data.series[metric] || {};
    Object.keys(series).forEach(function (label) { chart.set(label, series[label]); });
  }

  draw(picker ? picker.value : data.headline);
  if (picker) picker.addEventListener("change", function () { draw(picker.value); });
})();
