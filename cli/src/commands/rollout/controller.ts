/**
 * The rollout controller: the loop that owns a rollout's transitions. It runs in the `imctl rollout start`
 * (or `resume`) process, holds the target's workflow lock and the service's controller lock, persists the state
 * after every change, picks up the operators' intent (promote, pause, abort written by other imctl processes)
 * and records every transition in the audit log. Killed half-way, it is resumed from the persisted state: every
 * step it repeats is idempotent.
 */
import { withLock } from "../../lib/lock.ts";
import type { CanaryTrack, RolloutTarget, ServiceName } from "../../targets/target.ts";
import { AnalysisRun, type MeasureDeps } from "./analysis.ts";
import { abortReason, ACTIVE_PHASES, intentEffect, type Measurement, type RolloutState } from "./machine.ts";
import { archiveRollout, audit, controllerLockFile, saveRollout, takeIntent, who } from "./store.ts";
import { describeStep, type Step } from "./strategy.ts";
import { sleep } from "../../../../base/sleep.ts";

/** What a rollout needs of a target (the kubernetes target implements just this). */
export type { RolloutTarget };

export interface ControllerOptions {
  progress: (line: string) => void;
  loadtest: MeasureDeps["loadtest"];
  /** How often intents and verdicts are checked. Default 250 ms. */
  tickMs?: number;
  /** Called after every saved change (the chart is redrawn from it). */
  onChange?: (s: RolloutState) => void;
}

/** What the controller's loop does after one pass. */
type Tick = "next" | "wait" | "done";

/** Why an operator's promote set the rollout going again, for the audit log. */
const PROMOTED_BECAUSE: Record<"resume" | "skip-step" | "promote-full", string> = {
  "promote-full": "promoted to 100 % by an operator (--full)",
  "skip-step": "promoted past the current step by an operator",
  resume: "resumed by an operator",
};

/** Runs (or resumes) the rollout until it is Promoted or Aborted. */
export async function runController(t: RolloutTarget, s: RolloutState, opts: ControllerOptions): Promise<RolloutState> {
  const command = `imctl rollout ${s.phase === "Pending" ? "start" : "resume"} ${s.service}`;
  return t.withLock(command, () =>
    withLock(controllerLockFile(t.stateDir, s.service), command, () => new Controller(t, s, opts).run()),
  );
}

/** Aborts a rollout whose controller is gone (imctl was killed): the caller holds both locks. */
export async function abortDirectly(
  t: RolloutTarget,
  s: RolloutState,
  reason: string,
  opts: ControllerOptions,
): Promise<RolloutState> {
  const command = `imctl rollout abort ${s.service}`;
  return t.withLock(command, () =>
    withLock(controllerLockFile(t.stateDir, s.service), command, async () => {
      const c = new Controller(t, s, opts);
      await c.abort(reason, who());
      return s;
    }),
  );
}

class Controller {
  private readonly track: CanaryTrack;
  private readonly service: ServiceName;
  private readonly t0 = Date.now();

  constructor(
    private readonly t: RolloutTarget,
    private readonly s: RolloutState,
    private readonly o: ControllerOptions,
  ) {
    this.track = t.canary();
    this.service = s.service as ServiceName;
  }

  private say(line: string): void {
    this.o.progress(`[${((Date.now() - this.t0) / 1000).toFixed(1).padStart(6)}s] ${this.s.service}: ${line}`);
  }

  private save(): void {
    saveRollout(this.t.stateDir, this.s);
    this.o.onChange?.(this.s);
  }

  private record(what: string, why: string, by?: string): void {
    this.save();
    audit(this.t.stateDir, this.s, what, why, by);
    this.say(`${what}${why ? `: ${why}` : ""}`);
  }

  private point(metrics: Record<string, number> = {}): void {
    this.s.timeline.push({ at: new Date().toISOString(), canaryWeight: this.s.canaryWeight, metrics });
  }

