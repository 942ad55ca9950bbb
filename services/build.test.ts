import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { execa } from "execa";
import { REPO_ROOT } from "../cli/src/lib/paths.ts";

// The Dockerfiles' build step, without Docker: compile to JavaScript and run what was emitted.
describe("service build (what the images run)", () => {
  it("emits JavaScript whose imports resolve, and each service refuses a missing setting in one line", { timeout: 120_000 }, async () => {
    // Inside the repository (dist/ is git-ignored) so the emitted code finds node_modules, as in the image.
    const out = join(REPO_ROOT, "dist", `build-test-${process.pid}`);
    rmSync(out, { recursive: true, force: true });
    const tsc = await execa(join(REPO_ROOT, "node_modules", ".bin", "tsc"), ["-p", join(REPO_ROOT, "services", "tsconfig.build.json"), "--outDir", out], { reject: false });
    assert.equal(tsc.exitCode, 0, tsc.stdout + tsc.stderr);
    for (const svc of ["gateway", "message", "user-center"]) {
      const r = await execa(process.execPath, [join(out, "services", svc, "src", "main.js")], { reject: false, env: { PORT: "1" }, extendEnv: false });
      assert.equal(r.exitCode, 78, `${svc}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split("\n").length, 1);
      assert.match(r.stderr, new RegExp(`^${svc}: config: INTERNAL_TOKEN: got nothing`));
    }
    rmSync(out, { recursive: true, force: true });
  });
});
