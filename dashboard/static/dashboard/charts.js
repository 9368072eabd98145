/* Rhythmic: small hand-written SVG line charts (time on x, one line per series, optional markers). */
(function () {
  "use strict";

  var SVG = "http://www.w3.org/2000/svg";
  var PALETTE = ["#1f6fb2", "#d9480f", "#2b8a3e", "#862e9c", "#c2255c", "#0b7285", "#5c940d", "#e67700"];
  var H = 200, PAD = { left: 56, right: 12, top: 12, bottom: 26 };

  function el(name, attrs, parent) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (parent) parent.appendChild(node);
    return node;
  }

  function niceTicks(low, high, count) {
    if (low === high) { low -= 1; high += 1; }
    var raw = (high - low) / count;
    var magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
    var step = [1, 2, 2.5, 5, 10].map(function (m) { return m * magnitude; }).find(function (s) { return s >= raw; });
    var first = Math.floor(low / step), last = Math.ceil(high / step), ticks = [];
    for (var k = first; k <= last; k++) ticks.push(+(k * step).toPrecision(12));
    return ticks;
  }

  function formatNumber(value) {
    if (value === null || value === undefined || isNaN(value)) return "—";
    var abs = Math.abs(value);
    if (abs !== 0 && (abs >= 1e5 || abs < 1e-3)) return value.toExponential(2);
    return +value.toPrecision(4) + "";
  }

  function formatDateTime(date) {
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) + " " + formatTime(date);
  }

  function formatTime(date) {
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
  }

  /**
   * new LineChart(container, {title, unit, maxPoints, formatX, minSpan, onPoint})
   *   .add(series, date, value)  .set(series, [[date, value, extra?], ...])  .marker(date, label)
   * x is a time unless formatX says how to label another number (minSpan: the narrowest x range shown);
   * with onPoint(series, point), every point is a focusable dot that calls it on click or Enter.
   */
  function LineChart(container, options) {
    options = options || {};
    this.title = options.title || "";
    this.unit = options.unit || "";
    this.emptyText = options.empty || "waiting for data…";
    this.maxPoints = options.maxPoints || 300;
    this.series = {};
    this.order = [];
    this.markers = [];
    this.colors = options.colors || {};
    this.formatX = options.formatX || function (t) { return formatTime(new Date(t)); };
    this.minSpan = options.minSpan === undefined ? 10000 : options.minSpan;
    this.onPoint = options.onPoint || null;
    this.figure = document.createElement("figure");
    this.figure.className = "chart";
    var caption = document.createElement("figcaption");
    caption.innerHTML = '<span class="chart-title"></span><span class="chart-latest"></span>';
    caption.querySelector(".chart-title").textContent = this.title;
    this.latest = caption.querySelector(".chart-latest");
    this.figure.appendChild(caption);
    this.svg = el("svg", { role: "img", "aria-label": this.title, height: H }, this.figure);
    this.legend = document.createElement("ul");
    this.legend.className = "legend";
    this.figure.appendChild(this.legend);
    container.appendChild(this.figure);
    this.pending = false;
    this.width = 0;
    var self = this;
    // Drawn in the SVG's own pixels (not scaled), so text stays legible at any width; redrawn on resize.
    if (window.ResizeObserver) {
      new ResizeObserver(function () {
        if (Math.round(self.svg.getBoundingClientRect().width) !== self.width) self.schedule();
      }).observe(this.figure);
    }
    this.render();
  }

  LineChart.prototype.color = function (name) {
    if (!this.colors[name]) this.colors[name] = PALETTE[this.order.indexOf(name) % PALETTE.length];
    return this.colors[name];
  };

  LineChart.prototype.ensure = function (name) {
    if (!this.series[name]) {
      this.series[name] = [];
      this.order.push(name);
      this.order.sort(function (a, b) { return a.localeCompare(b, undefined, { numeric: true }); });
      var self = this;
      this.colors = {};
      this.order.forEach(function (n) { self.color(n); });
    }
    return this.series[name];
  };

  LineChart.prototype.add = function (name, date, value) {
    if (value === null || value === undefined || isNaN(value)) return this;
    var points = this.ensure(name);
    points.push([date, +value]);
    if (points.length > this.maxPoints) points.splice(0, points.length - this.maxPoints);
    return this.schedule();
  };

  LineChart.prototype.set = function (name, points) {
    this.ensure(name);
    this.series[name] = points.filter(function (p) { return p[1] !== null && !isNaN(p[1]); }).slice(-this.maxPoints);
    return this.schedule();
  };

  LineChart.prototype.marker = function (date, label) {
    this.markers.push([date, label]);
    if (this.markers.length > 100) this.markers.shift();
    return this.schedule();
  };

  LineChart.prototype.pointCount = function () {
    var self = this;
    return this.order.reduce(function (n, name) { return n + self.series[name].length; }, 0);
  };

  LineChart.prototype.schedule = function () {
    if (this.pending) return this;
    this.pending = true;
    var self = this;
    var run = function () { self.pending = false; self.render(); };
    if (document.hidden || !window.requestAnimationFrame) setTimeout(run, 0); else window.requestAnimationFrame(run);
    return this;
  };

  LineChart.prototype.render = function () {
    var svg = this.svg, self = this;
    var W = (this.width = Math.max(240, Math.round(svg.getBoundingClientRect().width) || 480));
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var all = [];
    this.order.forEach(function (name) { all = all.concat(self.series[name]); });
    this.figure.setAttribute("data-points", all.length);
    if (!all.length) {
      el("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "chart-empty" }, svg).textContent = this.emptyText;
      this.latest.textContent = "";
      this.legend.innerHTML = "";
      return;
    }
    var times = all.map(function (p) { return +p[0]; });
    var values = all.map(function (p) { return p[1]; });
    var t0 = Math.min.apply(null, times), t1 = Math.max.apply(null, times);
    if (t1 - t0 < this.minSpan) { t0 = t1 - this.minSpan; }  // at least minSpan (10 s of time), so a first point is not centred alone
    if (t1 === t0) { t0 = t1 - 1; }
    var lowV = Math.min.apply(null, values), highV = Math.max.apply(null, values);
    var ticks = niceTicks(lowV, highV, 4);
    var y0 = ticks[0], y1 = ticks[ticks.length - 1];
    if (y1 === y0) y1 = y0 + 1;
    var plotW = W - PAD.left - PAD.right, plotH = H - PAD.top - PAD.bottom;
    var x = function (t) { return PAD.left + ((+t - t0) / (t1 - t0)) * plotW; };
    var y = function (v) { return PAD.top + (1 - (v - y0) / (y1 - y0)) * plotH; };

    ticks.forEach(function (tick) {
      el("line", { x1: PAD.left, x2: W - PAD.right, y1: y(tick), y2: y(tick), class: "grid" }, svg);
      el("text", { x: PAD.left - 6, y: y(tick) + 4, "text-anchor": "end", class: "axis" }, svg).textContent = formatNumber(tick) + self.unit;
    });
    for (var i = 0; i <= 3; i++) {
      var t = t0 + ((t1 - t0) * i) / 3;
      el("text", { x: x(t), y: H - 8, "text-anchor": i === 0 ? "start" : i === 3 ? "end" : "middle", class: "axis" }, svg).textContent = self.formatX(t);
    }
    this.markers.forEach(function (m) {
      if (+m[0] < t0) return;
      var line = el("line", { x1: x(m[0]), x2: x(m[0]), y1: PAD.top, y2: H - PAD.bottom, class: "marker" }, svg);
      el("title", {}, line).textContent = m[1];
    });
    var latest = [];
    this.order.forEach(function (name) {
      var points = self.series[name];
      if (!points.length) return;
      var d = points.map(function (p, k) { return (k ? "L" : "M") + x(p[0]).toFixed(1) + "," + y(p[1]).toFixed(1); }).join("");
      el("path", { d: d, fill: "none", stroke: self.color(name), "stroke-width": 2, class: "line", "data-series": name }, svg);
      var last = points[points.length - 1];
      el("circle", { cx: x(last[0]), cy: y(last[1]), r: 3, fill: self.color(name) }, svg);
      if (self.onPoint) self.drawPoints(name, points, x, y);
      latest.push(name + " " + formatNumber(last[1]) + self.unit);
    });
    this.latest.textContent = latest.join(" · ");
    svg.setAttribute("aria-label", this.title + ": " + latest.join(", "));
    this.legend.innerHTML = "";
    this.order.forEach(function (name) {
      var item = document.createElement("li");
      var swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = self.color(name);
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(name));
      self.legend.appendChild(item);
    });
  };

  LineChart.prototype.drawPoints = function (name, points, x, y) {
    var self = this;
    points.forEach(function (p) {
      var dot = el("circle", {
        cx: x(p[0]), cy: y(p[1]), r: 5, fill: self.color(name), class: "point", tabindex: 0, role: "button",
        "data-series": name, "data-x": +p[0], "aria-label": name + " at " + self.formatX(p[0]) + ": " + formatNumber(p[1]) + self.unit,
      }, self.svg);
      el("title", {}, dot).textContent = dot.getAttribute("aria-label");
      var pick = function () { self.onPoint(name, p); };
      dot.addEventListener("click", pick);
      dot.addEventListener("keydown", function (event) { if (event.key === "Enter" || event.key === " ") { event.preventDefault(); pick(); } });
    });
  };

  window.RhythmicCharts = { LineChart: LineChart, formatNumber: formatNumber, formatTime: formatTime, formatDateTime: formatDateTime };
})();
