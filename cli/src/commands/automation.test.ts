import assert from "node:assert/strict";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
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
// A machine without the project's tools and with an empty Pulumi plugin cache: only the PATHs below count.
const noTools = mkdtempSync(join(scratch, "tools-"));
process.env.IMCTL_TOOLS_DIR = noTools;
process.env.PULUMI_HOME = mkdtempSync(join(scratch, "pulumi-home-"));
/** A directory with no pulumi in it: the PATH of a machine without the Pulumi CLI. */
const noPulumi = mkdtempSync(join(scratch, "empty-"));
/** A directory with an executable named pulumi. */
const withPulumi = mkdtempSync(join(scratch, "bin-"));
/** The CLI and the plugins every stack under stacks/ needs, as executables (never run by these tests). */
const withPlugins = mkdtempSync(join(scratch, "plugins-"));
for (const [dir, name] of [
  [withPulumi, "pulumi"],
  ...["kubernetes", "aws", "alicloud", "random", "docker-build"].map((p) => [withPlugins, `pulumi-resource-${p}`]),
] as const) {
  writeFileSync(join(dir, name), "#!/bin/sh\nexit 1\n");
  chmodSync(join(dir, name), 0o755);
}

/**
 * A copy of a cloud stack under scratch/<n>/<stack>.yaml with its placeholders (infra/lib/placeholders.ts) replaced by
 * values an owner would supply, so the checks after them can be reached.
 */
