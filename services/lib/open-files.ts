/** The open-file limit of this process, shared by the gateway (its connection cap) and the load clients. */
import { readFileSync } from "node:fs";

/** Descriptors this process may hold (the soft RLIMIT_NOFILE), or null when /proc does not say. */
export function openFileLimit(): number | null {
  try {
    const m = /Max open files\s+(\d+)/.exec(readFileSync("/proc/self/limits", "utf8"));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}
