/* Cards of background jobs (the Backtests card, the Training jobs page): progress bars follow the model's live
   events (ws/events/?model=<name>), with a slow poll of the JSON API while a job is unfinished (it may end before
   the socket opens). When a job ends, the card is fetched again so its results appear without a reload.
   A card says what it follows: <section id=… data-job-type="backtest" (the live event type) data-job-row="backtest"
   (its rows are [data-backtest=<id>], with [data-backtest-percent|-status|-<count>]) data-job-count="events"
   (the count shown: job.events_done / job.events_total) data-events=… data-api=…>. */
(function () {
  "use strict";

  var FINISHED = { succeeded: true, failed: true, cancelled: true };
  var BADGES = { queued: "wait", running: "wait", pending: "wait", preloading: "wait", succeeded: "ok", failed: "bad", cancelled: "muted" };
  Array.prototype.forEach.call(document.querySelectorAll("[data-job-type]"), followCard);

  function followCard(card) {
    var cardId = card.id;
    var type = card.getAttribute("data-job-type");
    var key = card.getAttribute("data-job-row");
    var count = card.getAttribute("data-job-count");
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
          var next = new DOMParser().parseFromString(html, "text/html").getElementById(cardId);
          var now = document.getElementById(cardId);
          if (next && now) now.replaceWith(next);
        })
        .catch(function () {})
        .then(function () { refreshing = false; });
    }

    // One job's state (a live event or the API's answer) drawn into its row.
    function draw(job) {
      var row = document.querySelector("#" + cardId + " [data-" + key + '="' + job.id + '"]');
      if (!row) return refreshCard(); // started elsewhere (another tab, the API, the CLI)
      var percent = Math.round((job.progress || 0) * 100);
      var bar = row.querySelector("progress");
      if (bar) { bar.value = percent; bar.textContent = percent + "%"; }
      var text = row.querySelector("[data-" + key + "-percent]");
      if (text) text.textContent = percent + "%";
      var counted = row.querySelector("[data-" + key + "-" + count + "]");
      if (counted) counted.textContent = job[count + "_done"] + " / " + job[count + "_total"] + " " + count;
      var badge = row.querySelector("[data-" + key + "-status]");
      if (badge) { badge.textContent = job.status; badge.className = "badge badge-" + (BADGES[job.status] || "muted"); }
      var was = row.getAttribute("data-status");
      row.setAttribute("data-status", job.status);
      if (FINISHED[job.status] && !FINISHED[was]) refreshCard();
    }

    function unfinished() {
      return Array.prototype.map.call(
        document.querySelectorAll("#" + cardId + " [data-" + key + "]"),
        function (row) { return FINISHED[row.getAttribute("data-status")] ? null : row.getAttribute("data-" + key); }
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
          if (data && data.type === type) draw(data);
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
          .then(function (job) { if (job) draw(job); })
          .catch(function () {});
      });
      Promise.all(pending).then(function () { setTimeout(poll, ids.length ? 2000 : 5000); });
    }

    if ("WebSocket" in window) follow();
    setTimeout(poll, 2000);
  }
})();
