import assert from "node:assert/strict";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { execa } from "execa";
import { REPO_ROOT } from "../../../base/root.mjs";
import { tempDir } from "../../../test/helpers/temp-dir.ts";

describe("the engine's temp dir", () => {
  it("is private to one run, under the stack's workspace, and removed with everything in it when the run exits", async () => {
    const state = tempDir("engine-tmp");
    // A process of its own, as imctl is: the directory goes when that process exits.
    const script = `
      import { statSync, writeFileSync } from "node:fs";
      import { join } from "node:path";
      import { engineTempDir } from "./cli/src/lib/pulumi-engine.ts";
      const dir = engineTempDir("s1");
      writeFileSync(join(dir, "kubeconfig123"), "credentials");
      console.log(JSON.stringify({ dir, mode: statSync(dir).mode & 0o777 }));`;
    const r = await execa("node", ["--import", "tsx", "--input-type=module", "-e", script], {
      cwd: REPO_ROOT,
      env: { IMCTL_STATE_DIR: state },
    });
    const { dir, mode } = JSON.parse(r.stdout) as { dir: string; mode: number };
    assert.equal(mode, 0o700, "only its owner reads what the plugins leave there");
    const workspace = join(state, "pulumi", "workspaces", "s1");
    assert.equal(join(dir, ".."), workspace);
    assert.ok(!existsSync(dir), `${dir} is left after the run`);
    assert.ok(statSync(workspace).isDirectory());
    assert.deepEqual(
      readdirSync(workspace).filter((f) => f.startsWith("tmp-")),
      [],
    );
  });
});
