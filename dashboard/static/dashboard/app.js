/* Rhythmic pages: small behaviours shared by every page. */
(function () {
  "use strict";

  // A token shown once: focusing the field selects it for copying.
  document.querySelectorAll("[data-select-on-focus]").forEach(function (input) {
    input.addEventListener("focus", function () { input.select(); });
  });

  // Dashboard: while a version is pending or validating, fetch the page again and swap in the versions
  // and the history, so the result appears without a reload.
  var versions = document.getElementById("versions");
  if (versions && versions.hasAttribute("data-waiting")) {
    var delay = 1000;
    var refresh = function () {
      fetch(location.pathname, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (!html) return true;
          var fresh = new DOMParser().parseFromString(html, "text/html");
          ["versions", "history"].forEach(function (id) {
            var now = document.getElementById(id), next = fresh.getElementById(id);
            if (now && next) now.replaceWith(next);
          });
          var next = document.getElementById("versions");
          return next && next.hasAttribute("data-waiting");
        })
        .catch(function () { return true; })
        .then(function (again) {
          if (again) {
            delay = Math.min(delay * 1.5, 10000);
            setTimeout(refresh, delay);
          }
        });
    };
    setTimeout(refresh, delay);
  }
})();
