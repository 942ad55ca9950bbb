import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { StepError, ensureTools } from "./install.mjs";

describe("a Go tool step that cannot build", () => {
  const tools = mkdtempSync(join(tmpdir(), "imctl-install-tools-"));
  const modCache = mkdtempSync(join(tmpdir(), "imctl-install-gomod-"));
  const saved = { ...process.env };
  before(() => {
    // An empty tools directory and module cache, and no module proxy: `go install` fails at once, before compiling.
    process.env.IMCTL_TOOLS_DIR = tools;
    process.env.GOMODCACHE = modCache;
    process.env.GOPROXY = "off";
  });
  after(() => {
    process.env = saved;
    for (const d of [tools, modCache]) rmSync(d, { recursive: true, force: true });
  });

  it("names itself, the command and a fix, and leaves no binary or stamp", () => {
    assert.throws(
      () => ensureTools(["kwok"], { log: () => {} }),
      (err: unknown) =>
        err instanceof StepError &&
        err.message.startsWith('bootstrap: step "kwok" failed: `') &&
        /Fix: .*then run it again$/.test(err.message),
    );
    assert.ok(!existsSync(join(tools, "bin", "kwok")) && !existsSync(join(tools, "bin", "kwok.sha256")));
  });
});
