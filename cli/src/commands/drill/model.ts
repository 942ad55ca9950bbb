/**
 * The pure part of a failover drill: the faults' recovery budgets (the faults themselves are the targets', in
 * targets/faults.ts), the phases of the persisted state machine, and how detection, recovery and the verdict
 * follow from the probe's samples. No I/O here, so every rule that decides pass or fail is unit-tested.
 */
import { parseDuration as parseDurationIn } from "../../../../base/duration.ts";
import { K8S_NAME } from "../flags.ts";
import { UserError } from "../../errors.ts";
import { FAULTS, type FaultName, type FaultSpec as TargetFaultSpec } from "../../targets/faults.ts";
import { SERVICE_NAMES, type ServiceName, type TargetKind } from "../../targets/target.ts";

// The fault names belong to the targets (they inject them); the drill adds budgets, windows and the verdict.
export { FAULTS, type FaultName, type KafkaKillMode } from "../../targets/faults.ts";

/**
 * Recovery budgets in seconds: the numbers where it states one, the seed's 30 s ("recovery from a killed
 * instance under 30 s") elsewhere. Overridden per run with --budget.
 */
export const DEFAULT_BUDGETS: Readonly<Record<FaultName, number>> = {
  "redis-primary": 10,
  "kafka-broker": 15,
  db: 30,
  "gateway-instance": 10,
  "message-instance": 5,
  "user-center-instance": 30,
  "random-instance": 30,
  partition: 30,
  "pod-kill": 60,
  "node-drain": 120,
  "zone-loss": 120,
};

/**
 * On kubernetes a killed instance has recovered once its workload is back at its desired Ready count: the
 * replacement pod scheduled, started and Ready, which takes longer than routing around a dead process. Budgets of
 * the faults both targets have, there; the others keep DEFAULT_BUDGETS. A node-drain or zone-loss whose pods cannot
 * be rescheduled elsewhere (a zone spread constraint, one node per zone) recovers only after the restore uncordons.
 */
export const KUBERNETES_BUDGETS: Readonly<Partial<Record<FaultName, number>>> = {
  "gateway-instance": 60,
  "message-instance": 60,
  "user-center-instance": 60,
  "random-instance": 60,
};

export function defaultBudget(fault: FaultName, target: TargetKind): number {
  return (target === "kubernetes" ? KUBERNETES_BUDGETS[fault] : undefined) ?? DEFAULT_BUDGETS[fault];
}

export const DRILL_PHASES = [
  "Pending",
  "SteadyState",
  "Injecting",
  "Observing",
  "Restoring",
  "Verifying",
  "Passed",
  "Failed",
  "Aborted",
] as const;
export type DrillPhase = (typeof DRILL_PHASES)[number];
export const TERMINAL_PHASES: readonly DrillPhase[] = ["Passed", "Failed", "Aborted"];

/** Defaults, resolved once. */
export const DRILL_DEFAULTS = {
  /** Observation window after the injection, seconds. */
  durationSeconds: 30,
  /** How long a partition lasts, seconds. */
  partitionSeconds: 10,
  /** Probe senders (each with its own receiver). */
  probeClients: 4,
  /** Time between two sends of one sender, ms. */
  probeIntervalMs: 200,
  /** A send not acknowledged within this is a failed probe (it is still retried until acknowledged). */
  probeTimeoutMs: 2000,
  /** How long verification waits for every acknowledged message to reach its receiver, seconds. */
  deliveryTimeoutSeconds: 60,
} as const;

/** A parsed, validated drill request: what the target needs to inject the fault, plus the drill's own limits. */
export interface FaultSpec extends TargetFaultSpec {
  budgetSeconds: number;
  durationSeconds: number;
}

/** "30s", "1.5m", "500ms" in seconds; a UserError naming `field` otherwise. */
export function parseDuration(field: string, value: string): number {
  const n = parseDurationIn(value, { units: ["ms", "s", "m"], to: "s" }) ?? NaN;
  if (!(n > 0))
    throw new UserError(`${field}: got ${JSON.stringify(value)}; allowed: a number above 0 with ms, s or m, e.g. 30s`);
  return n;
}

export interface FaultRequest {
  fault: string;
  mode?: string;
  instance?: string;
  duration?: string;
  partitionSeconds?: string;
  seed?: string;
  budget?: string;
  /** pod-kill */
  percent?: string;
  workload?: string;
  force?: boolean;
  /** zone-loss */
  zone?: string;
  /** partition on kubernetes */
  from?: string;
  to?: string;
}

/** The faults that pick their victim with --seed (when not told which). */
const SEEDED: readonly FaultName[] = ["random-instance", "pod-kill", "zone-loss"];
/** A Kubernetes object name (RFC 1123 subdomain), for pods, nodes and workloads. */