let copies = 0;
function supplied(stack: string): string {
  const dir = mkdtempSync(join(scratch, `supplied-${copies++}-`));
  const file = join(dir, `${stack}.yaml`);
  const text = readFileSync(stackFile(stack), "utf8")
    .replaceAll("im.example.com", "im.chat-owner.net")
    .replaceAll("registry.example.com/im", "registry.chat-owner.net/im")
    .replaceAll("platform-team@example.onaliyun.com", "platform-team@chat-owner.onaliyun.com")
    .replaceAll("ops@example.com", "ops@chat-owner.net");
  writeFileSync(file, text);
  return file;
}

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

  it("asks for --yes before up and destroy, even before looking for the CLI", () => {
    for (const op of ["up", "destroy"] as const) {
      assert.throws(
        () => preparePulumiRun(op, { stack: "multicloud", path: noPulumi }),
        (err: unknown) => err instanceof UserError && err.message === MESSAGES.confirmPulumi(op, "multicloud"),
      );
    }
    assert.throws(
      () => preparePulumiRun("up", { stack: "multicloud", yes: true, path: noPulumi }),
      (err: unknown) => err instanceof ExitError && err.message === MESSAGES.noPulumiCli("up"),
    );
  });

  it("refuses a local stack and an unknown stack as user errors; takes a stack file anywhere by its name", () => {
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
    const copy = supplied("aws-prod");
    assert.equal(
      preparePulumiRun("preview", { stack: copy, path: `${withPulumi}:${withPlugins}` }).spec.name,
      "aws-prod",
    );
  });

  it("names the provider plugins a stack needs and lacks, in one line, exit 69", () => {
    const cases = [
      ["aws-prod", ["kubernetes", "aws", "random", "docker-build"]],
      ["alicloud-prod", ["kubernetes", "alicloud", "random", "docker-build"]],
    ] as const;
    for (const [stack, plugins] of cases) {
      assert.throws(
        () => preparePulumiRun("preview", { stack, path: withPulumi }),
        (err: unknown) =>
          err instanceof ExitError &&
          err.exitCode === EXIT_UNAVAILABLE &&
          !err.message.includes("\n") &&
          plugins.every((p) => err.message.includes(`pulumi-resource-${p} `)) &&
          err.message.endsWith("nothing was changed"),
        stack,
      );
    }
    // Only what is missing is named: with the kubernetes plugin there, aws-prod lacks aws and random.
    const k8sOnly = mkdtempSync(join(scratch, "k8s-only-"));
    copyFileSync(join(withPlugins, "pulumi-resource-kubernetes"), join(k8sOnly, "pulumi-resource-kubernetes"));
    chmodSync(join(k8sOnly, "pulumi-resource-kubernetes"), 0o755);
    assert.throws(
      () => preparePulumiRun("preview", { stack: "aws-prod", path: `${withPulumi}:${k8sOnly}` }),
      (err: unknown) =>
        err instanceof ExitError &&
        err.message.includes("pulumi-resource-aws (") &&
        !err.message.includes("pulumi-resource-kubernetes"),
    );
  });

  it("accepts a stack by path once the CLI and its plugins are found and its placeholders are replaced", () => {
    const byPath = preparePulumiRun("up", {
      stack: supplied("alicloud-prod"),
      yes: true,
      path: `${withPulumi}:${withPlugins}`,
    });
    assert.equal(byPath.spec.name, "alicloud-prod");
    assert.equal(byPath.pulumi, join(withPulumi, "pulumi"));
    assert.equal(
      preparePulumiRun("preview", { stack: supplied("aws-prod"), path: `${noPulumi}:${withPulumi}:${withPlugins}` })
        .pulumi,
      join(withPulumi, "pulumi"),
    );
  });

  it("refuses a cloud stack that still holds a placeholder, naming the field in one line", () => {
    for (const [stack, field, value] of [
      ["aws-prod", "kubernetes.ingress.host", "im.example.com"],
      ["multicloud", "kubernetes.ingress.host", "im.example.com"],
    ] as const) {
      assert.throws(
        () => preparePulumiRun("preview", { stack, path: `${withPulumi}:${withPlugins}` }),
        (err: unknown) =>
          err instanceof UserError &&
          !err.message.includes("\n") &&
          err.message.startsWith(`${stackFile(stack)}: ${field}: got "${value}"; a reserved example name`),
        stack,
      );
    }
    const registry = supplied("multicloud");
    writeFileSync(registry, readFileSync(registry, "utf8").replace("registry.chat-owner.net", "registry.example.com"));
    assert.throws(
      () => preparePulumiRun("preview", { stack: registry, path: `${withPulumi}:${withPlugins}` }),
      (err: unknown) =>
        err instanceof UserError && /: kubernetes\.image\.registry: got "registry\.example\.com\/im"/.test(err.message),
    );
  });

  it("looks in the project's .tools/bin before PATH", () => {
    const bin = join(noTools, "bin");
    mkdirSync(bin, { recursive: true });
    copyFileSync(join(withPulumi, "pulumi"), join(bin, "pulumi"));
    chmodSync(join(bin, "pulumi"), 0o755);
    try {
      assert.equal(
        preparePulumiRun("preview", { stack: supplied("aws-prod"), path: withPlugins }).pulumi,
        join(bin, "pulumi"),
      );
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
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
      { reject: false, env: { PATH: noPulumi, IMCTL_TOOLS_DIR: noTools }, extendEnv: false },
    );
    assert.equal(r.exitCode, EXIT_UNAVAILABLE);
    assert.equal(r.stderr.trim(), `imctl: ${MESSAGES.noPulumiCli("preview")}`);
    assert.equal(r.stdout, "");
  });

  it("says from the command line that aws-prod needs the AWS provider, exit 69, with the CLI present", async () => {
    const r = await execa(
      process.execPath,
      [join(REPO_ROOT, "cli", "bin", "imctl.mjs"), "preview", "--stack", "aws-prod"],
      {
        reject: false,
        env: { PATH: withPulumi, IMCTL_TOOLS_DIR: noTools, PULUMI_HOME: process.env.PULUMI_HOME },
        extendEnv: false,
      },
    );
    assert.equal(r.exitCode, EXIT_UNAVAILABLE);
    assert.equal(r.stderr.trim().split("\n").length, 1);
    assert.match(
      r.stderr,
      /^imctl: imctl preview of stack aws-prod needs the Pulumi provider plugin\(s\) .*pulumi-resource-aws \(the AWS resources/,
    );
  });
});
