/**
 * What a drill asks of a target: the faults there are, resolving one to the component it hits, injecting it,
 * undoing it; and the database backup / destroy / restore drill. `local/faults.ts` and `local/backup.ts` implement
 * them locally. The drill command's model adds its own policy (budgets, windows) on top of these names.
 */

import { rng } from "../../../base/prng.ts";

/** Every fault a drill can inject, in the order the help lists them. */
export const FAULTS = [
  "redis-primary",
  "kafka-broker",
  "db",
  "gateway-instance",
  "message-instance",
  "user-center-instance",
  "random-instance",
  "partition",
] as const;
export type FaultName = (typeof FAULTS)[number];

/** kafka-broker: SIGKILL (hard) or SIGTERM, a controlled shutdown (graceful). */
export type KafkaKillMode = "hard" | "graceful";

/** Seeded (base/prng.ts, mulberry32), so `random-instance --seed N` picks the same instance again. */
export function seededPick<T>(items: readonly T[], seed: number): T {
  if (items.length === 0) throw new Error("nothing to pick from");
  return rng(seed).pick(items);
}

/** A validated fault request (see the drill model's parseFault). */
export interface FaultSpec {
  fault: FaultName;
  kafkaMode: KafkaKillMode;
  /** A component to hit instead of the target's own pick (e.g. gateway-2, kafka-3, message-1). */
  instance: string | undefined;
  partitionSeconds: number;
  /** random-instance: the seed of the pick (printed, so a run can be repeated). */
  seed: number;
}

/** A fault resolved against the running platform, before anything is touched. */
export interface FaultPlan {
  fault: FaultName;
  /** The component hit, e.g. "redis-2", "kafka-1", "gateway-2", "mariadb". */
  component: string;
  /** kill: SIGKILL; terminate: SIGTERM (graceful); restart: stop, then start; partition: drop its traffic. */
  action: "kill" | "terminate" | "restart" | "partition";
  /** partition: how long, seconds. */
  seconds?: number;
  /** partition: the ports cut off. */
  ports?: number[];
  /** One line for the report: what exactly was done. */
  detail: string;
}

export interface FaultHandle {
  plan: FaultPlan;
  /** What the platform showed meanwhile (health probe failing, a replica promoted, a partition healed), epoch ms. */
  notes: Array<{
    atMs: number;
    what: string;
    /** The platform noticed the fault: counts for detection time. */ detects?: boolean;
  }>;
  /**
   * Where the platform's own recovery is part of the fault (a Redis replica must be promoted): when it happened
   * (epoch ms), or null while awaited. Undefined for faults without one.
   */
  platformRecoveredAt(): number | null | undefined;
  /** Undoes the fault and brings every component back, waiting for replicas to sync. Idempotent. */
  restore(): Promise<void>;
}

export interface TableCheck {
  table: string;
  rowsBefore: number;
  rowsAfter: number;
  checksumBefore: string;
  checksumAfter: string;
  ok: boolean;
}

export interface DatabaseRestoreResult {
  database: string;
  backupFile: string;
  backupBytes: number;
  backupSeconds: number;
  /** From the destruction to the restored data verified and every component healthy, seconds: the RTO measured. */
  rtoSeconds: number;
  restoreSeconds: number;
  tables: TableCheck[];
}
