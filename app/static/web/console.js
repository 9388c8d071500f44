/* The console's behaviour: CSRF header on htmx requests, copy buttons, reset countdowns. */
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRF-Token"] = csrfToken();
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) { return; }
    var source = document.querySelector(button.dataset.copy);
    var status = button.parentElement.querySelector(".copied");
    var text = source.textContent.trim();
    function done(message) { if (status) { status.textContent = message; } }
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(function () { done("Copied"); },
        function () { selectText(source); done("Press Ctrl+C to copy"); });
    } else {
      selectText(source);
      done("Press Ctrl+C to copy");
    }
  });

  function selectText(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function countdowns() {
    document.querySelectorAll("time.countdown").forEach(function (element) {
      var left = Math.round((Date.parse(element.getAttribute("datetime")) - Date.now()) / 1000);
      if (left <= 0) { element.textContent = "now"; return; }
      var minutes = Math.floor(left / 60), seconds = left % 60;
      element.textContent = "in " + (minutes ? minutes + " min " : "") + seconds + " s";
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    countdowns();
    window.setInterval(countdowns, 1000);
  });
})();
