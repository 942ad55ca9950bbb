/**
 * Where `imctl bandwidth` keeps its state on a target: `<stateDir>/bandwidth/` holds the audit log (JSONL, one
 * event per line, append-only like tiup's audit log), the upgrades (one JSON state file each, written atomically
 * after every step, so an interrupted upgrade can be resumed or rolled back) and the reports' pictures. The files
 * are kept by the workflows' common record store (lib/records.ts).
 */
import { workflowRecords, type AuditInput } from "../../lib/records.ts";

const records = (stateDir: string) => workflowRecords(stateDir, "bandwidth");
export const bandwidthDir = (stateDir: string) => records(stateDir).dir;
export const auditLogFile = (stateDir: string) => records(stateDir).auditFile;

/** A directory for one report's files (charts, JSON), named by kind and time. */
export function reportDir(stateDir: string, kind: string, at: Date): string {
  return records(stateDir).ensureDir(kind, at.toISOString().replace(/[:.]/g, "-"));
}

export type BandwidthAction = "audit" | "plan" | "upgrade" | "rollback";

/** Records one bandwidth command's event: `subject` is the upgrade, the plan or the stack it concerns. */
export function appendAudit(stateDir: string, event: AuditInput & { action: BandwidthAction }): void {
  records(stateDir).audit(event);
}

/** A line of the bandwidth audit log as the commands wrote it: the command, then its own fields. */
export interface BandwidthAuditEvent extends Record<string, unknown> {
  time: string;
  actor: string;
  /** `bandwidth <action>`, e.g. `bandwidth rollback`. */
  command: string;
  subject: string;
  detail: string;
}

export function readAudit(stateDir: string): BandwidthAuditEvent[] {
  return records(stateDir)
    .readAudit()
    .map((r) => ({
      ...r.data,
      time: r.time,
      actor: r.actor,
      command: `bandwidth ${r.action}`,
      subject: r.subject,
      detail: r.detail,
    }));
}

/** The state file of an upgrade (its directory is created, so a test may write one by hand). */
export function upgradeFile(stateDir: string, id: string): string {
  records(stateDir).ensureDir("upgrades");
  return records(stateDir).path("upgrades", `${id}.json`);
}

export function saveUpgradeRecord(stateDir: string, id: string, state: unknown): void {
  records(stateDir).write(["upgrades", `${id}.json`], state);
}

/** An upgrade's state as stored (the caller knows its type: imctl wrote it). */
export function readUpgradeRecord(stateDir: string, id: string): unknown {
  return records(stateDir).read("upgrades", `${id}.json`);
}

/** Upgrade ids, oldest first (ids start with their UTC start time). */
export function upgradeIds(stateDir: string): string[] {
  return records(stateDir)
    .list("upgrades")
    .filter((f) => f.endsWith(".json"))
    .map((f) => f.slice(0, -5))
    .sort();
}
