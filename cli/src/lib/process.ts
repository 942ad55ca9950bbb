import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import { sleep } from "../../../base/sleep.ts";

export interface ProcessSpec {
  bin: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** stdout and stderr are appended here. */
  logFile: string;
}

/** True when a process with this pid exists (it may belong to anyone). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !isZombie(pid);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return false;
  }
}

/**
 * True when `pid` is alive and is one of ours: its command line or environment names `marker`
 * (the state directory). Guards against a recycled pid: down must stop only what imctl started.
 */
export function isOurs(pid: number, marker: string): boolean {
  // A process in the middle of exec (nsenter becoming unshare, say) shows an empty command line and
  // environment for a moment: read again rather than take it for somebody else's (or a dead) process.
  for (let attempt = 0; attempt < EXEC_WINDOW_READS; attempt++) {
    if (!pidAlive(pid)) return false;
    const seen = processIdentity(pid);
    if (seen.some((text) => text.includes(marker))) return true;
    if (seen.every((text) => text !== "")) return false;
    Atomics.wait(EXEC_WAIT, 0, 0, 10);
  }
  return false;
}

const EXEC_WINDOW_READS = 20;
const EXEC_WAIT = new Int32Array(new SharedArrayBuffer(4));

/** The process's command line and environment (either reads "" while it is between programs). */
function processIdentity(pid: number): string[] {
  return ["cmdline", "environ"].map((f) => {
    try {
      return readFileSync(`/proc/${pid}/${f}`).toString("utf8");
    } catch {
      return ""; // gone, or not readable
    }
  });
}

/**
 * Starts a long-running process detached from imctl (its own process group), so it outlives the command
 * that started it. The marker goes into its environment so `isOurs` can recognise it later.
 */
export function startDetached(spec: ProcessSpec, marker: string): number {
  mkdirSync(dirname(spec.logFile), { recursive: true });
  const out = openSync(spec.logFile, "a");
  try {
    const child = spawn(spec.bin, spec.args, {
      cwd: spec.cwd,
      env: { ...process.env, ...spec.env, IMCTL_MARKER: marker },
      detached: true,
      stdio: ["ignore", out, out],
    });
    if (child.pid === undefined) throw new Error(`could not start ${spec.bin}`);
    child.unref();
    return child.pid;
  } finally {
    closeSync(out);
  }
}

/** Pids in the process group `pgid` (a detached child leads its own group; nginx workers live there too). */
export function groupMembers(pgid: number): number[] {
  const pids: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[2]) === pgid && fields[0] !== "Z") pids.push(Number(e));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/**
 * Stops a process group: `signal` to the leader, then SIGKILL to the whole group after `graceMs`.
 * Returns how it ended.
 */
export async function stopGroup(
  pid: number,
  signal: NodeJS.Signals,
  graceMs: number,
): Promise<"stopped" | "killed" | "not running"> {
  if (!pidAlive(pid) && groupMembers(pid).length === 0) return "not running";
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!pidAlive(pid) && groupMembers(pid).length === 0) return "stopped";
    await sleep(100);
  }
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // gone
  }
  const killDeadline = Date.now() + 5000;
  while (Date.now() < killDeadline && (pidAlive(pid) || groupMembers(pid).length > 0)) await sleep(50);
  return "killed";
}
