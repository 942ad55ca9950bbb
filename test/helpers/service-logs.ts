/**
 * What a local platform's services said lately, for a failed test's message: their warnings and errors, and the
 * fan-out consumer's group events, since a point in time. A test that fails by timing or on a loaded machine is
 * then read from CI's output, without the platform (whose state directory a clean teardown deletes).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** Lines that say something about delivery even at info level: the fan-out consumer's replacements and moves. */
const NOTABLE = /fan-out|leader moved|presence|notify/;

/**
 * The gateway, message and user-center instances' log lines at warn level or above, or NOTABLE, logged at or after
 * `since` (ms), as `<instance> <HH:MM:SS.mmm> <msg> <fields>`, repeated lines folded into a count, at most `max`.
 */
export function recentServiceLogs(stateDir: string, since: number, max = 40): string {
  const dir = join(stateDir, "logs");
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => /^(gateway|message|user-center)/.test(f));
  } catch {
    return `(no logs in ${dir})`;
  }
  const lines: Array<{ time: number; text: string }> = [];
  for (const f of files) {
    for (const raw of readFileSync(join(dir, f), "utf8").split("\n")) {
      if (!raw.startsWith("{")) continue;
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        continue;
      }
      const time = Number(rec.time);
      const msg = String(rec.msg ?? "");
      if (!(time >= since) || (Number(rec.level) < 40 && !NOTABLE.test(msg))) continue;
      const { level: _l, time: _t, service: _s, version: _v, instance, msg: _m, pid: _p, hostname: _h, ...rest } = rec;
      const fields = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest).slice(0, 300)}` : "";
      lines.push({ time, text: `${String(instance ?? f)} ${msg}${fields}` });
    }
  }
  lines.sort((a, b) => a.time - b.time);
  const folded: Array<{ time: number; text: string; n: number }> = [];
  for (const l of lines) {
    const prev = folded.at(-1);
    if (prev?.text === l.text) prev.n++;
    else folded.push({ ...l, n: 1 });
  }
  if (folded.length === 0) return "(no warnings or fan-out events)";
  const shown = folded.slice(-max);
  return [
    ...(folded.length > max ? [`(${folded.length - max} earlier lines left out)`] : []),
    ...shown.map((l) => `${new Date(l.time).toISOString().slice(11, 23)} ${l.text}${l.n > 1 ? ` (x${l.n})` : ""}`),
  ].join("\n");
}
