// Keeps the Jira iframe sized to the panel when Atlassian's AP bridge is present; without it
// (the sandbox's issue page, or all.js blocked) the panel works the same, only unsized.
(function () {
  function resize() {
    if (window.AP && typeof window.AP.resize === "function") { window.AP.resize(); }
  }
  document.addEventListener("htmx:afterSwap", resize);
  document.addEventListener("DOMContentLoaded", resize);
  document.addEventListener("cscx-links-changed", function () {
    var search = document.getElementById("cscx-search");
    var results = document.getElementById("cscx-search-results");
    if (search) { search.value = ""; }
    if (results) { results.innerHTML = ""; }
  });
})();
