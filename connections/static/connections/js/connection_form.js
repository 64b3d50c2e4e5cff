/* Shows the fields that belong to the chosen auth type and hides the others.
   The server applies the same rules, so this is only about what the user sees. */
(function () {
  "use strict";
  var FIELDS = {
    token: [".field-api_token"],
    oauth2: [".field-oauth_client", ".field-scopes", "[data-oauth-only]"],
  };

  function apply(select) {
    var form = select.form || document;
    Object.keys(FIELDS).forEach(function (type) {
      FIELDS[type].forEach(function (selector) {
        form.querySelectorAll(selector).forEach(function (el) {
          el.hidden = select.value !== type;
          el.style.display = select.value === type ? "" : "none";
        });
      });
    });
    // The primary button follows the auth type: Save and authorize for OAuth 2.0, else Save.
    var kind = select.value === "oauth2" ? "oauth2" : "token";
    form.querySelectorAll("[data-primary-for]").forEach(function (el) {
      var cls = el.getAttribute("data-primary-class") || "primary";
      el.classList.toggle(cls, el.getAttribute("data-primary-for") === kind);
    });
  }

  function init() {
    document.querySelectorAll("select[name=auth_type]").forEach(function (select) {
      apply(select);
      select.addEventListener("change", function () { apply(select); });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
