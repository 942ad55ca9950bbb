/**
 * Where a rollout lives on disk, so it survives imctl being killed: its state (`rollouts/<service>.json`,
 * written atomically), the operators' intent (`<service>.intent.json`, written by promote/pause/abort and
 * consumed by the controller), the controller's lock (`<service>.lock`), finished rollouts under `history/`,
 * and an append-only audit log of every transition (`audit.jsonl`: who, when, what, why), all kept by the
 * workflows' common record store (lib/records.ts).
 */
import { z } from "zod";
import { readHolder, type LockHolder } from "../../lib/lock.ts";
import { pidAlive } from "../../lib/process.ts";
import { actor, workflowRecords } from "../../lib/records.ts";
import type { Intent, RolloutState } from "./machine.ts";

const records = (stateDir: string) => workflowRecords(stateDir, "rollout");
export const rolloutsDir = (stateDir: string) => records(stateDir).dir;
const stateFile = (service: string) => `${service}.json`;
const intentFile = (service: string) => `${service}.intent.json`;
export const controllerLockFile = (dir: string, service: string) => records(dir).path(`${service}.lock`);

/** Our own files, written by imctl: checked for shape, but only loosely (the state type is ours). */
const stateShape = z
  .object({ apiVersion: z.literal(1), id: z.string(), service: z.string(), phase: z.string(), step: z.number() })
  .passthrough();

export function readRollout(dir: string, service: string): RolloutState | undefined {
  const raw = records(dir).read(stateFile(service));
  if (raw === undefined) return undefined;
  stateShape.parse(raw);
  return raw as RolloutState;
}

export function saveRollout(dir: string, s: RolloutState): void {
  s.updatedAt = new Date().toISOString();
  records(dir).write(stateFile(s.service), s);
}

/** Moves a finished rollout to history (the live file stays until the next start, for status). */
export function archiveRollout(dir: string, s: RolloutState): string {
  return records(dir).write(["history", `${s.service}-${s.id}.json`], s);
}

export function listHistory(dir: string, service: string): RolloutState[] {
  const r = records(dir);
  return r
    .list("history")
    .filter((f) => f.startsWith(`${service}-`) && f.endsWith(".json"))
    .map((f) => r.read("history", f) as RolloutState)
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
  records(dir).write(intentFile(service), rec);
  return rec;
}

/** Reads and removes the pending intent (the controller owns what happens next). */
export function takeIntent(dir: string, service: string): IntentRecord | undefined {
  const r = records(dir);
  if (!r.exists(intentFile(service))) return undefined;
  try {
    return intentShape.parse(r.read(intentFile(service)));
  } catch {
    return undefined; // half-written by a racing writer is impossible (rename); a hand-edited one is dropped
  } finally {
    r.remove(intentFile(service));
  }
}

export function pendingIntent(dir: string, service: string): boolean {
  return records(dir).exists(intentFile(service));
}

/** The live controller of a service's rollout, if one is running. */
export function liveController(dir: string, service: string): LockHolder | undefined {
  const r = records(dir);
  if (!r.exists(`${service}.lock`)) return undefined;
  const h = readHolder(r.path(`${service}.lock`));
  return h && pidAlive(h.pid) ? h : undefined;
}

/** `$USER/pid`: who did it, for the audit log. */
export const who = actor;

/** A rollout's view of a line of the rollouts' audit log (`audit.jsonl`, in the common record format). */
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
  const data = { rollout: s.id, phase: s.phase, step: s.step, canaryWeight: s.canaryWeight };
  const rec = records(dir).audit({ subject: s.service, action: what, actor: by, detail: why, data });
  return { at: rec.time, who: rec.actor, service: rec.subject, what, why, ...data };
}

export function readAudit(dir: string, service?: string): AuditEntry[] {
  return records(dir)
    .readAudit(service)
    .map((r) => ({
      at: r.time,
      who: r.actor,
      rollout: String(r.data.rollout ?? ""),
      service: r.subject,
      what: r.action,
      why: r.detail,
      phase: String(r.data.phase ?? ""),
      step: Number(r.data.step ?? 0),
      canaryWeight: Number(r.data.canaryWeight ?? 0),
    }));
}
