/**
 * The state of a bandwidth upgrade: its steps (data), what each step recorded, the verifications, and the state
 * file it is persisted in after every step (`<stateDir>/bandwidth/upgrades/<id>.json`).
 */
import type { BandwidthTarget, ConfigSnapshot, GatewayCap } from "../../targets/target.ts";
import type { BandwidthPlan } from "./plan-file.ts";
import { readUpgradeRecord, saveUpgradeRecord, upgradeIds } from "./store.ts";

export type UpgradePhase = "Running" | "Succeeded" | "RolledBack" | "Failed";

export type UpgradeStep =
  | { backup: Record<string, never> }
  | { shiftTraffic: { reason: string } }
  | { setCap: { instance: string; bytesPerSecond: number } }
  | { verify: { stage: "canary" | "full"; instances: string[] } }
  | { watch: { seconds: number } };

export interface Measurement {
  instance: string;
  /** Peak egress / cap during the verification load. */
  utilisation: number | null;
  /** The instance's own delivery latency p99 over the load, in ms (null: no deliveries through it). */
  deliveryP99Ms: number | null;
}

export interface Verification {
  stage: "canary" | "full" | "watch";
  passed: boolean;
  reasons: string[];
  k6: {
    passed: boolean;
    lost: number;
    requestErrors: number;
    deliveryP99Ms: number | null;
    sent: number;
    received: number;
    failedThresholds: string[];
    summary: string;
  } | null;
  measurements: Measurement[];
}

export interface StepRecord {
  step: UpgradeStep;
  outcome: "Succeeded" | "Failed";
  startedAt: string;
  endedAt: string;
  detail: string;
}

export interface UpgradeState {
  id: string;
  plan: BandwidthPlan;
  planFile: string;
  stack: string;
  phase: UpgradePhase;
  pid: number;
  startedAt: string;
  updatedAt: string;
  endedAt: string | null;
  steps: UpgradeStep[];
  /** Index of the next step to run. */
  next: number;
  history: StepRecord[];
  backup: ConfigSnapshot | null;
  verifications: Verification[];
  rollback: { reason: string; at: string; restored: GatewayCap[] } | null;
  reason: string | null;
  files: { dir: string; utilisationChart: string | null; latencyChart: string | null };
}

export const stepName = (s: UpgradeStep): string =>
  "backup" in s
    ? "backup"
    : "shiftTraffic" in s
      ? "shift traffic"
      : "setCap" in s
        ? `adjust ${s.setCap.instance} to ${s.setCap.bytesPerSecond} B/s`
        : "verify" in s
          ? `verify (${s.verify.stage}: ${s.verify.instances.join(", ")})`
          : `watch ${s.watch.seconds} s`;

/** The steps of a vertical upgrade: the first gateway is the canary; the others follow once it verifies. */
export function verticalSteps(plan: BandwidthPlan, watchSeconds: number): UpgradeStep[] {
  if (plan.change.option !== "vertical") return [];
  const g = plan.change.gateways;
  const [canary, ...rest] = g;
  if (canary === undefined) return [];
  return [
    { backup: {} },
    // Caps change in place on the instance that holds the connections: nothing has to move, so no client reconnects.
    { shiftTraffic: { reason: "not needed: egress caps change in place without moving connections" } },
    { setCap: { instance: canary.instance, bytesPerSecond: canary.toBytesPerSecond } },
    { verify: { stage: "canary", instances: [canary.instance] } },
    ...rest.map((x): UpgradeStep => ({ setCap: { instance: x.instance, bytesPerSecond: x.toBytesPerSecond } })),
    { verify: { stage: "full", instances: g.map((x) => x.instance) } },
    { watch: { seconds: watchSeconds } },
  ];
}

/** Rewrites the upgrade's state file (atomically: an interrupted upgrade leaves the last whole state). */
export function saveUpgrade(target: BandwidthTarget, st: UpgradeState): void {
  st.updatedAt = new Date().toISOString();
  saveUpgradeRecord(target.stateDir, st.id, st);
}

export function loadUpgrade(target: BandwidthTarget, id: string): UpgradeState {
  const st = readUpgradeRecord(target.stateDir, id);
  if (st === undefined) throw new Error(`no state file for bandwidth upgrade ${id}`);
  return st as UpgradeState;
}

/** The most recent upgrade on this target, if any. */
export function latestUpgrade(target: BandwidthTarget): UpgradeState | null {
  const ids = upgradeIds(target.stateDir);
  const id = ids[ids.length - 1];
  return id === undefined ? null : loadUpgrade(target, id);
}
