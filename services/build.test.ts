import assert from "node:assert/strict";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { execa } from "execa";
import { REPO_ROOT } from "../base/root.mjs";

// The Dockerfiles' build step, without Docker: compile to JavaScript and run what was emitted.
describe("service build (what the images run)", () => {
  it(
    "emits JavaScript whose imports resolve, and each service refuses a missing setting in one line",
    { timeout: 120_000 },
    async () => {
      // Inside the repository (dist/ is git-ignored) so the emitted code finds node_modules, as in the image.
      const out = join(REPO_ROOT, "dist", `build-test-${process.pid}`);
      rmSync(out, { recursive: true, force: true });
      const tsc = await execa(
        join(REPO_ROOT, "node_modules", ".bin", "tsc"),
        ["-p", join(REPO_ROOT, "services", "tsconfig.build.json"), "--outDir", out],
        { reject: false },
      );
      assert.equal(tsc.exitCode, 0, tsc.stdout + tsc.stderr);
      for (const svc of ["gateway", "message", "user-center"]) {
        const r = await execa(process.execPath, [join(out, "services", svc, "src", "main.js")], {
          reject: false,
          env: { PORT: "1" },
          extendEnv: false,
        });
        assert.equal(r.exitCode, 78, `${svc}: ${r.stderr}`);
        assert.equal(r.stderr.trim().split("\n").length, 1);
        assert.match(r.stderr, new RegExp(`^${svc}: config: INTERNAL_TOKEN: got nothing`));
      }
      rmSync(out, { recursive: true, force: true });
    },
  );

  it("services/package.json (what the images install) lists every package the services import, at the root's locked versions", () => {
    const manifest = JSON.parse(readFileSync(join(REPO_ROOT, "services", "package.json"), "utf8")) as {
      dependencies: Record<string, string>;
    };
    const lock = JSON.parse(readFileSync(join(REPO_ROOT, "services", "package-lock.json"), "utf8")) as {
      packages: Record<string, { version?: string }>;
    };
    const sources = (readdirSync(join(REPO_ROOT, "services"), { recursive: true }) as string[]).filter(
      (f) => f.endsWith(".ts") && !f.endsWith(".test.ts"),
    );
    const imported = new Set<string>();
    for (const f of sources) {
      for (const m of readFileSync(join(REPO_ROOT, "services", f), "utf8").matchAll(/from "([^".][^"]*)"/g)) {
        const spec = m[1] ?? "";
        if (spec.startsWith("node:")) continue;
        imported.add(spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : (spec.split("/")[0] ?? spec));
      }
    }
    assert.ok(imported.size > 5, `found only ${[...imported].join(", ")}`);
    assert.deepEqual(
      [...imported].sort(),
      Object.keys(manifest.dependencies).sort(),
      "services/package.json dependencies = what the services import",
    );
    for (const [name, version] of Object.entries(manifest.dependencies)) {
      const root = JSON.parse(readFileSync(join(REPO_ROOT, "node_modules", name, "package.json"), "utf8")) as {
        version: string;
      };
      assert.equal(
        version,
        root.version,
        `${name}: the image would run ${version}, the repository runs ${root.version}`,
      );
      assert.equal(
        lock.packages[`node_modules/${name}`]?.version,
        version,
        `${name}: services/package-lock.json is stale (run npm install --package-lock-only in services/)`,
      );
    }
  });
});
