/**
 * What a drill asks of a target: the faults there are, resolving one to the component it hits, injecting it,
 * undoing it; and the database backup / destroy / restore drill. `local/faults.ts` and `local/backup.ts` implement
 * them locally, `kubernetes/drill.ts` on a cluster. The drill command's model adds its own policy (budgets,
 * windows) on top of these names.
 */

import { rng } from "../../../base/prng.ts";
import { UserError } from "../errors.ts";
import { TARGET_MESSAGES } from "./messages.ts";
import type { ServiceName, TargetKind } from "./target.ts";

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
  "pod-kill",
  "node-drain",
  "zone-loss",
] as const;
export type FaultName = (typeof FAULTS)[number];

/**
 * The faults each target can inject. On kubernetes the data tier is outside the cluster (managed services, or the
 * local target's processes on the embedded cluster), so its faults are the cluster's own: pods, nodes, zones and
 * NetworkPolicies; the *-instance faults are pod-kills of that service's stable pods there.
 */
export const TARGET_FAULTS: Readonly<Record<TargetKind, readonly FaultName[]>> = {
  local: FAULTS.slice(0, 8),
  kubernetes: [
    "pod-kill",
    "node-drain",
    "zone-loss",
    "partition",
    "gateway-instance",
    "message-instance",
    "user-center-instance",
    "random-instance",
  ],
};

/**
 * A fault (and its flags) the target can do, or one UserError line naming the fault or flag, the target and what is
 * allowed there. Checked before the target is opened, so nothing is touched.
 */
export function requireFaultOn(kind: TargetKind, spec: FaultSpec): void {
  const allowed = TARGET_FAULTS[kind];
  if (!allowed.includes(spec.fault)) throw new UserError(TARGET_MESSAGES.faultNotOnTarget(spec.fault, kind, allowed));
  if (kind === "local" && (spec.from !== undefined || spec.to !== undefined))
    throw new UserError(TARGET_MESSAGES.flagNotOnTarget(spec.from !== undefined ? "--from" : "--to", kind));
  if (kind === "kubernetes" && spec.fault === "partition" && spec.instance !== undefined)
    throw new UserError(TARGET_MESSAGES.flagNotOnTarget("--instance", kind));
}

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
  /** random-instance, pod-kill, zone-loss: the seed of the pick (printed, so a run can be repeated). */
  seed: number;
  /** pod-kill: the percent of the workload's pods to delete (1 to 100); undefined: one pod. */
  percent: number | undefined;
  /** pod-kill: the Deployment or StatefulSet whose pods are hit; undefined: gateway-stable. */
  workload: string | undefined;
  /** pod-kill: delete with gracePeriodSeconds 0 instead of the pod's own grace period. Default false. */
  force: boolean;
  /** zone-loss: the zone (topology.kubernetes.io/zone); undefined: a seeded pick of a zone holding platform pods. */
  zone: string | undefined;
  /** partition on kubernetes: the service cut off from `to`; undefined: gateway. */
  from: ServiceName | undefined;
  /** partition on kubernetes: the service that stops accepting `from`; undefined: message. */
  to: ServiceName | undefined;
}

/** A fault resolved against the running platform, before anything is touched. */
export interface FaultPlan {
  fault: FaultName;
  /** The component hit, e.g. "redis-2", "kafka-1", "gateway-2", "mariadb". */
  component: string;
  /**
   * kill: SIGKILL (a pod deleted with grace period 0); terminate: SIGTERM (graceful, a pod deleted with its grace
   * period); restart: stop, then start; partition: drop its traffic; drain: cordon a node and evict its pods;
   * zone-loss: cordon a zone's nodes and delete their pods.
   */
  action: "kill" | "terminate" | "restart" | "partition" | "drain" | "zone-loss";
  /** partition: how long, seconds. */
  seconds?: number;
  /** partition: the ports cut off. */
  ports?: number[];
  /** One line for the report: what exactly was done. */
  detail: string;
  /** Set when the target picked the victim with the spec's seed (`--seed N` picks it again). */
  seed?: number;
  /** Why the message probe cannot run against this platform (its edge is out of reach); undefined: it can. */
  probeUnavailable?: string;
}

/** The Ready count of one workload the fault touched (kubernetes), for the report. */
export interface WorkloadCount {
  /** e.g. "Deployment/gateway-stable". */
  workload: string;
  /** The service (app.kubernetes.io/name), e.g. "gateway". */
  service: string;
  /** spec.replicas. */
  desired: number;
  /** The fewest Ready replicas seen from the injection to the end of the restore. */
  minReady: number;
  /** Ready replicas once the restore was over. */
  readyAtEnd: number;
}

/** zone-loss: what each service kept of its Ready replicas while its zone was gone. */
export interface ZoneSpread {
  zone: string;
  rule: "kept >= 2/3 of Ready replicas";
  /** Every service kept at least 2/3 of its desired replicas Ready. */
  kept: boolean;
  services: Array<{ service: string; desired: number; minReady: number; fraction: number }>;
}

/** What a kubernetes fault found besides the probe: workload counts, blocked evictions, zone spread, enforcement. */
export interface FaultFindings {
  workloads: WorkloadCount[];
  /** node-drain: pods evicted, and evictions a PodDisruptionBudget still refused at the bound (429). */
  evictions?: { evicted: string[]; blocked: Array<{ pod: string; attempts: number }>; skipped: string[] };
  /** zone-loss: pods deleted (a lost zone honours no PodDisruptionBudget). */
  deleted?: string[];
  zoneSpread?: ZoneSpread;
  /** partition: the NetworkPolicy, and whether the cluster enforces it (never claimed without seeing it). */
  networkPolicy?: { namespace: string; name: string; enforced: "unknown"; note: string };
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
  /** Kubernetes: workload counts and what the fault's objects showed; complete once restore() resolved. */
  findings?(): FaultFindings;
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
