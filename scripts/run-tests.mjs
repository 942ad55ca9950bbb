#!/usr/bin/env node
// Runs every *.test.ts under the repository with node:test and tsx (Node 20's runner does not find .ts files
// itself). `--unit` leaves out test/integration, which needs the real platform.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(fileURLToPath(import.meta.url), "..", "..");
const skip = new Set(["node_modules", ".git", ".tools", ".imctl"]);
const unitOnly = process.argv.includes("--unit");

/** @param {string} dir @returns {string[]} */
function find(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.isDirectory()) return skip.has(e.name) ? [] : find(join(dir, e.name));
    return e.name.endsWith(".test.ts") ? [relative(root, join(dir, e.name))] : [];
  });
}

const files = find(root)
  .filter((f) => !(unitOnly && f.startsWith("test/integration/")))
  .sort(
    (a, b) =>
      Number(a.startsWith("test/integration/")) - Number(b.startsWith("test/integration/")) || a.localeCompare(b),
  );
if (files.length === 0) {
  process.stderr.write("run-tests: found no *.test.ts files\n");
  process.exit(1);
}
// Unit files run two at a time (each is its own process, CPU-bound, with no platform: 166 s instead of 257 s on two
// cores); the integration files one at a time, since each starts a platform whose processes need the machine.
const run = (/** @type {string[]} */ batch, /** @type {number} */ concurrency) =>
  batch.length === 0
    ? 0
    : (spawnSync(
        process.execPath,
        ["--import", "tsx", "--test", `--test-concurrency=${concurrency}`, "--test-reporter=spec", ...batch],
        { cwd: root, stdio: "inherit" },
      ).status ?? 1);
const unit = run(
  files.filter((f) => !f.startsWith("test/integration/")),
  2,
);
const integration = run(
  files.filter((f) => f.startsWith("test/integration/")),
  1,
);
process.exit(unit || integration);
