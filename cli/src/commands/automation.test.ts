import assert from "node:assert/strict";
import { chmodSync, copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { execa } from "execa";
import { ExitError, MESSAGES, UserError } from "../errors.ts";
import { REPO_ROOT } from "../../../base/root.mjs";
import { stackFile } from "../lib/paths.ts";
import { EXIT_UNAVAILABLE, findOnPath, preparePulumiRun, runPulumi } from "./automation.ts";

const scratch = mkdtempSync(join(tmpdir(), "imctl-automation-"));
after(() => rmSync(scratch, { recursive: true, force: true }));
/** A directory with no pulumi in it: the PATH of a machine without the Pulumi CLI. */
const noPulumi = mkdtempSync(join(scratch, "empty-"));
/** A directory with an executable named pulumi. */
const withPulumi = mkdtempSync(join(scratch, "bin-"));
writeFileSync(join(withPulumi, "pulumi"), "#!/bin/sh\necho v3.200.0\n");
chmodSync(join(withPulumi, "pulumi"), 0o755);

describe("imctl preview|up: checks before Pulumi", () => {
  it("says in one line that the Pulumi CLI is missing, exit 69, and touches nothing", async () => {
    const before = existsSync(join(REPO_ROOT, "stacks", "Pulumi.aws-prod.yaml"));
    await assert.rejects(
      () => runPulumi("preview", { stack: "aws-prod", path: noPulumi }),
      (err: unknown) =>
        err instanceof ExitError &&
        err.exitCode === EXIT_UNAVAILABLE &&
        err.message === MESSAGES.noPulumiCli("preview") &&
        !err.message.includes("\n"),
    );
    assert.equal(existsSync(join(REPO_ROOT, "stacks", "Pulumi.aws-prod.yaml")), before, "no stack config written");
  });

  it("asks for --yes before up, even before looking for the CLI", () => {
    assert.throws(
      () => preparePulumiRun("up", { stack: "multicloud", path: noPulumi }),
      (err: unknown) => err instanceof UserError && err.message === MESSAGES.confirmUp("multicloud"),
    );
    assert.throws(
      () => preparePulumiRun("up", { stack: "multicloud", yes: true, path: noPulumi }),
      (err: unknown) => err instanceof ExitError && err.message === MESSAGES.noPulumiCli("up"),
    );
  });

  it("refuses a local stack, an unknown stack and a stack file outside stacks/ as user errors", () => {
    assert.throws(
      () => preparePulumiRun("preview", { stack: "local", path: withPulumi }),
      (err: unknown) =>
        err instanceof UserError &&
        /target: got "local"; Pulumi deploys only target "kubernetes" stacks/.test(err.message),
    );
    assert.throws(
      () => preparePulumiRun("preview", { stack: "staging", path: withPulumi }),
      (err: unknown) =>
        err instanceof UserError && /stacks\/staging\.yaml: cannot read the stack file \(ENOENT\)/.test(err.message),
    );
    const copy = join(scratch, "aws-prod.yaml");
    copyFileSync(stackFile("aws-prod"), copy);
    assert.throws(
      () => preparePulumiRun("preview", { stack: copy, path: withPulumi }),
      (err: unknown) => err instanceof UserError && err.message === MESSAGES.stackOutsideStacks(copy, "aws-prod"),
    );
  });

  it("accepts a stack under stacks/ by name or by path once a pulumi binary is on PATH", () => {
    const byName = preparePulumiRun("up", { stack: "alicloud-prod", yes: true, path: withPulumi });
    assert.equal(byName.spec.name, "alicloud-prod");
    assert.equal(byName.pulumi, join(withPulumi, "pulumi"));
    assert.equal(
      preparePulumiRun("preview", { stack: stackFile("aws-prod"), path: `${noPulumi}:${withPulumi}` }).pulumi,
      join(withPulumi, "pulumi"),
    );
  });

  it("finds only executables on PATH", () => {
    writeFileSync(join(noPulumi, "not-executable"), "");
    assert.equal(findOnPath("not-executable", noPulumi), undefined);
    assert.equal(findOnPath("pulumi", `:${noPulumi}::${withPulumi}`), join(withPulumi, "pulumi"));
  });

  it("prints that one line and exits 69 from the command line", async () => {
    const r = await execa(
      process.execPath,
      [join(REPO_ROOT, "cli", "bin", "imctl.mjs"), "preview", "--stack", "aws-prod"],
      { reject: false, env: { PATH: noPulumi }, extendEnv: false },
    );
    assert.equal(r.exitCode, EXIT_UNAVAILABLE);
    assert.equal(r.stderr.trim(), `imctl: ${MESSAGES.noPulumiCli("preview")}`);
    assert.equal(r.stdout, "");
  });
});
