/** The open-file limit of this process (from /proc/self/limits), or null where it cannot be read. */
import { readFileSync } from "node:fs";

export function fdLimit(): number | null {
  try {
    const m = /Max open files\s+(\d+)/.exec(readFileSync("/proc/self/limits", "utf8"));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}
