/* The language switcher (templates/_language_switch.html) on a page whose address holds a
   secret (an authorization link): the page leaves "next" empty so the secret is not written
   into it, and the browser, which knows its own address, fills it in when the form is sent.
   Without JavaScript the switcher still works and lands on the home page. */
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList || !form.classList.contains("fc-language-switch")) { return; }
    var next = form.querySelector('input[name="next"]');
    if (next && !next.value) { next.value = window.location.pathname + window.location.search; }
  });
})();
