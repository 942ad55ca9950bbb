/**
 * Where a rollout lives on disk, so it survives imctl being killed: its state (`rollouts/<service>.json`,
 * written atomically), the operators' intent (`<service>.intent.json`, written by promote/pause/abort and
 * consumed by the controller), the controller's lock (`<service>.lock`), finished rollouts under `history/`,
 * and an append-only audit log of every transition (`audit.jsonl`: who, when, what, why).
 */
import { writeAtomic } from "../../lib/files.ts";
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { userInfo } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { readHolder, type LockHolder } from "../../lib/lock.ts";
import { pidAlive } from "../../lib/process.ts";
import type { Intent, RolloutState } from "./machine.ts";

export const rolloutsDir = (stateDir: string) => join(stateDir, "rollouts");
const stateFile = (dir: string, service: string) => join(rolloutsDir(dir), `${service}.json`);
const intentFile = (dir: string, service: string) => join(rolloutsDir(dir), `${service}.intent.json`);
export const controllerLockFile = (dir: string, service: string) => join(rolloutsDir(dir), `${service}.lock`);
const auditFile = (dir: string) => join(rolloutsDir(dir), "audit.jsonl");
const historyDir = (dir: string) => join(rolloutsDir(dir), "history");

/** Our own files, written by imctl: checked for shape, but only loosely (the state type is ours). */
const stateShape = z
  .object({ apiVersion: z.literal(1), id: z.string(), service: z.string(), phase: z.string(), step: z.number() })
  .passthrough();

export function readRollout(dir: string, service: string): RolloutState | undefined {
  const f = stateFile(dir, service);
  if (!existsSync(f)) return undefined;
  const raw: unknown = JSON.parse(readFileSync(f, "utf8"));
  stateShape.parse(raw);
  return raw as RolloutState;
}

export function saveRollout(dir: string, s: RolloutState): void {
  s.updatedAt = new Date().toISOString();
  writeAtomic(stateFile(dir, s.service), JSON.stringify(s, null, 2));
}

/** Moves a finished rollout to history (the live file stays until the next start, for status). */
export function archiveRollout(dir: string, s: RolloutState): string {
  const f = join(historyDir(dir), `${s.service}-${s.id}.json`);
  writeAtomic(f, JSON.stringify(s, null, 2));
  return f;
}

export function listHistory(dir: string, service: string): RolloutState[] {
  const d = historyDir(dir);
  if (!existsSync(d)) return [];
  return readdirSync(d)
    .filter((f) => f.startsWith(`${service}-`) && f.endsWith(".json"))
    .map((f) => JSON.parse(readFileSync(join(d, f), "utf8")) as RolloutState)
    .filter((s) => s.service === service)
    .sort((a, b) => a.startedAt.localeCompare(b.startedAt));
}

const intentShape = z.object({
  intent: z.union([
    z.object({ action: z.literal("promote"), full: z.boolean() }),
    z.object({ action: z.literal("pause") }),
    z.object({ action: z.literal("abort"), reason: z.string().optional() }),
  ]),
  who: z.string(),
  at: z.string(),
});
export type IntentRecord = z.infer<typeof intentShape>;

export function writeIntent(dir: string, service: string, intent: Intent): IntentRecord {
  const rec: IntentRecord = { intent, who: who(), at: new Date().toISOString() };
  writeAtomic(intentFile(dir, service), JSON.stringify(rec));
  return rec;
}

/** Reads and removes the pending intent (the controller owns what happens next). */
export function takeIntent(dir: string, service: string): IntentRecord | undefined {
  const f = intentFile(dir, service);
  if (!existsSync(f)) return undefined;
  try {
    const rec = intentShape.parse(JSON.parse(readFileSync(f, "utf8")));
    return rec;
  } catch {
    return undefined; // half-written by a racing writer is impossible (rename); a hand-edited one is dropped
  } finally {
    rmSync(f, { force: true });
  }
}

export function pendingIntent(dir: string, service: string): boolean {
  return existsSync(intentFile(dir, service));
}

/** The live controller of a service's rollout, if one is running. */
export function liveController(dir: string, service: string): LockHolder | undefined {
  const f = controllerLockFile(dir, service);
  if (!existsSync(f)) return undefined;
  const h = readHolder(f);
  return h && pidAlive(h.pid) ? h : undefined;
}

/** `$USER/pid`: who did it, for the audit log. */
export function who(): string {
  let user = process.env.USER ?? "";
  if (!user) {
    try {
      user = userInfo().username;
    } catch {
      user = "unknown";
    }
  }
  return `${user}/${process.pid}`;
}

export interface AuditEntry {
  at: string;
  who: string;
  rollout: string;
  service: string;
  what: string;
  why: string;
  phase: string;
  step: number;
  canaryWeight: number;
}

export function audit(
  dir: string,
  s: Pick<RolloutState, "id" | "service" | "phase" | "step" | "canaryWeight">,
  what: string,
  why: string,
  by = who(),
): AuditEntry {
  const e: AuditEntry = {
    at: new Date().toISOString(),
    who: by,
    rollout: s.id,
    service: s.service,
    what,
    why,
    phase: s.phase,
    step: s.step,
    canaryWeight: s.canaryWeight,
  };
  mkdirSync(rolloutsDir(dir), { recursive: true });
  // One write per line with O_APPEND: concurrent writers (controller and an operator's abort) never interleave.
  appendFileSync(auditFile(dir), `${JSON.stringify(e)}\n`);
  return e;
}

export function readAudit(dir: string, service?: string): AuditEntry[] {
  const f = auditFile(dir);
  if (!existsSync(f)) return [];
  return readFileSync(f, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditEntry)
    .filter((e) => service === undefined || e.service === service);
}
