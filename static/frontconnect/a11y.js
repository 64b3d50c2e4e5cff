/* Names that third-party widgets leave out, so assistive technology can announce every control:
   - the admin's two-list selector (SelectFilter2) puts aria-label on a bare <span> icon;
   - select2 (the admin's autocomplete) creates its search box without a label;
   - a split date and time field's two boxes share one label that points at neither;
   - a tabular inline's fields are named by their column's heading, which is no <label>.
   Loaded by templates/base.html and templates/admin/base_site.html; safe to run many times. */
(function () {
  "use strict";

  function labelText(id) {
    var label = id && document.querySelector('label[for="' + id + '"]');
    return label ? label.textContent.replace(/[:\s]+$/, "").trim() : "";
  }

  function columnName(field) {
    var cell = field.closest(".tabular td");
    var table = cell && cell.closest("table");
    if (!table) { return ""; }
    var index = Array.prototype.indexOf.call(cell.parentNode.children, cell);
    var heading = table.querySelectorAll("thead th")[index];
    return heading ? heading.textContent.replace(/\s+/g, " ").trim() : "";
  }

  function fix() {
    document.querySelectorAll(".selector .search-label-icon[aria-label]:not([role])").forEach(function (icon) {
      icon.setAttribute("role", "img");
    });
    document.querySelectorAll(".tabular td input, .tabular td select, .tabular td textarea").forEach(function (field) {
      if (field.type === "hidden" || field.hasAttribute("aria-label")) { return; }
      if (field.labels && field.labels.length) { return; }
      var name = columnName(field);
      if (name) { field.setAttribute("aria-label", name); }
    });
    document.querySelectorAll("select.admin-autocomplete").forEach(function (select) {
      var box = select.nextElementSibling;
      var name = labelText(select.id) || columnName(select) || select.name;
      if (!box) { return; }
      box.querySelectorAll(".select2-search__field:not([aria-label]), .select2-selection:not([aria-label]), .select2-selection__rendered[role]:not([aria-label])").forEach(function (field) {
        field.setAttribute("aria-label", name);
      });
    });
    document.querySelectorAll(".datetime input[id$='_0'], .datetime input[id$='_1']").forEach(function (input) {
      if (input.labels && input.labels.length) { return; }
      if (input.hasAttribute("aria-label")) { return; }
      var base = input.id.slice(0, -2);
      var name = labelText(base) || labelText(base + "_0") || input.name.slice(0, -2);
      input.setAttribute("aria-label", name + (input.id.slice(-1) === "0" ? ": date" : ": time"));
    });
  }

  function start() {
    fix();
    new MutationObserver(fix).observe(document.body, { childList: true, subtree: true });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
  window.addEventListener("load", function () { setTimeout(fix, 0); });
})();
