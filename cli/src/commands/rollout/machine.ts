/**
 * The rollout's state and the pure rules that move it: how one measurement is judged, when an analysis has
 * succeeded, failed or become inconclusive (Argo Rollouts' failureLimit, consecutiveErrorLimit,
 * inconclusiveLimit), and what an operator's intent (promote, pause, abort) does in each phase. The controller
 * (controller.ts) does the I/O around these; the unit tests pin them.
 */
import { parseCondition } from "./condition.ts";
import type { Metric, Step, Strategy } from "./strategy.ts";

export type Phase = "Pending" | "Progressing" | "Paused" | "Promoted" | "Aborted";
export const ACTIVE_PHASES: readonly Phase[] = ["Pending", "Progressing", "Paused"];

export type MeasurementPhase = "Successful" | "Failed" | "Inconclusive" | "Error";

export interface Measurement {
  metric: string;
  /** Index of the analysis step it belongs to. */
  step: number;
  at: string;
  phase: MeasurementPhase;
  /** The canary's value (NaN when there was none). */
  value: number | null;
  stable: number | null;
  message: string;
}

/** Weights and key metrics over time: the rollout's picture. */
export interface TimelinePoint {
  at: string;
  canaryWeight: number;
  metrics: Record<string, number>;
}

export type TargetKind = "local" | "kubernetes";

export interface RolloutState {
  apiVersion: 1;
  id: string;
  service: string;
  target: TargetKind;
  stack: string;
  version: string;
  stableVersion: string;
  /** Extra environment of the canary instances (a setting the new version is started with). */
  env: Record<string, string>;
  strategy: Strategy;
  phase: Phase;
  /** Index of the current step; equal to steps.length once every step is done. */
  step: number;
  canaryWeight: number;
  /** Why the rollout is paused or aborted. */
  reason?: string;
  /** When the current timed pause started. */
  pauseStartedAt?: string;
  /** Why it is paused: a pause step, an operator, or an inconclusive analysis. */
  pausedBy?: "step" | "operator" | "inconclusive";
  /**
   * Work that must finish even if imctl is killed half-way: draining the canary after an abort (the phase is
   * already Aborted), or replacing the stable instances during promotion (the phase becomes Promoted after).
   */
  pendingAction?: "abort" | "promote";
  measurements: Measurement[];
  timeline: TimelinePoint[];
  startedAt: string;
  updatedAt: string;
  finishedAt?: string;
  /** Who started it ($USER/pid). */
  startedBy: string;
}

export type AnalysisVerdict = "Running" | "Successful" | "Failed" | "Inconclusive" | "Error";

/** Judges one value. A NaN or a missing stable value (no data) is an Error, never a pass. */
export function judge(
  metric: Pick<Metric, "successCondition" | "failureCondition">,
  value: number,
  stable?: number,
): { phase: MeasurementPhase; message: string } {
  const success = parseCondition(metric.successCondition);
  const failure = metric.failureCondition === undefined ? null : parseCondition(metric.failureCondition);
  const shown = `result ${fmt(value)}${stable === undefined ? "" : `, stable ${fmt(stable)}`}`;
  try {
    if (failure?.evaluate({ result: value, stable }))
      return { phase: "Failed", message: `${shown}: failureCondition "${failure.text}" holds` };
    if (success.evaluate({ result: value, stable }))
      return { phase: "Successful", message: `${shown}: ${success.text}` };
    if (failure)
      return { phase: "Inconclusive", message: `${shown}: neither "${success.text}" nor "${failure.text}" holds` };
    return { phase: "Failed", message: `${shown}: successCondition "${success.text}" does not hold` };
  } catch (err) {
    return { phase: "Error", message: `${shown}: ${(err as Error).message}` };
  }
}

const fmt = (v: number | undefined) =>
  v === undefined || !Number.isFinite(v) ? "no data" : Number(v.toPrecision(4)).toString();

/**
 * The verdict of one metric over its measurements (in order). As in Argo Rollouts: more than `failureLimit`
 * failures fail it; more than `consecutiveErrorLimit` errors in a row make it an Error (which also aborts);
 * more than `inconclusiveLimit` inconclusive results pause the rollout; it succeeds once `count` measurements
 * (errors not counted) were taken without crossing a limit.
 */
