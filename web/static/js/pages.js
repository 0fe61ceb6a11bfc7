// The CSCX Jira pages inside CSCX.AI. The page was opened with ?token=: drop it from the address bar and
// the history at once, so the URL can be neither copied nor shared with it (htmx sends it in a header).
(function () {
  var url = new URL(window.location.href);
  if (url.searchParams.has("token")) {
    url.searchParams.delete("token");
    window.history.replaceState(null, "", url.pathname + (url.search ? url.search : "") + url.hash);
  }
})();
