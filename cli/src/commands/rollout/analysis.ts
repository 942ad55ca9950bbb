/**
 * One analysis step at run time: each metric measured on its own schedule (the first measurement one interval
 * after the step starts, so the rate window holds canary traffic), each result judged at once and appended to
 * the rollout's measurements. The controller polls `verdict()` between intents, so a failed measurement ends
 * the step within the same tick, well inside one interval.
 */
import type { Sample } from "../../targets/target.ts";
import { parseCondition } from "./condition.ts";
import {
  analysisVerdict,
  judge,
  metricVerdict,
  type AnalysisVerdict,
  type Measurement,
  type RolloutState,
} from "./machine.ts";
import { renderQuery, type Metric } from "./strategy.ts";

export interface LoadtestGate {
  scenario: string;
  vus?: number;
  rate?: number;
  duration?: string;
  maxP99?: number;
}

export interface MeasureDeps {
  query(promql: string): Promise<Sample[]>;
  /** Runs a k6 scenario as a gate: 1 when it passed (thresholds, lost 0), else 0. */
  loadtest(gate: LoadtestGate): Promise<{ value: number; detail: string }>;
}

const first = (samples: Sample[]): number => (samples.length === 0 ? Number.NaN : (samples[0]?.value ?? Number.NaN));

/** Takes one measurement of `metric` for the rollout's canary (and its stable version when the condition needs it). */
export async function measure(
  deps: MeasureDeps,
  s: Pick<RolloutState, "service" | "version" | "stableVersion">,
  metric: Metric,
  step: number,
): Promise<Measurement> {
  const at = new Date().toISOString();
  try {
    if ("loadtest" in metric.provider) {
      const r = await deps.loadtest(metric.provider.loadtest);
      const j = judge(metric, r.value);
      return {
        metric: metric.name,
        step,
        at,
        phase: j.phase,
        value: r.value,
        stable: null,
        message: `${r.detail}; ${j.message}`,
      };
    }
    const template = metric.provider.prometheus.query;
    const vars = { service: s.service, version: s.version, stableVersion: s.stableVersion };
    const value = first(await deps.query(renderQuery(template, vars)));
    const needsStable =
      parseCondition(metric.successCondition).usesStable ||
      (metric.failureCondition !== undefined && parseCondition(metric.failureCondition).usesStable);
    const stable = needsStable
      ? first(await deps.query(renderQuery(template, { ...vars, version: s.stableVersion })))
      : undefined;
    const j = judge(metric, value, stable);
    return {
      metric: metric.name,
      step,
      at,
      phase: j.phase,
      value: Number.isFinite(value) ? value : null,
      stable: stable === undefined || !Number.isFinite(stable) ? null : stable,
      message: j.message,
    };
  } catch (err) {
    return {
      metric: metric.name,
      step,
      at,
      phase: "Error",
      value: null,
      stable: null,
      message: (err as Error).message.split("\n")[0] ?? "error",
    };
  }
}

export class AnalysisRun {
  private stopped = false;
  private readonly loops: Array<Promise<void>>;

  constructor(
    private readonly s: RolloutState,
    private readonly metrics: Metric[],
    private readonly deps: MeasureDeps,
    private readonly onMeasurement: (m: Measurement) => void,
  ) {
    this.loops = metrics.map((m) => this.loop(m));
  }

  private async loop(metric: Metric): Promise<void> {
    const step = this.s.step;
    const mine = () => this.s.measurements.filter((x) => x.step === step && x.metric === metric.name);
    while (!this.stopped && metricVerdict(metric, mine()) === "Running") {
      await this.wait(metric.intervalMs);
      if (this.stopped) return;
      const m = await measure(this.deps, this.s, metric, step);
      if (this.stopped) return;
      this.s.measurements.push(m);
      this.onMeasurement(m);
    }
  }

  private async wait(ms: number): Promise<void> {
    const until = Date.now() + ms;
    while (!this.stopped && Date.now() < until)
      await new Promise((r) => setTimeout(r, Math.min(200, until - Date.now())));
  }

  verdict(): { verdict: AnalysisVerdict; metric?: string } {
    return analysisVerdict(this.metrics, this.s.measurements, this.s.step);
  }

  /** Stops measuring. A load-test gate in flight is not waited for beyond a few seconds (its k6 run is bounded). */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.race([Promise.allSettled(this.loops), new Promise((r) => setTimeout(r, 5000).unref())]);
  }
}
