import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { execa } from "execa";
import { toolPath } from "../../scripts/bootstrap.mjs";

const dir = join(import.meta.dirname, "rules");

describe("alert rules (promtool)", () => {
  it("are valid", async () => {
    const r = await execa(toolPath("promtool"), ["check", "rules", join(dir, "platform.rules.yml")], { reject: false });
    assert.equal(r.exitCode, 0, r.stdout + r.stderr);
  });

  it("fire on the series that should fire them and stay quiet otherwise", async () => {
    const r = await execa(toolPath("promtool"), ["test", "rules", join(dir, "platform.rules.test.yml")], { reject: false });
    assert.equal(r.exitCode, 0, r.stdout + r.stderr);
  });
});