  async run(): Promise<RolloutState> {
    const s = this.s;
    if (s.pendingAction === "abort") {
      await this.abort(s.reason ?? "aborted", who());
      return s;
    }
    if (!ACTIVE_PHASES.includes(s.phase)) return s;
    if (s.phase === "Pending") {
      this.say(
        `deploying the canary: ${s.version} x${s.strategy.canaryReplicas}${
          Object.keys(s.env).length
            ? ` (${Object.entries(s.env)
                .map(([k, v]) => `${k}=${v}`)
                .join(" ")})`
            : ""
        }`,
      );
    } else {
      this.say(
        `resuming at step ${s.step + 1}/${s.strategy.steps.length} (${s.phase}, canary weight ${s.canaryWeight} %)`,
      );
    }
    try {
      // Idempotent: on resume it restarts canary instances that died with the platform and restores the weight.
      await this.track.deploy(this.service, { version: s.version, env: s.env }, s.strategy.canaryReplicas, (l) =>
        this.say(l),
      );
      if (s.canaryWeight > 0) await this.track.setWeight(this.service, s.canaryWeight);
    } catch (err) {
      await this.abort(`the canary did not start: ${(err as Error).message}`, who());
      return s;
    }
    if (s.phase === "Pending") {
      s.phase = "Progressing";
      this.point();
      this.record("Progressing", `canary ${s.version} ready at weight 0`);
    }
    await this.loop();
    return s;
  }

  /** The analysis of the current step while it runs (one at a time). */
  private analysis: AnalysisRun | null = null;

  private async stopAnalysis(): Promise<void> {
    await this.analysis?.stop();
    this.analysis = null;
  }

  private async loop(): Promise<void> {
    const s = this.s;
    const tick = this.o.tickMs ?? 250;
    try {
      while (ACTIVE_PHASES.includes(s.phase) && s.pendingAction !== "abort") {
        const next = await this.iteration();
        if (next === "done") return;
        if (next === "wait") await sleep(tick);
      }
    } finally {
      await this.stopAnalysis();
    }
  }

  /** One pass of the loop: "next" goes on at once, "wait" after a tick, "done" ends the rollout's loop. */
  private async iteration(): Promise<Tick> {
    const s = this.s;
    // 1. The operators' intent first: an abort must not wait for a step to finish.
    if (await this.applyIntent()) return "done";
    // 2. A paused rollout waits for its pause to end, or for promote.
    if (s.phase === "Paused") return this.endPauseIfOver() ? "next" : "wait";
    // 3. All steps done: promote.
    if (s.step >= s.strategy.steps.length) {
      await this.promote();
      return "done";
    }
    const st = s.strategy.steps[s.step];
    if (st === undefined) return "next";
    if ("setWeight" in st) return this.setWeightStep(st);
    if ("pause" in st) return this.pauseStep(st);
    return this.analysisStep(st);
  }

  /** Takes the pending intent, if any, and acts on it; true when it aborted the rollout. */
  private async applyIntent(): Promise<boolean> {
    const s = this.s;
    const rec = takeIntent(this.t.stateDir, s.service);
    if (!rec) return false;
    const e = intentEffect(s, rec.intent);
    if (e.kind === "abort") {
      await this.stopAnalysis();
      await this.abort(e.reason, rec.who);
      return true;
    }
    if (e.kind === "refuse") {
      audit(this.t.stateDir, s, `${rec.intent.action} refused`, e.why, rec.who);
    } else if (e.kind === "pause") {
      s.phase = "Paused";
      s.pausedBy = "operator";
      s.reason = "paused by an operator";
      this.record("Paused", s.reason, rec.who);
    } else {
      await this.stopAnalysis();
      if (e.kind === "promote-full") s.step = s.strategy.steps.length;
      else if (e.kind === "skip-step" && !(s.phase === "Paused" && s.pausedBy === "operator")) s.step++;
      this.progressing();
      this.record("Progressing", PROMOTED_BECAUSE[e.kind], rec.who);
    }
    return false;
  }

  /** Back to Progressing: whatever paused the rollout is over. */
  private progressing(): void {
    this.s.phase = "Progressing";
    this.s.pausedBy = undefined;
    this.s.pauseStartedAt = undefined;
    this.s.reason = undefined;
  }