export function metricVerdict(
  metric: Pick<Metric, "count" | "failureLimit" | "consecutiveErrorLimit" | "inconclusiveLimit">,
  ms: Measurement[],
): AnalysisVerdict {
  let failed = 0;
  let inconclusive = 0;
  let errorsInRow = 0;
  let counted = 0;
  for (const m of ms) {
    if (m.phase === "Error") {
      errorsInRow++;
      if (errorsInRow > metric.consecutiveErrorLimit) return "Error";
      continue;
    }
    errorsInRow = 0;
    counted++;
    if (m.phase === "Failed" && ++failed > metric.failureLimit) return "Failed";
    if (m.phase === "Inconclusive" && ++inconclusive > metric.inconclusiveLimit) return "Inconclusive";
  }
  return counted >= metric.count ? "Successful" : "Running";
}

/** The verdict of an analysis step: the worst of its metrics (Failed/Error before Inconclusive before Running). */
export function analysisVerdict(
  metrics: Metric[],
  ms: Measurement[],
  step: number,
): { verdict: AnalysisVerdict; metric?: string } {
  const per = metrics.map((m) => ({
    metric: m.name,
    verdict: metricVerdict(
      m,
      ms.filter((x) => x.step === step && x.metric === m.name),
    ),
  }));
  for (const v of ["Failed", "Error", "Inconclusive", "Running"] as const) {
    const hit = per.find((p) => p.verdict === v);
    if (hit) return { verdict: v, metric: hit.metric };
  }
  return { verdict: "Successful" };
}

/** Why an analysis ended the rollout, in words for the audit log and `status`. */
export function abortReason(ms: Measurement[], step: number, metric: string, verdict: "Failed" | "Error"): string {
  const last = ms.filter((m) => m.step === step && m.metric === metric && m.phase === verdict).at(-1);
  return verdict === "Failed"
    ? `analysis of step ${step + 1} failed: ${metric}: ${last?.message ?? "failed"}`
    : `analysis of step ${step + 1} errored: ${metric}: ${last?.message ?? "error"} (more than consecutiveErrorLimit errors in a row)`;
}

export type Intent = { action: "promote"; full: boolean } | { action: "pause" } | { action: "abort"; reason?: string };

/** What the controller does with an intent, or why the intent is refused (it then changes nothing). */
export type IntentEffect =
  | { kind: "resume" }
  | { kind: "skip-step" }
  | { kind: "promote-full" }
  | { kind: "pause" }
  | { kind: "abort"; reason: string }
  | { kind: "refuse"; why: string };

export function intentEffect(
  state: Pick<RolloutState, "phase" | "step" | "strategy" | "pausedBy">,
  intent: Intent,
): IntentEffect {
  if (!ACTIVE_PHASES.includes(state.phase)) return { kind: "refuse", why: `the rollout is ${state.phase}` };
  switch (intent.action) {
    case "abort":
      return { kind: "abort", reason: intent.reason ?? "aborted by an operator" };
    case "pause":
      return state.phase === "Paused" ? { kind: "refuse", why: "the rollout is already Paused" } : { kind: "pause" };
    case "promote":
      if (intent.full) return { kind: "promote-full" };
      if (state.phase === "Paused") {
        // A pause step or an inconclusive analysis is stepped over; an operator's pause is lifted.
        return state.pausedBy === "operator" ? { kind: "resume" } : { kind: "skip-step" };
      }
      return currentStep(state) !== undefined && "analysis" in (currentStep(state) as Step)
        ? { kind: "skip-step" }
        : {
            kind: "refuse",
            why: "nothing to promote past: the rollout is Progressing (use --full to go to 100 % now)",
          };
  }
}

export function currentStep(state: Pick<RolloutState, "step" | "strategy">): Step | undefined {
  return state.strategy.steps[state.step];
}

/** The weight after step `index` has run: the last setWeight up to it. */
export function weightAfter(steps: Step[], index: number): number {
  let w = 0;
  for (const st of steps.slice(0, index + 1)) if ("setWeight" in st) w = st.setWeight;
  return w;
}
