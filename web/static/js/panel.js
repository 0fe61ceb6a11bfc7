// The Connect panel's behaviour in Jira's issue view: the iframe follows the panel's height, and
// Remove asks for a second, in-panel click before it unlinks a customer.
//
// Sizing: with Atlassian's all.js loaded, AP.resize does it. When all.js cannot load (offline, a
// blocker, the sandbox) the panel sends the very message AP.resize sends over simple-xdm, the
// bridge behind all.js: {eid, type: "req", mod: "env", fn: "resize", args: [width, height]},
// after an {eid, type: "init"}. The extension id and host origin come from the iframe's
// window.name, as all.js reads them; the message goes only to a host origin that is one of this
// Jira site's own (data-host-origins, from the server), so no other framer learns anything.
(function () {
  "use strict";

  var bridge = null;
  var lastHeight = null;
  var scheduled = false;

  function readBridge() {
    var panel = document.querySelector("[data-host-origins]");
    if (!panel || window.parent === window) { return null; }
    var allowed = (panel.getAttribute("data-host-origins") || "").split(" ").filter(Boolean);
    var init;
    try { init = JSON.parse(window.name || "null"); } catch (error) { return null; }
    if (!init || typeof init.extension_id !== "string" || allowed.indexOf(init.origin) < 0) { return null; }
    return { eid: init.extension_id, origin: init.origin };
  }

  function post(message) {
    message.eid = bridge.eid;
    window.parent.postMessage(message, bridge.origin);
  }

  // The content's height, not the viewport's: <html> is as tall as what it holds.
  function contentHeight() {
    return Math.ceil(document.documentElement.getBoundingClientRect().height);
  }

  function resize() {
    scheduled = false;
    if (window.AP && typeof window.AP.resize === "function") { window.AP.resize(); return; }
    if (!bridge) { return; }
    var height = contentHeight();
    if (height === lastHeight) { return; }
    lastHeight = height;
    post({ type: "req", mod: "env", fn: "resize", args: ["100%", height + "px"] });
  }

  function scheduleResize() {
    if (scheduled) { return; }
    scheduled = true;
    window.requestAnimationFrame(resize);
  }

  function startSizing() {
    bridge = readBridge();
    if (bridge) { post({ type: "init" }); }
    scheduleResize();
    if (typeof window.ResizeObserver === "function") {
      new window.ResizeObserver(scheduleResize).observe(document.documentElement);
    }
  }

  // ---- Remove, confirmed in the panel ---------------------------------------------------------

  function parts(step) {
    return { ask: step.querySelector("[data-remove-ask]"), confirm: step.querySelector(".remove-confirm") };
  }

  function closeConfirm(step, refocus) {
    var p = parts(step);
    p.confirm.hidden = true;
    p.ask.hidden = false;
    if (refocus) { p.ask.focus(); }
  }

  function openConfirm(step) {
    document.querySelectorAll(".remove-step").forEach(function (other) {
      if (other !== step) { closeConfirm(other, false); }
    });
    var p = parts(step);
    p.ask.hidden = true;
    p.confirm.hidden = false;
    p.confirm.querySelector(".remove-yes").focus();
  }

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    var ask = target && target.closest("[data-remove-ask]");
    var cancel = target && target.closest("[data-remove-cancel]");
    if (ask) { openConfirm(ask.closest(".remove-step")); }
    if (cancel) { closeConfirm(cancel.closest(".remove-step"), true); }
  });

  document.addEventListener("keydown", function (event) {
    var step = event.key === "Escape" && event.target instanceof Element && event.target.closest(".remove-step");
    if (step && !parts(step).confirm.hidden) { closeConfirm(step, true); }
  });

  // ---- after htmx swaps -----------------------------------------------------------------------

  document.addEventListener("htmx:afterSettle", function (event) {
    scheduleResize();
    // The confirm button went with the old list: keep keyboard focus in the panel, on the new count.
    var source = event.detail && event.detail.requestConfig && event.detail.requestConfig.elt;
    var summary = document.querySelector("#cscx-links .summary");
    if (source && source.classList && source.classList.contains("remove-yes") && summary) { summary.focus(); }
  });
  document.addEventListener("cscx-links-changed", function () {
    var search = document.getElementById("cscx-search");
    var results = document.getElementById("cscx-search-results");
    if (search) { search.value = ""; }
    if (results) { results.innerHTML = ""; }
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", startSizing);
  } else {
    startSizing();
  }
})();
