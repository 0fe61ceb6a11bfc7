// Copies the pinned third-party browser scripts from node_modules into web/static/vendor,
// where the service serves them. Runs as npm's postinstall step; nothing vendored is committed.
const fs = require("fs");
const path = require("path");

const root = path.resolve(__dirname, "..");
const target = path.join(__dirname, "static", "vendor");
const files = [["htmx.org/dist/htmx.min.js", "htmx.min.js"]];

fs.mkdirSync(target, { recursive: true });
for (const [source, name] of files) {
  fs.copyFileSync(path.join(root, "node_modules", source), path.join(target, name));
}
console.log(`vendored ${files.length} file(s) into ${path.relative(root, target)}`);
