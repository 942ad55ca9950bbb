import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { capCpu, cpuController } from "./cpu-cap.ts";

/** CPU seconds used so far by `pid` (utime + stime, USER_HZ 100). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

const usable = process.getuid?.() === 0 && cpuController() !== undefined;

describe("CPU caps for benchmarks", { skip: usable ? false : "needs root and a cpu cgroup controller" }, () => {
  it("holds a busy process to its budget, and release moves it back and removes its group", async (t) => {
    const child = spawn(process.execPath, ["-e", "const end = Date.now() + 20000; while (Date.now() < end);"], {
      stdio: "ignore",
    });
    t.after(() => child.kill("SIGKILL"));
    const pid = child.pid!;
    const cap = capCpu([pid], 0.1, `imctl-test-cap-${process.pid}`);
    try {
      const group = cpuController()!;
      const dir = join(group.root, `imctl-test-cap-${process.pid}-${pid}`);
      assert.match(cap.how, /cgroup v[12] cpu/);
      assert.ok(readFileSync(join(dir, "cgroup.procs"), "utf8").split("\n").includes(String(pid)));
      const before = cpuSeconds(pid);
      await sleep(2000);
      const used = cpuSeconds(pid) - before;
      // 0.1 of a core for 2 s is 0.2 s; uncapped it spins a whole core (2 s, less on a busy machine).
      assert.ok(used < 0.5, `the capped process used ${used.toFixed(2)} s of CPU in 2 s`);
      cap.release();
      assert.equal(existsSync(dir), false, "the group is removed");
    } finally {
      cap.release();
    }
  });

  it("refuses a budget out of range with one line, creating nothing", () => {
    assert.throws(() => capCpu([process.pid], 0, "imctl-test-cap"), /CPU budget 0: expected a number of cores above 0/);
    assert.throws(() => capCpu([process.pid], 100, "imctl-test-cap"), /at most 64/);
  });
});
