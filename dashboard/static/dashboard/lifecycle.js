/* Rhythmic: the model page's chart of production, canary and challengers (a line per learning version, x the
   learn-log entry of each metric snapshot, then of each live metrics update from the model's WebSocket).
   Clicking a point opens the rewind preview of that version, back to right after that entry. */
(function () {
  "use strict";

  var source = document.getElementById("lifecycle-chart-data");
  var box = document.getElementById("lifecycle-chart-box");
  if (!source || !box || !window.RhythmicCharts) return;
  var data = JSON.parse(source.textContent);
  var picker = document.getElementById("lifecycle-metric");
  var labels = {};  // version number -> its label
  Object.keys(data.versions).forEach(function (label) { labels[data.versions[label]] = label; });
  var chart = null, metric = picker ? picker.value : data.headline;

  function rewindTo(label, point) {
    var query = "?version=" + encodeURIComponent(data.versions[label]) + "&to_seq=" + encodeURIComponent(point[0]);
    window.location.assign(data.rewind_url + query);
  }

  function draw() {
    box.innerHTML = "";
    chart = new window.RhythmicCharts.LineChart(box, {
      title: metric + " per version",
      empty: "no snapshot yet: they are taken after learns",
      formatX: function (seq) { return "#" + Math.round(seq); },
      minSpan: 1,
      onPoint: data.rewind_url ? rewindTo : null,
    });
    var series = data.series[metric] || {};
    Object.keys(series).forEach(function (label) { chart.set(label, series[label]); });
  }

  // A live update: a point at its state_seq for each version the page labels (a new one needs a reload).
  function onMetrics(message) {
    var seq = message.state_seq, versions = message.versions || {};
    if (typeof seq !== "number") return;
    Object.keys(versions).forEach(function (number) {
      var label = labels[number], values = versions[number] || {};
      if (!label) return;
      Object.keys(values).forEach(function (name) {
        var points = ((data.series[name] = data.series[name] || {})[label] = data.series[name][label] || []);
        if (values[name] === null || (points.length && points[points.length - 1][0] >= seq)) return;
        points.push([seq, values[name], message.at || null]);
        if (name === metric) chart.add(label, seq, values[name]);
      });
    });
  }

  function follow(path, delay) {
    var ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + path);
    ws.onopen = function () { delay = 500; };
    ws.onmessage = function (event) {
      var message;
      try { message = JSON.parse(event.data); } catch (err) { return; }
      if (message && message.type === "metrics") onMetrics(message);
    };
    ws.onclose = function (event) {
      if (event.code >= 4400 && event.code < 4500) return;  // refused: retrying would not help
      setTimeout(function () { follow(path, Math.min(delay * 2, 10000)); }, delay);
    };
  }

  draw();
  if (picker) picker.addEventListener("change", function () { metric = picker.value; draw(); });
  if (data.ws_metrics && window.WebSocket) follow(data.ws_metrics, 500);
})();
