// xinyong: small page behaviour. No inline scripts anywhere: the Content-Security-Policy allows
// only scripts served from this site.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : null;
  }

  // Every HTMX request carries the session's CSRF token (header X-CSRF-Token).
  document.addEventListener("htmx:configRequest", function (event) {
    var token = csrfToken();
    if (token) {
      event.detail.headers["X-CSRF-Token"] = token;
    }
  });

  // A session that ended meanwhile: the request was redirected to the sign-in page. Go there
  // (coming back to this page afterwards) instead of swapping the form into a table row.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var url = event.detail.xhr.responseURL;
    if (url && new URL(url).pathname === "/login") {
      event.detail.shouldSwap = false;
      window.location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
    }
  });

  // HTMX does not swap error responses: say what the error page says (title and request id).
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var text = "";
    try {
      var doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
      var parts = [];
      doc.querySelectorAll(".error-page h1, .error-page header + p, .request-id").forEach(function (el) {
        parts.push(el.textContent.trim());
      });
      text = parts.filter(Boolean).join("\n");
    } catch (e) {
      text = "";
    }
    window.alert(text || String(xhr.status));
  });

  // A list select (data-categories="ID") offers in the category select ID only the chosen list's
  // categories: each list's are an <optgroup data-list="CODE">, the others are taken out (and put
  // back when their list is chosen). Without JavaScript all are shown, grouped by list.
  function linkCategories(listSelect) {
    var target = document.getElementById(listSelect.getAttribute("data-categories"));
    if (!target) {
      return;
    }
    var groups = Array.prototype.slice.call(target.querySelectorAll("optgroup[data-list]"));
    function show() {
      var kept = target.value;
      groups.forEach(function (g) {
        if (g.parentNode) {
          g.parentNode.removeChild(g);
        }
      });
      groups.forEach(function (g) {
        if (g.getAttribute("data-list") === listSelect.value) {
          target.appendChild(g);
        }
      });
      var still = Array.prototype.some.call(target.options, function (o) { return o.value === kept; });
      target.value = still ? kept : "";
    }
    listSelect.addEventListener("change", show);
    show();
  }
  document.querySelectorAll("select[data-categories]").forEach(linkCategories);

  // Select the one-time API key on focus so it can be copied at once.
  document.addEventListener("focusin", function (event) {
    var el = event.target;
    if (el && el.classList && el.classList.contains("secret") && typeof el.select === "function") {
      el.select();
    }
  });
})();
