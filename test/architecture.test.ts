/**
 * The layers point one way, checked on the real import graph (test/helpers/import-graph.ts): base/ depends on node
 * builtins only; services/ and infra/ never import cli/; scripts/ are entry points nobody imports; loadtests/ (k6
 * code) imports only itself and k6; and no runtime import cycle anywhere (type-only and lazy imports left out).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { importsOf, repoImportGraph, runtimeCycles, violations, type ImportGraph } from "./helpers/import-graph.ts";

const graph = repoImportGraph();

describe("architecture: the import graph", () => {
  it("reads every tracked source file, base/ included", () => {
    assert.ok(graph.has("base/root.mjs") && graph.has("cli/src/cli.ts") && graph.has("services/lib/protocol.ts"));
  });

  it("keeps the layering rules", () => {
    assert.deepEqual(violations(graph), []);
  });

  it("has no runtime import cycle", () => {
    assert.deepEqual(runtimeCycles(graph), []);
  });
});

describe("architecture: the checks themselves", () => {
  const made = (files: Record<string, string>): ImportGraph =>
    new Map(Object.entries(files).map(([f, text]) => [f, importsOf(f, text)]));

  it("names each broken rule", () => {
    const g = made({
      "base/a.ts": 'import { z } from "zod";\nimport { readFileSync } from "node:fs";',
      "infra/b.ts": 'import { REPO_ROOT } from "../cli/src/lib/paths.ts";',
      "services/c.ts": 'const m = await import("../cli/src/cli.ts");',
      "test/d.ts": 'import { main } from "../scripts/run-tests.mjs";',
      "loadtests/e.ts": 'import http from "k6/http";\nimport { sleep } from "../base/sleep.ts";',
      "cli/src/f.ts": 'const s = `import { x } from "../../scripts/run-tests.mjs"`; // not an import',
    });
    assert.deepEqual(violations(g), [
      "base/a.ts imports zod: base/ imports only node builtins and base/",
      "infra/b.ts imports ../cli/src/lib/paths.ts: services/ and infra/ never import cli/",
      "services/c.ts imports ../cli/src/cli.ts: services/ and infra/ never import cli/",
      "test/d.ts imports ../scripts/run-tests.mjs: scripts/ are entry points, never imported",
      "loadtests/e.ts imports ../base/sleep.ts: loadtests/ imports only loadtests/ and k6 modules",
    ]);
  });

  it("finds runtime cycles and leaves out type-only and lazy ones", () => {
    const g = made({
      "cli/a.ts": 'import { b } from "./b.ts";',
      "cli/b.ts": 'import { c } from "./c.ts";',
      "cli/c.ts": 'import { a } from "./a.ts";',
      "cli/d.ts": 'import type { E } from "./e.ts";',
      "cli/e.ts": 'import { type D } from "./d.ts";\nconst f = () => import("./f.ts");',
      "cli/f.ts": 'import { e } from "./e.ts";',
    });
    assert.deepEqual(runtimeCycles(g), [["cli/a.ts", "cli/b.ts", "cli/c.ts"]]);
  });
});
