// Jira's side of the Connect iframe bridge, as much of it as the sandbox's issue view needs.
//
// Connect's all.js talks to Jira over window.postMessage in simple-xdm's format. The iframe's
// window.name carries {extension_id, origin}; the app first says {eid, type: "init"}, then
// AP.resize(width, height) arrives as {eid, type: "req", mod: "env", fn: "resize", args: [w, h]}
// and a request with a callback carries a message id `mid` that Jira answers with
// {type: "resp", mid, forPlugin: true, args}. Jira sets the iframe's height; panels keep the
// width of their column, as in Jira's issue view.
//
// A message is trusted only when it comes from an app iframe's own window, from that iframe's
// origin, and names that iframe's extension id: any other frame (or this page) can post too.
(function () {
  "use strict";

  var MIN_HEIGHT_PX = 20;
  var MAX_HEIGHT_PX = 4000;  // a runaway or hostile app cannot make the issue view miles long
  var DIMENSION = /^\s*(\d+(?:\.\d+)?)\s*(px)?\s*$/;

  function appFrames() {
    // Looked up per message: this script runs in the head, before the iframes exist.
    return Array.prototype.slice.call(document.querySelectorAll("iframe[data-connect-extension]"));
  }

  function originOf(url) {
    try { return new URL(url, window.location.href).origin; } catch (error) { return null; }
  }

  function frameFor(event) {
    var frames = appFrames();
    for (var i = 0; i < frames.length; i += 1) {
      if (frames[i].contentWindow === event.source) { return frames[i]; }
    }
    return null;
  }

  // A height in pixels from a number or "123" / "123px"; percentages and nonsense give null.
  function heightPx(value) {
    var pixels = null;
    if (typeof value === "number") {
      pixels = value;
    } else if (typeof value === "string") {
      var match = DIMENSION.exec(value);
      pixels = match ? parseFloat(match[1]) : null;
    }
    if (pixels === null || !isFinite(pixels)) { return null; }
    return Math.min(MAX_HEIGHT_PX, Math.max(MIN_HEIGHT_PX, Math.ceil(pixels)));
  }

  function respond(event, frame, mid) {
    if (typeof mid !== "string" || !mid) { return; }
    event.source.postMessage({ type: "resp", mid: mid, forPlugin: true, args: [] }, originOf(frame.src));
  }

  function resize(frame, args) {
    var height = heightPx(Array.isArray(args) ? args[1] : null);
    if (height === null) { return; }
    frame.style.height = height + "px";
    frame.setAttribute("data-connect-height", String(height));
  }

  window.addEventListener("message", function (event) {
    var data = event.data;
    if (!data || typeof data !== "object" || typeof data.type !== "string") { return; }
    var frame = frameFor(event);
    if (!frame || event.origin !== originOf(frame.src)) { return; }
    if (data.eid !== frame.getAttribute("data-connect-extension")) { return; }
    if (data.type === "init") {
      frame.setAttribute("data-connect-bridge", "established");
    } else if (data.type === "req" && data.mod === "env" && data.fn === "resize") {
      resize(frame, data.args);
      respond(event, frame, data.mid);
    }
  });
})();
