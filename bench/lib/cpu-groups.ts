/** CPU time per part of the platform (Kafka, Redis, the gateways, the load clients...), from /proc. */
import { readdirSync, readFileSync } from "node:fs";

/** CPU time (clock ticks) of every process on the machine, by pid, with its group (see cpuGroup). */
export type CpuSnapshot = Map<number, { group: string; ticks: number; ppid?: number }>;

/** /proc reports CPU time in USER_HZ ticks, 100 a second on Linux whatever the kernel's own tick rate. */
const USER_HZ = 100;

/** Which part of the platform (or of the benchmark) a process is, from its command line. */
export function cpuGroup(cmdline: string): string {
  const groups: Array<[RegExp, string]> = [
    [/kafka\.Kafka/, "kafka"],
    [/redis-server/, "redis"],
    [/mariadbd/, "mariadb"],
    [/^nginx/, "nginx"],
    [/\/prometheus /, "prometheus"],
    [/-exporter/, "exporters"],
    [/services\/gateway\//, "gateways"],
    [/services\/message\//, "message"],
    [/services\/user-center\//, "user-center"],
    [/bench\/lib\/(msg-client|conn-client)/, "load clients"],
    [/ws-baseline-server/, "baseline server"],
  ];
  return groups.find(([re]) => re.test(cmdline))?.[1] ?? "other";
}

/** Every process's CPU time so far (processes that cannot be read, or are gone, are left out). */
export function cpuSnapshot(): CpuSnapshot {
  const out: CpuSnapshot = new Map();
  if (process.platform !== "linux") return out;
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const cmdline = readFileSync(`/proc/${name}/cmdline`, "utf8").replaceAll("\0", " ");
      out.set(Number(name), {
        group: cpuGroup(cmdline),
        ticks: Number(fields[11]) + Number(fields[12]),
        ppid: Number(fields[1]),
      });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** Cores used per group between two snapshots, largest first. */
export function cpuByGroup(
  before: CpuSnapshot,
  after: CpuSnapshot,
  seconds: number,
  /** Only these processes (see processTree); every process on the machine when absent. */
  only?: Set<number>,
): Array<{ group: string; cores: number }> {
  const sum = new Map<string, number>();
  for (const [pid, a] of after) {
    if (only !== undefined && !only.has(pid)) continue;
    const b = before.get(pid);
    if (b === undefined) continue;
    sum.set(a.group, (sum.get(a.group) ?? 0) + (a.ticks - b.ticks));
  }
  return [...sum]
    .map(([group, ticks]) => ({ group, cores: ticks / USER_HZ / seconds }))
    .sort((x, y) => y.cores - x.cores);
}

/** `roots` and every process below them (nginx's workers under its master, for instance). */
export function processTree(snap: CpuSnapshot, roots: Iterable<number>): Set<number> {
  const tree = new Set(roots);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, p] of snap) {
      if (!tree.has(pid) && p.ppid !== undefined && tree.has(p.ppid)) {
        tree.add(pid);
        grew = true;
      }
    }
  }
  return tree;
}

/**
 * CPU seconds used between two snapshots by the processes under `roots` (as the later snapshot sees the tree):
 * one platform's own processes, not another one's running beside it on the same machine.
 */
export function cpuSecondsOf(before: CpuSnapshot, after: CpuSnapshot, roots: Iterable<number>): number {
  let ticks = 0;
  for (const pid of processTree(after, roots)) {
    const a = after.get(pid);
    const b = before.get(pid);
    if (a !== undefined && b !== undefined) ticks += a.ticks - b.ticks;
  }
  return ticks / USER_HZ;
}
