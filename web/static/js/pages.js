// The CSCX Jira pages inside CSCX.AI. The page was opened with ?token=: drop it from the address bar and
// the history at once, so the URL can be neither copied nor shared with it (htmx sends it in a header).
(function () {
  var url = new URL(window.location.href);
  if (url.searchParams.has("token")) {
    url.searchParams.delete("token");
    window.history.replaceState(null, "", url.pathname + (url.search ? url.search : "") + url.hash);
  }
})();

// The chat box (pages/_chat_box.html). Answers are appended by htmx and refusals swapped into its alert by the
// server; here: clear the message once sent, keep the newest exchange in view, focus the box when it is
// opened, and say so in the box when the network or the server fails (htmx swaps nothing then).
(function () {
  function sender(event) {
    var elt = event.detail && event.detail.elt;
    return elt && elt.closest ? elt.closest("[data-chat-send], .chat-draft") : null;
  }
  function say(text) {
    var alert = document.getElementById("chat-error");
    if (alert) { alert.textContent = text; }
  }
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (sender(event)) { say(""); }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var elt = sender(event);
    if (elt && elt.id === "chat-form" && event.detail.successful) {
      var input = document.getElementById("chat-text");
      if (input) { input.value = ""; input.focus(); }
    }
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "chat-log") {
      var log = event.detail.target;
      log.scrollTop = log.scrollHeight;
    }
  });
  document.addEventListener("htmx:sendError", function (event) {
    if (sender(event)) { say("The message could not be sent: the connection failed. Check it and send again."); }
  });
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    var elt = sender(event);
    if (elt && status >= 500) {
      say(elt.classList.contains("chat-draft")
        ? "The new-issue page could not open just now (error " + status + "). Try again in a moment."
        : "The chat could not answer just now (error " + status + "). Send it again in a moment.");
    }
  });
  document.addEventListener("toggle", function (event) {
    if (event.target.classList && event.target.classList.contains("chat-dock-fold") && event.target.open) {
      var input = document.getElementById("chat-text");
      if (input) { input.focus(); }
    }
  }, true);
})();