/** A flag only some faults take: one line naming the flag and the faults that take it. */
function onlyWith(flag: string, faults: readonly FaultName[], got: FaultName): UserError {
  return new UserError(
    `${flag}: only ${faults.join(", ")} take${faults.length === 1 ? "s" : ""} it (got it with ${got})`,
  );
}

function parseService(flag: string, v: string | undefined): ServiceName | undefined {
  if (v === undefined) return undefined;
  const s = SERVICE_NAMES.find((x) => x === v);
  if (s === undefined) throw new UserError(`${flag}: got ${JSON.stringify(v)}; allowed: ${SERVICE_NAMES.join(", ")}`);
  return s;
}

/** pod-kill, node-drain and zone-loss's flags; the rest is parseFault's. */
function parseClusterFlags(
  fault: FaultName,
  req: FaultRequest,
): Pick<TargetFaultSpec, "percent" | "workload" | "force" | "zone" | "from" | "to"> {
  if (req.percent !== undefined && fault !== "pod-kill") throw onlyWith("--percent", ["pod-kill"], fault);
  if (req.workload !== undefined && fault !== "pod-kill") throw onlyWith("--workload", ["pod-kill"], fault);
  if (req.force === true && fault !== "pod-kill") throw onlyWith("--force", ["pod-kill"], fault);
  if (req.zone !== undefined && fault !== "zone-loss") throw onlyWith("--zone", ["zone-loss"], fault);
  for (const [flag, v] of [
    ["--from", req.from],
    ["--to", req.to],
  ] as const)
    if (v !== undefined && fault !== "partition") throw onlyWith(flag, ["partition"], fault);
  let percent: number | undefined;
  if (req.percent !== undefined) {
    percent = Number(req.percent);
    if (!/^\d+$/.test(req.percent) || percent < 1 || percent > 100)
      throw new UserError(`--percent: got ${JSON.stringify(req.percent)}; allowed: a whole number from 1 to 100`);
  }
  if (req.workload !== undefined && !K8S_NAME.test(req.workload))
    throw new UserError(
      `--workload: got ${JSON.stringify(req.workload)}; allowed: a Deployment or StatefulSet name, e.g. gateway-stable`,
    );
  if (req.workload !== undefined && req.instance !== undefined)
    throw new UserError("--instance: names one pod, --workload picks among a workload's pods; allowed: one of them");
  if (req.percent !== undefined && req.instance !== undefined)
    throw new UserError(
      "--percent: picks a share of --workload's pods, --instance names one pod; allowed: one of them",
    );
  if (req.zone !== undefined && !/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/.test(req.zone))
    throw new UserError(
      `--zone: got ${JSON.stringify(req.zone)}; allowed: a topology.kubernetes.io/zone value, e.g. zone-b`,
    );
  const from = parseService("--from", req.from);
  const to = parseService("--to", req.to);
  if ((from ?? "gateway") === (to ?? "message"))
    throw new UserError(`--to: got ${JSON.stringify(to ?? "message")}, the same as --from; allowed: another service`);
  return { percent, workload: req.workload, force: req.force === true, zone: req.zone, from, to };
}