  /** A step's timed pause that has run its time ends; true when it did. */
  private endPauseIfOver(): boolean {
    const s = this.s;
    const st = s.strategy.steps[s.step];
    if (
      s.pausedBy === "step" &&
      st &&
      "pause" in st &&
      st.pause.durationMs !== null &&
      s.pauseStartedAt &&
      Date.now() - Date.parse(s.pauseStartedAt) >= st.pause.durationMs
    ) {
      this.progressing();
      s.step++;
      this.record("Progressing", `pause of ${st.pause.durationMs / 1000} s over`);
      return true;
    }
    return false;
  }

  private async setWeightStep(st: Extract<Step, { setWeight: number }>): Promise<Tick> {
    const s = this.s;
    await this.track.setWeight(this.service, st.setWeight);
    s.canaryWeight = st.setWeight;
    this.point();
    s.step++;
    this.record(`setWeight ${st.setWeight}`, `step ${s.step}/${s.strategy.steps.length}`);
    return "next";
  }

  private pauseStep(st: Extract<Step, { pause: unknown }>): Tick {
    const s = this.s;
    s.phase = "Paused";
    s.pausedBy = "step";
    s.pauseStartedAt = new Date().toISOString();
    s.reason = describeStep(st);
    this.record("Paused", `step ${s.step + 1}: ${describeStep(st)}`);
    return "next";
  }

  /** Starts the step's analysis once, then acts on its verdict: abort, pause (inconclusive), next step or wait. */
  private async analysisStep(st: Extract<Step, { analysis: unknown }>): Promise<Tick> {
    const s = this.s;
    if (this.analysis === null) {
      this.say(`step ${s.step + 1}: ${describeStep(st)}`);
      this.analysis = new AnalysisRun(
        s,
        st.analysis.metrics,
        { query: (q) => this.t.query(q), loadtest: this.o.loadtest },
        (m) => this.measured(m),
      );
    }
    const v = this.analysis.verdict();
    if (v.verdict === "Running") return "wait";
    await this.stopAnalysis();
    if (v.verdict === "Failed" || v.verdict === "Error") {
      await this.abort(abortReason(s.measurements, s.step, v.metric ?? "?", v.verdict), who());
      return "done";
    }
    if (v.verdict === "Inconclusive") {
      s.phase = "Paused";
      s.pausedBy = "inconclusive";
      s.reason = `analysis of step ${s.step + 1} inconclusive (${v.metric}): promote to go on, abort to roll back`;
      this.record("Paused", s.reason);
    } else {
      s.step++;
      this.record("analysis successful", `step ${s.step}/${s.strategy.steps.length}`);
    }
    return "next";
  }

  private measured(m: Measurement): void {
    const metrics: Record<string, number> = {};
    if (m.value !== null) metrics[m.metric] = m.value;
    this.point(metrics);
    this.save();
    this.say(`measurement ${m.metric}: ${m.phase} (${m.message})`);
  }

  /** Traffic back to stable at once, then the canary drained and scaled down; the reason recorded. */
  async abort(reason: string, by: string): Promise<void> {
    const s = this.s;
    const first = s.pendingAction !== "abort";
    s.phase = "Aborted";
    s.reason = reason;
    s.pendingAction = "abort";
    if (first) this.record("Aborted", reason, by);
    try {
      await this.track.setWeight(this.service, 0).catch(() => undefined); // remove() sets 0 too; this is the fast path
      s.canaryWeight = 0;
      this.point();
      this.record("canary weight 0", "traffic back to stable", by);
      await this.track.remove(this.service, (l) => this.say(l));
    } catch (err) {
      this.record("abort incomplete", `${(err as Error).message}: run "imctl rollout abort ${s.service}" again`, by);
      throw err;
    }
    s.pendingAction = undefined;
    s.finishedAt = new Date().toISOString();
    this.record("canary removed", "canary instances drained and stopped", by);
    archiveRollout(this.t.stateDir, s);
  }

  private async promote(): Promise<void> {
    const s = this.s;
    s.pendingAction = "promote";
    this.record("promoting", `${s.version} becomes the stable version`);
    await this.track.promote(this.service, (l) => this.say(l));
    s.pendingAction = undefined;
    s.phase = "Promoted";
    s.canaryWeight = 100;
    s.stableVersion = s.version;
    s.finishedAt = new Date().toISOString();
    this.point();
    this.record("Promoted", `${s.version} is stable; canary drained onto it`);
    archiveRollout(this.t.stateDir, s);
  }
}
