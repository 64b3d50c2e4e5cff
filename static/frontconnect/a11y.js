/* Names that third-party widgets leave out, so assistive technology can announce every control:
   - the admin's two-list selector (SelectFilter2) puts aria-label on a bare <span> icon;
   - select2 (the admin's autocomplete) creates its search box without a label;
   - a split date and time field's two boxes share one label that points at neither.
   Loaded by templates/base.html and templates/admin/base_site.html; safe to run many times. */
(function () {
  "use strict";

  function labelText(id) {
    var label = id && document.querySelector('label[for="' + id + '"]');
    return label ? label.textContent.replace(/[:\s]+$/, "").trim() : "";
  }

  function fix() {
    document.querySelectorAll(".selector .search-label-icon[aria-label]:not([role])").forEach(function (icon) {
      icon.setAttribute("role", "img");
    });
    document.querySelectorAll("select.admin-autocomplete").forEach(function (select) {
      var box = select.nextElementSibling;
      var name = labelText(select.id) || select.name;
      if (!box) { return; }
      box.querySelectorAll(".select2-search__field:not([aria-label])").forEach(function (field) {
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
