/* Dashboard Backtests card: progress bars follow the model's live events (ws/events/?model=<name>, type
   "backtest"), with a slow poll of the JSON API while one is unfinished (a run may end before the socket opens).
   When a backtest ends, the card is fetched again so its results table appears without a reload. */
(function () {
  "use strict";

  var FINISHED = { succeeded: true, failed: true, cancelled: true };
  var BADGES = { queued: "wait", running: "wait", succeeded: "ok", failed: "bad", cancelled: "muted" };
  var card = document.getElementById("backtests");
  if (!card) return;
  var eventsPath = card.getAttribute("data-events");
  var apiPath = card.getAttribute("data-api");
  var refreshing = false;

  function refreshCard() {
    if (refreshing) return;
    refreshing = true;
    fetch(location.pathname, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var next = new DOMParser().parseFromString(html, "text/html").getElementById("backtests");
        var now = document.getElementById("backtests");
        if (next && now) now.replaceWith(next);
      })
      .catch(function () {})
      .then(function () { refreshing = false; });
  }

  // One backtest's state (a live event or the API's answer) drawn into its row.
  function draw(b) {
    var row = document.querySelector('#backtests [data-backtest="' + b.id + '"]');
    if (!row) return refreshCard(); // started elsewhere (another tab, the API, the CLI)
    var percent = Math.round((b.progress || 0) * 100);
    var bar = row.querySelector("progress");
    if (bar) { bar.value = percent; bar.textContent = percent + "%"; }
    var text = row.querySelector("[data-backtest-percent]");
    if (text) text.textContent = percent + "%";
    var events = row.querySelector("[data-backtest-events]");
    if (events) events.textContent = b.events_done + " / " + b.events_total + " events";
    var badge = row.querySelector("[data-backtest-status]");
    if (badge) { badge.textContent = b.status; badge.className = "badge badge-" + (BADGES[b.status] || "muted"); }
    var was = row.getAttribute("data-status");
    row.setAttribute("data-status", b.status);
    if (FINISHED[b.status] && !FINISHED[was]) refreshCard();
  }

  function unfinished() {
    return Array.prototype.map.call(
      document.querySelectorAll("#backtests [data-backtest]"),
      function (row) { return FINISHED[row.getAttribute("data-status")] ? null : row.getAttribute("data-backtest"); }
    ).filter(Boolean);
  }

  function follow() {
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + eventsPath;
    var delay = 500;
    function connect() {
      var ws = new WebSocket(url);
      ws.onopen = function () { delay = 500; };
      ws.onmessage = function (message) {
        var data;
        try { data = JSON.parse(message.data); } catch (err) { return; }
        if (data && data.type === "backtest") draw(data);
      };
      ws.onclose = function (event) {
        if (event.code >= 4400 && event.code < 4500) return; // refused: the poll still updates the card
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, 10000);
      };
    }
    connect();
  }

  function poll() {
    var ids = unfinished();
    var pending = ids.map(function (id) {
      return fetch(apiPath + id + "/", { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (b) { if (b) draw(b); })
        .catch(function () {});
    });
    Promise.all(pending).then(function () { setTimeout(poll, ids.length ? 2000 : 5000); });
  }

  if ("WebSocket" in window) follow();
  setTimeout(poll, 2000);
})();
