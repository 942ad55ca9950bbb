/**
 * A real local platform for one integration test file: its own ports (`offset`), its own state directory,
 * brought up with `imctl local up` and taken down with `imctl local down`.
 */
import { readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { loadSpec, requireLocal, type LocalPlatformSpec } from "../../infra/lib/spec.ts";
import { AccountApi } from "../../services/lib/client/index.ts";
import type { Secrets } from "../../cli/src/targets/local/context.ts";
import type { UpResult } from "../../cli/src/targets/local/platform.ts";
import { freeTestStack, imctl, keepTempDir, tempDir, type ImctlRun } from "./imctl.ts";

export interface TestPlatform {
  stack: string;
  stateDir: string;
  spec: LocalPlatformSpec;
  /** http://host:port of the nginx tier. */
  lbUrl: string;
  /** ws://host:port/ws through nginx. */
  wsUrl: string;
  api: AccountApi;
  secrets: Secrets;
  up: UpResult;
  run(...args: string[]): Promise<ImctlRun>;
  /** imctl in this platform's state directory without --stack (commands that refuse it, e.g. with --target <url>). */
  runBare(...args: string[]): Promise<ImctlRun>;
  /** Pid of a component (e.g. "gateway-1", "redis-2") as recorded by the local target. */
  pid(component: string): number;
  /** Pids of every component recorded by the local target (the roots of the platform's process trees). */
  pids(): number[];
  /** Whether the local state lists `component` (e.g. "message-2"). */
  hasComponent(component: string): boolean;
  /** Stops every process; once that succeeded, deletes the state directory (every component's data). */
  down(): Promise<void>;
}

/** `imctl local down` of every platform this process started or is starting, until its own down() ran. */
const live = new Set<() => Promise<unknown>>();

/**
 * Takes down every platform this process started or is still starting: for a benchmark interrupted with Ctrl-C,
 * whose platform processes run in their own process groups and would outlive it.
 */
export async function downEveryPlatform(): Promise<void> {
  await Promise.all([...live].map((down) => down().catch(() => undefined)));
  live.clear();
}

/** `offset` is where the search for free ports starts (see freeTestStack). */
export async function startPlatform(
  offset: number,
  edit?: (spec: Record<string, unknown>) => void,
): Promise<TestPlatform> {
  const stack = await freeTestStack(offset, edit);
  // The stack file stays or goes with the state directory (see down()): a platform that would not stop can still be
  // taken down by hand with `imctl local down --stack <stack>`.
  keepTempDir(dirname(stack));
  const spec = requireLocal(loadSpec(stack), stack);
  const stateDir = tempDir("platform", { keep: true });
  const env = { IMCTL_STATE_DIR: stateDir };
  const run = (...args: string[]) => imctl([...args, "--stack", stack], env);
  // One `local down` however many ask at once (the test's or benchmark's own teardown, a signal handler through
  // downEveryPlatform, a set-up's failure path): a second one is refused by the platform's lock (exit 2), and its
  // caller, going on as if the platform were down, could exit and take the first one (its child) with it.
  let stopping: Promise<number | undefined> | undefined;
  const stopAll = (): Promise<number | undefined> =>
    (stopping ??= run("local", "down").then((r) => {
      live.delete(stopAll);
      return r.exitCode;
    }));
  live.add(stopAll);
  const r = await run("local", "up", "--json");
  if (r.exitCode !== 0) {
    await stopAll();
    throw new Error(`imctl local up failed (exit ${r.exitCode}):\n${r.stderr.split("\n").slice(-15).join("\n")}`);
  }
  const host = spec.local.bindAddress;
  const lbUrl = `http://${host}:${spec.local.ports.gatewayLb}`;
  const state = () =>
    JSON.parse(readFileSync(join(stateDir, "state.json"), "utf8")) as { components: Record<string, { pid: number }> };
  return {
    stack,
    stateDir,
    spec,
    lbUrl,
    wsUrl: `ws://${host}:${spec.local.ports.gatewayLb}/ws`,
    api: new AccountApi(lbUrl),
    secrets: JSON.parse(readFileSync(join(stateDir, "secrets.json"), "utf8")) as Secrets,
    up: JSON.parse(r.stdout) as UpResult,
    run,
    runBare: (...args: string[]) => imctl(args, env),
    pid(component) {
      const rec = state().components[component];
      if (!rec) throw new Error(`no component ${component} in the local state`);
      return rec.pid;
    },
    pids() {
      return Object.values(state().components).map((c) => c.pid);
    },
    hasComponent(component) {
      return state().components[component] !== undefined;
    },
    // IMCTL_TEST_KEEP_STATE=1 keeps the state directory (every component's log) after a clean down, to read
    // what a failed test's platform did. The stack file's directory is kept or removed with it.
    async down() {
      const first = stopping === undefined;
      const exitCode = await stopAll();
      if (!first) return;
      if (exitCode !== 0)
        process.stderr.write(`imctl local down failed (exit ${exitCode}); state left in ${stateDir}, stack ${stack}\n`);
      else if (process.env.IMCTL_TEST_KEEP_STATE === "1")
        process.stderr.write(`state kept in ${stateDir} (IMCTL_TEST_KEEP_STATE=1)\n`);
      else for (const dir of [stateDir, dirname(stack)]) rmSync(dir, { recursive: true, force: true });
    },
  };
}

let userSeq = 0;

/** Registers and signs in `n` users with unique names. */
export async function makeUsers(
  api: AccountApi,
  n: number,
  prefix = "u",
): Promise<Array<{ userId: string; token: string; username: string }>> {
  const tag = `${prefix}${process.pid.toString(36)}${Date.now().toString(36)}`;
  return Promise.all(
    Array.from({ length: n }, async () => {
      const username = `${tag}-${userSeq++}`;
      await api.register(username, "correct-horse-battery");
      const s = await api.login(username, "correct-horse-battery");
      return { userId: s.userId, token: s.token, username };
    }),
  );
}
