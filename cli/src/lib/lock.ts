import { mkdirSync, openSync, readFileSync, rmSync, writeSync, closeSync } from "node:fs";
import { dirname } from "node:path";
import { UserError, MESSAGES } from "../errors.ts";
import { pidAlive } from "./process.ts";

export interface LockHolder {
  pid: number;
  command: string;
  since: string;
}

/**
 * One workflow per target at a time. The lock is a file created with O_EXCL holding the owner's pid;
 * a lock whose owner is gone (killed imctl) is taken over, so a crash never wedges the target.
 */
export async function withLock<T>(file: string, command: string, fn: () => Promise<T>): Promise<T> {
  const depth = held.get(file) ?? 0;
  // Re-entrant within one process: a workflow that holds the lock may call another step that takes it
  // (a drill repairing the platform through `local up`).
  if (depth === 0) acquire(file, command);
  held.set(file, depth + 1);
  try {
    return await fn();
  } finally {
    if (depth === 0) {
      held.delete(file);
      rmSync(file, { force: true });
    } else {
      held.set(file, depth);
    }
  }
}

/** Locks this process holds, with their nesting depth. */
const held = new Map<string, number>();

function acquire(file: string, command: string): void {
  mkdirSync(dirname(file), { recursive: true });
  const me: LockHolder = { pid: process.pid, command, since: new Date().toISOString() };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, "wx", 0o600);
      writeSync(fd, JSON.stringify(me));
      closeSync(fd);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const holder = readHolder(file);
      if (holder && pidAlive(holder.pid)) {
        throw new UserError(MESSAGES.locked(`"${holder.command}" (pid ${holder.pid}, since ${holder.since})`));
      }
      rmSync(file, { force: true }); // stale: its owner is gone
    }
  }
  throw new UserError(MESSAGES.locked("another imctl raced for it; try again"));
}

export function readHolder(file: string): LockHolder | undefined {
  try {
    const v: unknown = JSON.parse(readFileSync(file, "utf8"));
    if (v && typeof v === "object" && "pid" in v && typeof v.pid === "number") {
      const o = v as Record<string, unknown>;
      return { pid: v.pid, command: String(o.command ?? "?"), since: String(o.since ?? "?") };
    }
  } catch {
    // unreadable lock: treat as stale
  }
  return undefined;
}
