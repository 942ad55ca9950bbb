/**
 * Holds processes to a CPU budget each, as a pod's CPU limit does: one cgroup per process with a CFS quota
 * (cgroup v2 `cpu.max`, or v1 `cpu.cfs_quota_us` of `cpu.cfs_period_us`). A benchmark uses it to model instances that
 * have CPU of their own instead of sharing every core of one machine (group-fanout's
 * BENCH_GROUP_FANOUT_INSTANCE_CPU). Needs root and the cpu controller; release() moves the processes back and removes
 * the groups.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const PERIOD_US = 100_000;

/** Where the cpu controller can be used: a v2 mount that offers it, or the v1 cpu hierarchy. */
export function cpuController(mounts = "/proc/self/mounts"): { kind: "v2" | "v1"; root: string } | undefined {
  const lines = readFileSync(mounts, "utf8")
    .split("\n")
    .map((l) => l.split(" "));
  for (const [, dir, type, opts] of lines) {
    if (type === "cgroup2" && dir && existsSync(join(dir, "cgroup.controllers"))) {
      const controllers = readFileSync(join(dir, "cgroup.controllers"), "utf8").split(/\s+/);
      if (controllers.includes("cpu")) return { kind: "v2", root: dir };
    }
    if (type === "cgroup" && dir && (opts ?? "").split(",").includes("cpu")) return { kind: "v1", root: dir };
  }
  return undefined;
}

export interface CpuCap {
  /** How the budget was set, for the benchmark's record: "cgroup v1 cpu.cfs_quota_us 50000/100000". */
  how: string;
  /** Moves the processes back to the root group and removes the groups; safe to call twice. */
  release(): void;
}

/**
 * Puts each of `pids` in a group of its own named `<name>-<pid>` with `cores` of CPU (0.5: half a core). One line
 * naming what is missing when no cpu controller can be used.
 */
export function capCpu(pids: number[], cores: number, name: string): CpuCap {
  if (!(cores > 0 && cores <= 64))
    throw new Error(`CPU budget ${cores}: expected a number of cores above 0, at most 64`);
  const ctl = cpuController();
  if (ctl === undefined)
    throw new Error("no cpu cgroup controller here (neither cgroup v2 with `cpu` nor a v1 cpu hierarchy is mounted)");
  const quota = Math.round(cores * PERIOD_US);
  const groups: string[] = [];
  const release = (): void => {
    for (const g of groups.splice(0)) {
      const procs = existsSync(join(g, "cgroup.procs")) ? readFileSync(join(g, "cgroup.procs"), "utf8") : "";
      for (const pid of procs.split("\n").filter(Boolean)) {
        try {
          writeFileSync(join(ctl.root, "cgroup.procs"), pid);
        } catch {
          // Gone meanwhile.
        }
      }
      try {
        rmdirSync(g);
      } catch {
        // Still busy with an exiting process: the kernel removes nothing by itself, but an empty group costs nothing.
      }
    }
  };
  try {
    for (const pid of pids) {
      const g = join(ctl.root, `${name}-${pid}`);
      mkdirSync(g, { recursive: true });
      groups.push(g);
      if (ctl.kind === "v2") writeFileSync(join(g, "cpu.max"), `${quota} ${PERIOD_US}`);
      else {
        writeFileSync(join(g, "cpu.cfs_period_us"), String(PERIOD_US));
        writeFileSync(join(g, "cpu.cfs_quota_us"), String(quota));
      }
      // cgroup.procs moves every thread of the process.
      writeFileSync(join(g, "cgroup.procs"), String(pid));
    }
  } catch (err) {
    release();
    throw new Error(`could not cap CPU with cgroup ${ctl.kind} under ${ctl.root}: ${(err as Error).message}`);
  }
  const how =
    ctl.kind === "v2"
      ? `cgroup v2 cpu.max ${quota} ${PERIOD_US}`
      : `cgroup v1 cpu.cfs_quota_us ${quota} of cpu.cfs_period_us ${PERIOD_US}`;
  return { how, release };
}
