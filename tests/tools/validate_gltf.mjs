// Validate GLB/glTF files with the Khronos glTF validator and print one JSON report per file.
//
// Usage: node tests/tools/validate_gltf.mjs FILE...
// Prints a JSON array: [{"file", "errors", "warnings", "infos", "hints", "messages": [first few]}].
// Exit status: 0 when every file was validated (whatever it contains), 2 when the validator is not
// installed (run `npm ci` in webxr_client), 1 on any other failure. Callers judge the counts.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const MAX_MESSAGES = 10;
const here = path.dirname(fileURLToPath(import.meta.url));
const clientDir = path.resolve(here, "..", "..", "webxr_client");

let validator;
try {
  validator = createRequire(path.join(clientDir, "package.json"))("gltf-validator");
} catch (error) {
  process.stderr.write(
    `gltf-validator is not installed in ${clientDir}: run \`npm ci\` in webxr_client (${error.code ?? error})\n`,
  );
  process.exit(2);
}

async function validate(file) {
  const data = new Uint8Array(await readFile(file));
  const report = await validator.validateBytes(data, {
    uri: path.basename(file),
    maxIssues: 0,
    writeTimestamp: false,
  });
  const issues = report.issues;
  return {
    file,
    validatorVersion: report.validatorVersion,
    errors: issues.numErrors,
    warnings: issues.numWarnings,
    infos: issues.numInfos,
    hints: issues.numHints,
    messages: issues.messages.slice(0, MAX_MESSAGES).map((m) => ({
      code: m.code,
      severity: ["error", "warning", "info", "hint"][m.severity] ?? String(m.severity),
      message: m.message,
      pointer: m.pointer ?? null,
    })),
  };
}

const files = process.argv.slice(2);
if (files.length === 0) {
  process.stderr.write("usage: node tests/tools/validate_gltf.mjs FILE...\n");
  process.exit(1);
}
try {
  const reports = [];
  for (const file of files) reports.push(await validate(file));
  process.stdout.write(`${JSON.stringify(reports, null, 1)}\n`);
} catch (error) {
  process.stderr.write(`validation failed: ${error}\n`);
  process.exit(1);
}