/** A validated request; `target` decides the default budget (KUBERNETES_BUDGETS). */
export function parseFault(req: FaultRequest, target: TargetKind = "local"): FaultSpec {
  const fault = FAULTS.find((f) => f === req.fault);
  if (fault === undefined) throw new UserError(`unknown fault "${req.fault}": allowed are ${FAULTS.join(", ")}`);
  const mode = req.mode ?? "hard";
  if (mode !== "hard" && mode !== "graceful")
    throw new UserError(`--mode: got ${JSON.stringify(mode)}; allowed: hard, graceful`);
  if (req.mode !== undefined && fault !== "kafka-broker")
    throw new UserError(`--mode: only the kafka-broker fault has a mode (got it with ${fault})`);
  if (req.partitionSeconds !== undefined && fault !== "partition")
    throw new UserError(`--partition-seconds: only the partition fault lasts a set time (got it with ${fault})`);
  const cluster = parseClusterFlags(fault, req);
  if (req.instance !== undefined && fault === "zone-loss")
    throw new UserError("--instance: zone-loss takes a whole zone; allowed: --zone, e.g. --zone zone-b");
  if (req.instance !== undefined && (fault === "pod-kill" || fault === "node-drain")) {
    if (!K8S_NAME.test(req.instance))
      throw new UserError(
        `--instance: got ${JSON.stringify(req.instance)}; allowed: a ${fault === "pod-kill" ? "pod" : "node"} name ` +
          `(lower-case letters, digits, '-' and '.'), e.g. ${fault === "pod-kill" ? "gateway-stable-6d9c7b-x2k8p" : "kwok-zone-a"}`,
      );
  } else if (
    req.instance !== undefined &&
    !/^[a-z][a-z0-9-]*-\d+$|^mariadb$/.test(req.instance) &&
    !(/-instance$/.test(fault) && K8S_NAME.test(req.instance) && /-[a-z0-9]{5}$/.test(req.instance))
  ) {
    throw new UserError(
      `--instance: got ${JSON.stringify(req.instance)}; allowed: a component id such as gateway-2, message-1, ` +
        "redis-3, kafka-1 (on kubernetes: a pod name)",
    );
  }
  if (req.seed !== undefined && !SEEDED.includes(fault))
    throw new UserError(`--seed: only ${SEEDED.join(", ")} pick with a seed (got it with ${fault})`);
  if (
    req.seed !== undefined &&
    ((fault === "pod-kill" && req.instance !== undefined) || (fault === "zone-loss" && req.zone !== undefined))
  )
    throw new UserError(
      `--seed: ${fault} was told what to hit (${fault === "zone-loss" ? "--zone" : "--instance"}), so there is nothing to pick`,
    );
  if (req.instance !== undefined && fault === "random-instance")
    throw new UserError("--instance: random-instance picks the instance itself (use --seed to repeat a pick)");
  let seed = Math.floor(Math.random() * 2 ** 31);
  if (req.seed !== undefined) {
    seed = Number(req.seed);
    if (!Number.isInteger(seed) || seed < 0)
      throw new UserError(`--seed: got ${JSON.stringify(req.seed)}; allowed: a whole number, 0 or above`);
  }
  const budgetSeconds = req.budget === undefined ? defaultBudget(fault, target) : parseDuration("--budget", req.budget);
  const partitionSeconds =
    req.partitionSeconds === undefined
      ? DRILL_DEFAULTS.partitionSeconds
      : parseDuration("--partition-seconds", req.partitionSeconds);
  const durationSeconds =
    req.duration === undefined ? DRILL_DEFAULTS.durationSeconds : parseDuration("--duration", req.duration);
  // The window must cover the fault itself and the budget after it, or "not recovered" would be the window's fault.
  const minWindow = fault === "partition" ? partitionSeconds + 2 : 2;
  if (durationSeconds < minWindow)
    throw new UserError(
      `--duration: got ${req.duration ?? ""}; allowed: at least ${minWindow} s for ${fault}${fault === "partition" ? " (the partition plus 2 s)" : ""}`,
    );
  return {
    fault,
    kafkaMode: mode,
    instance: req.instance,
    partitionSeconds,
    seed,
    budgetSeconds,
    durationSeconds,
    ...cluster,
  };
}

/** One probe attempt: a send (or an account-API call), by start time. */
export interface ProbeSample {
  stream: string;
  kind: "send" | "account";
  /** ms since the drill's t0. */
  startMs: number;
  /** ms since t0 when it finished (acknowledged or given up); null while in flight. */
  endMs: number | null;
  /** Finished well: answered within the probe timeout at the first attempt. */
  ok: boolean;
  /** Sends: how many tries the client needed (it retries with the same client message id). */
  attempts?: number;
  /** Why it was given up, when it was. */
  error?: string;
}

/** A connection event of a probe client (a receiver or a sender), ms since t0. */
export interface ConnectionEvent {
  client: string;
  atMs: number;
  kind: "open" | "close";
}

export interface RecoveryFigures {
  /** Injection to the first sign of the fault (a failed probe, a dropped connection, or the platform noticing), s. */
  detectionSeconds: number | null;
  /** Injection to the moment every stream succeeds again and every client is connected, s; null: never within the window. */
  recoverySeconds: number | null;
  /** Whether any probe failed or any connection dropped after the injection. */
  impact: boolean;
}

/**
 * Detection and recovery from the samples.
 * - Detection: the earliest of the first failed probe's end, the first dropped connection, and `platformDetectedMs`.
 * - Recovery, per stream: the end of the first successful probe started after that stream's last failed probe
 *   (probes that keep failing now and then, as round-robin onto a dead instance does, have not recovered);
 *   per client: its last re-open after its last close. The drill recovers when the slowest has.
 * Faults that no probe noticed recover at once (0 s): the platform absorbed them. Where the platform's own
 * recovery is part of the fault (a Redis replica must take over), the drill has not recovered before it has.
 */
