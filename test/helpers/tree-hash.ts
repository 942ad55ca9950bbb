import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

/** A hash of every path, size and content under `dir` (missing: "none"). */
export function treeHash(dir: string): string {
  const h = createHash("sha256");
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, e.name);
      h.update(p);
      if (e.isDirectory()) walk(p);
      else h.update(readFileSync(p));
    }
  };
  if (!existsSync(dir)) return "none";
  if (!statSync(dir).isDirectory()) return createHash("sha256").update(readFileSync(dir)).digest("hex");
  walk(dir);
  return h.digest("hex");
}
