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
const res = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", "--test-concurrency=1", "--test-reporter=spec", ...files],
  { cwd: root, stdio: "inherit" },
);
process.exit(res.status ?? 1);
