/* The API key form shows only the reach field the chosen "Reaches" needs: the users for "The
   connections of chosen users", the connections for "Chosen connections", neither for "All
   connections". The server applies the same rule (api.keys.apikey_create ignores the others),
   so this is only about what the person sees. */
(function () {
  "use strict";
  var ROWS = { users: ".field-users", connections: ".field-connections" };

  function apply(select) {
    var form = select.form || document;
    Object.keys(ROWS).forEach(function (scope) {
      form.querySelectorAll(ROWS[scope]).forEach(function (row) {
        row.hidden = select.value !== scope;
        row.style.display = select.value === scope ? "" : "none";
      });
    });
  }

  function init() {
    document.querySelectorAll("select[name=scope]").forEach(function (select) {
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
