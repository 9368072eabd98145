/* Rhythmic Monitoring page: follows ws/events/?model=<name> and ws/models/<name>/metrics/ (JSON text frames)
   and polls the request statistics; charts and the event feed update without a reload. */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("monitoring-config").textContent);
  var Charts = window.RhythmicCharts;
  var FEED_MAX = 100;

  // --- charts --------------------------------------------------------------------------------------
  var metricCharts = {};
  var metricBox = document.getElementById("metric-charts");
  config.metrics.forEach(function (name) {
    var chart = new Charts.LineChart(metricBox, { title: name, empty: "no labelled predictions yet: learns will draw it" });
    chart.figure.setAttribute("data-metric", name);
    metricCharts[name] = chart;
    var history = (config.history || {})[name] || {};
    Object.keys(history).forEach(function (version) {
      chart.set("v" + version, history[version].map(function (p) { return [new Date(p[0]), p[1]]; }));
    });
  });
  var now = new Date();
  Object.keys(config.current || {}).forEach(function (version) {
    var values = config.current[version];
    Object.keys(values).forEach(function (name) {
      if (metricCharts[name]) metricCharts[name].add("v" + version, now, values[name]);
    });
  });
  (config.drift || []).forEach(function (d) { markDrift(new Date(d.at), d.version, d.seq, false); });

  var latencyBox = document.getElementById("latency-charts");
  var latencyCharts = {};
  ["predict", "learn"].forEach(function (route) {
    latencyCharts[route] = new Charts.LineChart(latencyBox, { title: route + " latency (ms)", empty: "no " + route + " requests in this process yet" });
    latencyCharts[route].figure.setAttribute("data-route", route);
  });

  // --- live state ----------------------------------------------------------------------------------
  var stateSeq = document.getElementById("state-seq");
  var eventCount = document.getElementById("event-count");
  var feed = document.getElementById("event-feed");
  var pauseButton = document.getElementById("feed-pause");
  var paused = false, held = [], seen = 0;

  function setSeq(seq) {
    if (typeof seq === "number") stateSeq.textContent = "#" + seq;
  }

  function onMetrics(message) {
    var at = message.at ? new Date(message.at) : new Date();
    var versions = message.versions || {};
    Object.keys(versions).forEach(function (version) {
      var values = versions[version] || {};
      Object.keys(values).forEach(function (name) {
        if (metricCharts[name]) metricCharts[name].add("v" + version, at, values[name]);
      });
    });
    setSeq(message.state_seq);
  }

  function markDrift(at, version, seq, addRow) {
    Object.keys(metricCharts).forEach(function (name) {
      metricCharts[name].marker(at, "drift of v" + version + " at learn #" + seq);
    });
    if (!addRow) return;
    var table = document.getElementById("drift-table");
    var row = document.createElement("tr");
    [["v" + version, ""], ["#" + seq, "num"], [Charts.formatDateTime(at), ""]].forEach(function (cell) {
      var td = document.createElement("td");
      td.textContent = cell[0];
      if (cell[1]) td.className = cell[1];
      row.appendChild(td);
    });
    table.tBodies[0].insertBefore(row, table.tBodies[0].firstChild);
    table.hidden = false;
    document.getElementById("drift-empty").hidden = true;
  }

  function rounded(key, value) {
    return typeof value === "number" && !Number.isInteger(value) ? +value.toPrecision(4) : value;
  }

  function short(value) {
    var text = JSON.stringify(value, rounded);
    return text && text.length > 80 ? text.slice(0, 77) + "…" : text;
  }

  function describe(e) {
    switch (e.type) {
      case "predict":
        return "v" + e.version + " predicted " + short(e.prediction) + (e.id !== null && e.id !== undefined ? " (id " + short(e.id) + ")" : "") + " for " + short(e.features);
      case "learn":
        return "v" + e.version + " learned #" + e.seq + ": truth " + short(e.ground_truth) + ", predicted " + short(e.prediction);
      case "deploy":
        return e.action + " v" + (e.from_version === null ? "none" : e.from_version) + " → " + (e.to_version === null ? "none" : "v" + e.to_version) + (e.user ? " by " + e.user : "") + (e.note ? ": “" + e.note + "”" : "");
      case "validation":
        return "v" + e.version + " " + e.status + (e.summary ? ": " + e.summary : "");
      case "drift":
        return "drift of v" + e.version + " at learn #" + e.seq;
      case "non_finite":
        return "v" + e.version + " predicted " + e.prediction + " at learn #" + e.seq + ": its live state turned non-finite";
      case "alert":
        return (e.rule || e.name || "alert") + " " + (e.state || "") + (e.message ? ": " + e.message : "");
      default:
        return short(e);
    }
  }

  function addToFeed(e) {
    var empty = feed.querySelector(".feed-empty");
    if (empty) empty.remove();
    var item = document.createElement("li");
    item.className = "feed-item feed-" + (e.type || "other");
    var when = document.createElement("time");
    var at = e.at ? new Date(e.at) : new Date();
    when.dateTime = at.toISOString();
    when.textContent = Charts.formatTime(at);
    var kind = document.createElement("span");
    kind.className = "kind";
    kind.textContent = e.type || "event";
    var text = document.createElement("span");
    text.className = "text";
    text.textContent = describe(e) + (e.skipped ? " (+" + e.skipped + " sampled out)" : "");
    item.appendChild(when);
    item.appendChild(kind);
    item.appendChild(text);
    feed.insertBefore(item, feed.firstChild);
    while (feed.children.length > FEED_MAX) feed.removeChild(feed.lastChild);
  }

  function onEvent(e) {
    seen += 1 + (e.skipped || 0);
    eventCount.textContent = seen;
    if (typeof e.state_seq === "number") setSeq(e.state_seq);
    if (e.type === "learn" && typeof e.seq === "number") setSeq(e.seq);
    if (e.type === "drift") markDrift(e.at ? new Date(e.at) : new Date(), e.version, e.seq, true);
    if (e.type === "deploy") {
      var badge = document.querySelector("[data-production]");
      if (badge) {
        badge.textContent = e.to_version === null ? "none" : "v" + e.to_version;
        badge.className = e.to_version === null ? "muted" : "badge badge-live";
      }
    }
    if (paused) { held.push(e); pauseButton.textContent = "Resume (" + held.length + ")"; return; }
    addToFeed(e);
  }

  pauseButton.addEventListener("click", function () {
    paused = !paused;
    pauseButton.setAttribute("aria-pressed", String(paused));
    if (!paused) {
      held.slice(-FEED_MAX).forEach(addToFeed);
      held = [];
    }
    pauseButton.textContent = paused ? "Resume" : "Pause";
  });

  // --- sockets -------------------------------------------------------------------------------------
  var conn = document.getElementById("conn-state");
  var sockets = {};

  function showConnection() {
    var names = Object.keys(sockets);
    var open = names.filter(function (n) { return sockets[n].open; }).length;
    var refused = names.filter(function (n) { return sockets[n].refused; });
    var state = refused.length ? "refused" : open === names.length ? "live" : "connecting";
    conn.setAttribute("data-conn", state);
    conn.querySelector(".conn-text").textContent =
      state === "live" ? "live" : state === "refused" ? "live updates refused (" + sockets[refused[0]].reason + "): reload to log in again" : "reconnecting…";
  }

  function follow(name, path, handle) {
    var entry = (sockets[name] = { open: false, refused: false, reason: "", delay: 500 });
    function connect() {
      var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
      var ws = new WebSocket(url);
      ws.onopen = function () { entry.open = true; entry.delay = 500; showConnection(); };
      ws.onmessage = function (message) {
        var data;
        try { data = JSON.parse(message.data); } catch (err) { return; }
        if (data && data.type === "error") return;
        handle(data);
      };
      ws.onclose = function (event) {
        entry.open = false;
        // 4401/4403/4404: not logged in, not allowed, no such model: retrying would not help.
        if (event.code >= 4400 && event.code < 4500) {
          entry.refused = true;
          entry.reason = event.reason || "code " + event.code;
        } else {
          setTimeout(connect, entry.delay);
          entry.delay = Math.min(entry.delay * 2, 10000);
        }
        showConnection();
      };
    }
    connect();
  }

  follow("metrics", config.ws_metrics, function (m) { if (m.type === "metrics") onMetrics(m); });
  follow("events", config.ws_events, onEvent);

  // --- request statistics (polled: they are per process, not broadcast) ------------------------------
  var statsTable = document.getElementById("stats-table");
  var lastCalls = {};

  function ms(ns) { return ns === undefined || ns === null ? "—" : +(ns / 1e6).toPrecision(3) + " ms"; }

  function onStats(data) {
    var at = data.at ? new Date(data.at) : new Date();
    var routes = data.routes || {};
    var body = statsTable.tBodies[0];
    var names = Object.keys(routes).sort();
    if (!names.length) return;
    body.innerHTML = "";
    names.forEach(function (route) {
      var s = routes[route];
      var row = document.createElement("tr");
      var th = document.createElement("th");
      th.scope = "row";
      th.textContent = route;
      row.appendChild(th);
      [s.n_calls, ms(s.mean_duration), ms(s.ewm_duration), ms(s.p50_duration), ms(s.p95_duration), ms(s.p99_duration)].forEach(function (v) {
        var td = document.createElement("td");
        td.className = "num";
        td.textContent = v;
        row.appendChild(td);
      });
      body.appendChild(row);
      var chart = latencyCharts[route.replace(/_many$/, "")];
      if (chart && s.n_calls !== lastCalls[route]) {
        var suffix = /_many$/.test(route) ? " (batch)" : "";
        chart.add("p50" + suffix, at, s.p50_duration / 1e6);
        chart.add("p95" + suffix, at, s.p95_duration / 1e6);
      }
      lastCalls[route] = s.n_calls;
    });
  }

  function poll() {
    if (document.hidden) return setTimeout(poll, 2000);
    fetch(config.stats_url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) onStats(data); })
      .catch(function () {})
      .then(function () { setTimeout(poll, 2000); });
  }
  poll();
})();
