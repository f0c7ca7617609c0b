// The Canvas console's one script of its own. A live run's page asks for
// itself again (htmx, `data-refresh`), but never while its tab is hidden:
// the request is dropped, and made once the tab shows again.
(function () {
  var waiting = null;
  document.addEventListener("htmx:beforeRequest", function (e) {
    var elt = e.detail.elt;
    if (document.hidden && elt.hasAttribute("data-refresh")) {
      e.preventDefault();
      waiting = elt;
    }
  });
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && waiting) {
      var elt = waiting;
      waiting = null;
      htmx.trigger(elt, "visible-again");
    }
  });
})();
