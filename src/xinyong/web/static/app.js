// xinyong: send the session's CSRF token with every HTMX request (header X-CSRF-Token).
// No inline scripts anywhere: the Content-Security-Policy allows only scripts from this site.
(function () {
  "use strict";
  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : null;
  }
  document.addEventListener("htmx:configRequest", function (event) {
    var token = csrfToken();
    if (token) {
      event.detail.headers["X-CSRF-Token"] = token;
    }
  });
  // Select the one-time API key on focus so it can be copied at once.
  document.addEventListener("focusin", function (event) {
    var el = event.target;
    if (el && el.classList && el.classList.contains("secret") && typeof el.select === "function") {
      el.select();
    }
  });
})();
