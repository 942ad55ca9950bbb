/**
 * The fault drill's report, as `report.json` and `--json` carry it: the same shape on every target; the kubernetes
 * fields (workloads, evictions, zone spread, NetworkPolicy) are empty or null on the local target.
 */
import type { FaultFindings, FaultName, WorkloadCount } from "../../targets/faults.ts";
import type { DrillPhase } from "./model.ts";

export type LoadResult = { scenario: string; exitCode: number; passed: boolean };

export interface DrillReport {
  id: string;
  fault: FaultName;
  component: string;
  action: string;
  detail: string;
  phase: DrillPhase;
  passed: boolean;
  reasons: string[];
  /** Why an Aborted drill stopped early: Ctrl-C (exit 130) or a guard (exit 1). */
  abortedBy: "interrupt" | "guard" | null;
  budgetSeconds: number;
  detectionSeconds: number | null;
  recoverySeconds: number | null;
  impact: boolean;
  sent: number;
  acknowledged: number;
  unacknowledged: number;
  delivered: number;
  lostAcknowledged: number;
  duplicated: number;
  seqMonotonic: boolean;
  seqGaps: number;
  seed: number | null;
  observedSeconds: number;
  /** Probes that failed after the observation, while the restore restarted what the fault had stopped. */
  failedProbesDuringRestore: number;
  platform: Array<{ atSeconds: number; what: string }>;
  /** Whether the message probe ran, and why not when it did not (an edge the drill cannot reach). */
  probe: { ran: boolean; why: string | null };
  /** Kubernetes: each affected workload's desired, fewest Ready seen and Ready at the end; empty on local. */
  workloads: WorkloadCount[];
  /** node-drain: evicted, blocked by a PodDisruptionBudget (429 until the bound), skipped (DaemonSet, mirror). */
  evictions: FaultFindings["evictions"] | null;
  /** zone-loss: the pods deleted, and whether every service kept >= 2/3 of its Ready replicas. */
  deletedPods: string[] | null;
  zoneSpread: FaultFindings["zoneSpread"] | null;
  /** partition on kubernetes: the NetworkPolicy and its enforcement (unknown: the CNI's to enforce). */
  networkPolicy: FaultFindings["networkPolicy"] | null;
  load: LoadResult | null;
  files: { dir: string; report: string; timeline: string };
}
