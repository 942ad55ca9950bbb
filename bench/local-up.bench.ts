/**
 * local-up: seconds for a cold `imctl local up` (tools installed, no data: every data directory initialised,
 * the Redis Cluster formed, Kafka formatted and its topics created, migrations applied) until every component
 * is healthy and Prometheus scrapes every target. Target: 90 s or less on this machine.
 * No baseline: nothing else brings up this platform; each run's `down` is not timed.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { imctl, tempDir, testStack } from "../test/helpers/imctl.ts";
import type { Benchmark } from "./harness.ts";

const stack = testStack(2000);
let root = "";

const bench: Benchmark = {
  name: "local-up",
  unit: "s",
  better: "lower",
  description:
    "Cold `imctl local up` with tools installed and no data (Redis Cluster formed, Kafka formatted and" +
    " topics created, migrations applied, every Prometheus target up). Target: at most 90 s. Baseline:" +
    " none (nothing else brings this platform up).",
  async setup() {
    root = tempDir("bench-local-up");
  },
  async teardown() {
    rmSync(root, { recursive: true, force: true });
  },
  async measure(run) {
    const env = { IMCTL_STATE_DIR: join(root, `state-${run}`) };
    const t0 = performance.now();
    const r = await imctl(["local", "up", "--stack", stack], env);
    const seconds = (performance.now() - t0) / 1000;
    const down = await imctl(["local", "down", "--stack", stack], env);
    if (r.exitCode !== 0)
      throw new Error(
        `imctl local up failed (exit ${r.exitCode}): ${r.stderr.trim().split("\n").slice(-3).join(" | ")}`,
      );
    if (down.exitCode !== 0) throw new Error(`imctl local down failed: ${down.stderr}`);
    return seconds;
  },
};

export default bench;