export function computeRecovery(
  samples: readonly ProbeSample[],
  events: readonly ConnectionEvent[],
  injectedMs: number,
  platformDetectedMs: number | null,
  /** When the platform's own recovery (a replica promoted) is part of the fault: its time, or null if not seen yet. */
  platformRecoveredMs?: number | null,
): RecoveryFigures {
  const after = samples.filter((s) => s.startMs >= injectedMs || (s.endMs ?? Infinity) >= injectedMs);
  const failed = after.filter((s) => !s.ok);
  const closes = events.filter((e) => e.kind === "close" && e.atMs >= injectedMs);
  const signs = [
    ...failed.map((s) => s.endMs ?? Infinity),
    ...closes.map((e) => e.atMs),
    ...(platformDetectedMs !== null ? [platformDetectedMs] : []),
  ];
  const first = Math.min(...signs);
  const detectionSeconds = Number.isFinite(first) ? Math.max(0, first - injectedMs) / 1000 : null;
  const impact = failed.length > 0 || closes.length > 0;
  if (platformRecoveredMs === null) return { detectionSeconds, recoverySeconds: null, impact };
  let recoveredAt = Math.max(injectedMs, platformRecoveredMs ?? injectedMs);
  if (!impact) return { detectionSeconds, recoverySeconds: (recoveredAt - injectedMs) / 1000, impact };
  for (const stream of new Set(failed.map((s) => s.stream))) {
    const mine = after.filter((s) => s.stream === stream);
    const lastFailStart = Math.max(...mine.filter((s) => !s.ok).map((s) => s.startMs));
    const next = mine
      .filter((s) => s.ok && s.startMs > lastFailStart && s.endMs !== null)
      .sort((a, b) => (a.endMs ?? 0) - (b.endMs ?? 0))[0];
    if (next === undefined) return { detectionSeconds, recoverySeconds: null, impact };
    recoveredAt = Math.max(recoveredAt, next.endMs ?? 0);
  }
  for (const client of new Set(closes.map((e) => e.client))) {
    const mine = events.filter((e) => e.client === client && e.atMs >= injectedMs);
    const lastClose = Math.max(...mine.filter((e) => e.kind === "close").map((e) => e.atMs));
    const reopen = mine.find((e) => e.kind === "open" && e.atMs >= lastClose);
    if (reopen === undefined) return { detectionSeconds, recoverySeconds: null, impact };
    recoveredAt = Math.max(recoveredAt, reopen.atMs);
  }
  return { detectionSeconds, recoverySeconds: (recoveredAt - injectedMs) / 1000, impact };
}

export interface MessageFigures {
  sent: number;
  acknowledged: number;
  delivered: number;
  /** Acknowledged (stored and on Kafka) but never delivered: the loss that must be 0. */
  lostAcknowledged: number;
  /** Delivered more than once by the platform (same message id twice in a receiver's stream). */
  duplicated: number;
  /** Every receiver's inbox seq only ever went up. */
  seqMonotonic: boolean;
}

export interface Verdict {
  passed: boolean;
  /** Why it failed, one line each; empty when it passed. */
  reasons: string[];
}

export function verdict(
  fault: FaultName,
  budgetSeconds: number,
  r: RecoveryFigures,
  m: MessageFigures,
  platformHealthyAfter: boolean,
): Verdict {
  const reasons: string[] = [];
  if (r.recoverySeconds === null) reasons.push(`${fault}: no recovery within the observation window`);
  else if (r.recoverySeconds > budgetSeconds)
    reasons.push(`${fault}: recovery took ${r.recoverySeconds.toFixed(1)} s, over the ${budgetSeconds} s budget`);
  if (m.lostAcknowledged > 0) reasons.push(`${m.lostAcknowledged} acknowledged message(s) lost`);
  if (m.duplicated > 0) reasons.push(`${m.duplicated} message(s) delivered twice`);
  if (!m.seqMonotonic) reasons.push("a receiver's seq went backwards");
  if (!platformHealthyAfter) reasons.push("the platform did not return to a healthy steady state after the restore");
  return { passed: reasons.length === 0, reasons };
}

/** The picture's data: per-second probe success rate and p99-ish latency, with the markers. */
export function timelineSeries(samples: readonly ProbeSample[]): {
  success: Array<[number, number]>;
  latency: Array<[number, number]>;
} {
  const buckets = new Map<number, ProbeSample[]>();
  for (const s of samples) {
    const sec = Math.floor(s.startMs / 1000);
    buckets.set(sec, [...(buckets.get(sec) ?? []), s]);
  }
  const success: Array<[number, number]> = [];
  const latency: Array<[number, number]> = [];
  for (const sec of [...buckets.keys()].sort((a, b) => a - b)) {
    const b = buckets.get(sec) ?? [];
    success.push([sec, (100 * b.filter((s) => s.ok).length) / b.length]);
    const lat = b.map((s) => ((s.endMs ?? s.startMs) - s.startMs) / 1000).sort((x, y) => x - y);
    latency.push([sec, lat[lat.length - 1] ?? 0]);
  }
  return { success, latency };
}
