/**
 * One helper for every test that drives imctl as an operator would: a real subprocess, its exit code and output,
 * with its own state directory and stack file so tests never touch a developer's running platform.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { execa } from "execa";
import { parse, stringify } from "yaml";
import { REPO_ROOT } from "../../base/root.mjs";
import { portFree } from "../../base/ports.ts";
import { loadSpec, localPortAssignments, requireLocal } from "../../infra/lib/spec.ts";
import { removeTempDir, tempDir } from "./temp-dir.ts";

export { keepTempDir, removeTempDir, tempDir, type TempDirOptions } from "./temp-dir.ts";

export const IMCTL = join(REPO_ROOT, "cli", "bin", "imctl.mjs");

export interface ImctlRun {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export async function imctl(args: string[], env: Record<string, string> = {}, timeoutMs = 300_000): Promise<ImctlRun> {
  const r = await execa(process.execPath, [IMCTL, ...args], {
    env,
    reject: false,
    timeout: timeoutMs,
    stdin: "ignore",
  });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/**
 * Writes stacks/local.yaml into a temp dir with every local port moved by `offset`, so a test platform can run
 * beside a developer's. `edit` may change the parsed spec further.
 */
export function testStack(offset: number, edit: (spec: Record<string, unknown>) => void = () => undefined): string {
  const spec = parse(readFileSync(join(REPO_ROOT, "stacks", "local.yaml"), "utf8")) as {
    local: { ports: Record<string, number> };
  } & Record<string, unknown>;
  for (const k of Object.keys(spec.local.ports)) spec.local.ports[k] = (spec.local.ports[k] ?? 0) + offset;
  edit(spec);
  const dir = tempDir("stack");
  const file = join(dir, "local.yaml");
  writeFileSync(file, stringify(spec));
  return file;
}

/**
 * Like testStack, but moves the offset on (from `start`) until every port the stack would bind is free, so test
 * platforms can run beside each other and beside a developer's own. Bounded: gives up after 60 tries.
 */
export async function freeTestStack(
  start: number,
  edit: (spec: Record<string, unknown>) => void = () => undefined,
): Promise<string> {
  for (let i = 0; i < 60; i++) {
    const offset = start + i * 211;
    const file = testStack(offset, edit);
    const spec = requireLocal(loadSpec(file), file);
    const ports = localPortAssignments(spec).map(([, p]) => p);
    if (ports.some((p) => p > 32767)) break; // stay below the ephemeral range (32768 and up)
    let free = true;
    for (const port of ports) {
      if (!(await portFree(spec.local.bindAddress, port))) {
        free = false;
        break;
      }
    }
    if (free) return file;
    removeTempDir(dirname(file)); // a stack whose ports are taken: only the one returned is of use
  }
  throw new Error(`no free set of ports for a test platform from offset ${start}`);
}
