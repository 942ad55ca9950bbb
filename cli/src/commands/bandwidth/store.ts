/**
 * Where `imctl bandwidth` keeps its state on a target: `<stateDir>/bandwidth/` holds the audit log (JSONL, one
 * event per line, append-only like tiup's audit log), the upgrades (one JSON state file each, written atomically
 * after every step, so an interrupted upgrade can be resumed or rolled back) and the reports' pictures.
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const bandwidthDir = (stateDir: string) => join(stateDir, "bandwidth");
export const auditLogFile = (stateDir: string) => join(bandwidthDir(stateDir), "audit.jsonl");
const upgradesDir = (stateDir: string) => join(bandwidthDir(stateDir), "upgrades");

/** A directory for one report's files (charts, JSON), named by kind and time. */
export function reportDir(stateDir: string, kind: string, at: Date): string {
  const dir = join(bandwidthDir(stateDir), kind, at.toISOString().replace(/[:.]/g, "-"));
  mkdirSync(dir, { recursive: true });
  return dir;
}

export function appendAudit(stateDir: string, event: Record<string, unknown>): void {
  mkdirSync(bandwidthDir(stateDir), { recursive: true });
  appendFileSync(
    auditLogFile(stateDir),
    `${JSON.stringify({ time: new Date().toISOString(), pid: process.pid, ...event })}\n`,
  );
}

export function writeJsonAtomic(file: string, value: unknown): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(tmp, file);
}

export function upgradeFile(stateDir: string, id: string): string {
  mkdirSync(upgradesDir(stateDir), { recursive: true });
  return join(upgradesDir(stateDir), `${id}.json`);
}

/** Upgrade ids, oldest first (ids start with their UTC start time). */
export function upgradeIds(stateDir: string): string[] {
  const dir = upgradesDir(stateDir);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .map((f) => f.slice(0, -5))
    .sort();
}

export function readJson(file: string): unknown {
  return JSON.parse(readFileSync(file, "utf8"));
}
