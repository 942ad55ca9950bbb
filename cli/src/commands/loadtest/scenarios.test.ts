import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { REPO_ROOT } from "../../lib/paths.ts";
import { SCENARIOS } from "./index.ts";

describe("load-test scenarios", () => {
  it("lists every scenario file under loadtests/ exactly once", () => {
    const files = readdirSync(join(REPO_ROOT, "loadtests")).filter((f) => f.endsWith(".ts")).sort();
    assert.deepEqual(SCENARIOS.map((s) => s.file).sort(), files);
    assert.equal(new Set(SCENARIOS.map((s) => s.name)).size, SCENARIOS.length);
  });
});
