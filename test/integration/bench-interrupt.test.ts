/**
 * Ctrl-C of a benchmark leaves nothing of its platform behind (issue 22): a real `bench/run.ts throughput`, shrunk
 * to a few users and not recorded, gets SIGINT on its whole process group (what a terminal's Ctrl-C does) once its
 * platform is up; it must leave with 130, no process recorded in the platform's state may still be alive and none
 * of the platform's ports may still accept a connection. About a minute: one platform up and down.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { REPO_ROOT } from "../../base/root.mjs";
import { loadSpec, localPortAssignments, requireLocal } from "../../infra/lib/spec.ts";

/** Running (a zombie, dead and not yet reaped by its parent, holds no port and no memory: not alive). */
const alive = (pid: number): boolean => {
  try {
    // The state is the field after the command's closing parenthesis.
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.[0] !== "Z";
  } catch {
    return false;
  }
};

const accepts = (host: string, port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = connect({ host, port });
    s.setTimeout(2000, () => (s.destroy(), resolve(false)));
    s.once("connect", () => (s.destroy(), resolve(true)));
    s.once("error", () => resolve(false));
  });

/** The newest entry of `dir` whose name starts with `prefix` (freeTestStack writes one stack per offset it tries). */
const newest = (dir: string, prefix: string): string => {
  const paths = readdirSync(dir)
    .filter((n) => n.startsWith(prefix))
    .map((n) => join(dir, n))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  assert.ok(paths[0], `a ${prefix}* in ${dir}`);
  return paths[0];
};

describe("a benchmark interrupted with Ctrl-C", () => {
  // The benchmark's temp files (its stack file and the platform's state directory) land here, so they are found.
  const tmp = mkdtempSync(join(tmpdir(), "imctl-bench-sigint-"));
  let stateDir = "";
  let stack = "";
  after(async () => {
    // Should the benchmark have left its platform up, take it down here (the assertions have said so already).
    if (stateDir && stack && existsSync(join(stateDir, "state.json"))) {
      const env = { ...process.env, IMCTL_STATE_DIR: stateDir };
      const args = ["cli/bin/imctl.mjs", "local", "down", "--stack", stack];
      await new Promise((r) => spawn(process.execPath, args, { cwd: REPO_ROOT, env, stdio: "ignore" }).once("exit", r));
    }
    rmSync(tmp, { recursive: true, force: true });
  });

  it("takes its platform down: exit 130, no recorded pid alive, no port of the platform open", async () => {
    const bench = spawn(process.execPath, ["--import", "tsx", "bench/run.ts", "throughput"], {
      cwd: REPO_ROOT,
      // Its own process group: the signal goes to the runner and its helpers, as Ctrl-C in a terminal does.
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        TMPDIR: tmp,
        BENCH_NO_RECORD: "1",
        BENCH_THROUGHPUT_SENDERS: "2",
        BENCH_THROUGHPUT_RECEIVERS: "2",
        BENCH_THROUGHPUT_SECONDS: "1",
        BENCH_THROUGHPUT_WARMUP_SECONDS: "0",
      },
    });
    let stderr = "";
    const exited = new Promise<number | null>((r) => bench.once("exit", (code) => r(code)));
    // Up once the relay is listening (after the platform came up and the users were registered).
    const up = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 240_000);
      bench.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
        if (stderr.includes("relay baseline listening")) {
          clearTimeout(timer);
          resolve(true);
        }
      });
      void exited.then(() => resolve(false));
    });
    assert.ok(up, `the benchmark's platform did not come up:\n${stderr.slice(-2000)}`);
    stateDir = newest(tmp, "imctl-platform-");
    stack = join(newest(tmp, "imctl-stack-"), "local.yaml");
    const state = JSON.parse(readFileSync(join(stateDir, "state.json"), "utf8")) as {
      components: Record<string, { pid: number }>;
    };
    const pids = Object.entries(state.components).map(([name, c]) => [name, c.pid] as const);
    assert.ok(pids.length >= 10, `the platform's processes are recorded: ${pids.map(([n]) => n).join(", ")}`);
    assert.ok(
      pids.every(([, pid]) => alive(pid)),
      "every recorded process runs before the signal",
    );
    const spec = requireLocal(loadSpec(stack), stack);
    const ports = localPortAssignments(spec).map(([, p]) => p);
    assert.ok(await accepts(spec.local.bindAddress, spec.local.ports.gatewayLb), "nginx accepts before the signal");

    process.kill(-(bench.pid ?? 0), "SIGINT");
    const code = await Promise.race([exited, new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 180_000))]);
    assert.equal(code, 130, `exit code after SIGINT; stderr:\n${stderr.slice(-2000)}`);
    assert.match(stderr, /SIGINT: tearing down/);
    const left = pids.filter(([, pid]) => alive(pid));
    assert.deepEqual(left, [], `processes of the platform still alive; the benchmark said:\n${stderr.slice(-1500)}`);
    const open: number[] = [];
    for (const p of ports) if (await accepts(spec.local.bindAddress, p)) open.push(p);
    assert.deepEqual(open, [], "ports of the platform still accepting connections");
  });
});
