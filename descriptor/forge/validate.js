// Validates a rendered Forge manifest offline with Atlassian's own @forge/manifest package (a devDependency of
// the repository's package.json, with tslib, which it needs at run time but does not declare).
// Run from the app folder (resource paths are resolved against the working directory):
//   node descriptor/forge/validate.js manifest.yml     (tests/forge/test_manifest.py does)
const { validate } = require('@forge/manifest');
(async () => {
  const r = await validate(false, process.argv[2] || 'manifest.yml');
  for (const e of r.errors || []) console.log(`${e.level}: ${e.message}${e.line ? ` (line ${e.line}:${e.column})` : ''}`);
  console.log(`success=${r.success}`);
  process.exit(r.success ? 0 : 1);
})();
