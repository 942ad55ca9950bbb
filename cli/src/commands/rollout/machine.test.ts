import assert from "node:assert/strict";
import { test } from "node:test";
import { AnalysisRun, measure } from "./analysis.ts";
import {
  analysisVerdict,
  intentEffect,
  judge,
  metricVerdict,
  weightAfter,
  type Measurement,
  type MeasurementPhase,
  type RolloutState,
} from "./machine.ts";
import { resolveStrategy, type Metric } from "./strategy.ts";

const metric = (over: Partial<Metric> = {}): Metric => ({
  name: "m",
  successCondition: "result <= 0.01",
  provider: { prometheus: { query: 'q{version="{{version}}"}' } },
  intervalMs: 10,
  count: 3,
  failureLimit: 0,
  consecutiveErrorLimit: 4,
  inconclusiveLimit: 0,
  ...over,
});

const ms = (...phases: MeasurementPhase[]): Measurement[] =>
  phases.map((phase, i) => ({
    metric: "m",
    step: 1,
    at: new Date(i * 1000).toISOString(),
    phase,
    value: 0,
    stable: null,
    message: "",
  }));

test("judge: the success condition passes or fails; with a failure condition, neither holding is Inconclusive; no data is an Error", () => {
  assert.equal(judge(metric(), 0.001).phase, "Successful");
  assert.equal(judge(metric(), 0.2).phase, "Failed");
  assert.equal(judge(metric(), Number.NaN).phase, "Error");
  const m = metric({ successCondition: "result < 0.01", failureCondition: "result > 0.05" });
  assert.equal(judge(m, 0.03).phase, "Inconclusive");
  assert.equal(judge(m, 0.06).phase, "Failed");
  assert.equal(judge(metric({ successCondition: "result <= stable * 2" }), 0.3, 0.1).phase, "Failed");
  assert.equal(judge(metric({ successCondition: "result <= stable * 2" }), 0.3, Number.NaN).phase, "Error");
});

test("metricVerdict follows Argo: failureLimit 0 fails on the first failure; errors count only in a row; count excludes errors", () => {
  const m = metric();
  assert.equal(metricVerdict(m, ms("Successful", "Successful")), "Running");
  assert.equal(metricVerdict(m, ms("Successful", "Successful", "Successful")), "Successful");
  assert.equal(metricVerdict(m, ms("Successful", "Failed")), "Failed");
  assert.equal(metricVerdict(metric({ failureLimit: 1 }), ms("Failed", "Successful")), "Running");
  assert.equal(metricVerdict(metric({ failureLimit: 1 }), ms("Failed", "Successful", "Successful")), "Successful");
  assert.equal(metricVerdict(metric({ failureLimit: 1 }), ms("Failed", "Successful", "Failed")), "Failed");
  assert.equal(metricVerdict(m, ms("Error", "Error", "Error", "Error")), "Running");
  assert.equal(metricVerdict(m, ms("Error", "Error", "Error", "Error", "Error")), "Error");
  assert.equal(metricVerdict(m, ms("Error", "Error", "Error", "Error", "Successful", "Error", "Error")), "Running");
  assert.equal(metricVerdict(m, ms("Successful", "Inconclusive")), "Inconclusive");
  assert.equal(metricVerdict(metric({ inconclusiveLimit: 1 }), ms("Successful", "Inconclusive")), "Running");
});

test("analysisVerdict: a failure of any metric wins over the others still running", () => {
  const a = metric({ name: "a" });
  const b = metric({ name: "b" });
  const list: Measurement[] = [
    ...ms("Successful").map((x) => ({ ...x, metric: "a" })),
    ...ms("Failed").map((x) => ({ ...x, metric: "b" })),
  ];
  assert.deepEqual(analysisVerdict([a, b], list, 1), { verdict: "Failed", metric: "b" });
  // measurements of another step do not count
  assert.deepEqual(analysisVerdict([a, b], list, 2), { verdict: "Running", metric: "a" });
});

const state = (over: Partial<RolloutState>) =>
  ({
    phase: "Progressing",
    step: 1,
    strategy: resolveStrategy({
      steps: [
        { setWeight: 10 },
        { pause: {} },
        {
          analysis: {
            metrics: [{ name: "m", successCondition: "result < 1", provider: { prometheus: { query: "q" } } }],
          },
        },
        { setWeight: 100 },
      ],
    }),
    ...over,
  }) as Pick<RolloutState, "phase" | "step" | "strategy" | "pausedBy">;

test("intents: promote steps over a pause or an analysis, lifts an operator's pause, --full goes to the end; nothing applies once finished", () => {
  assert.deepEqual(intentEffect(state({ phase: "Paused", pausedBy: "step" }), { action: "promote", full: false }), {
    kind: "skip-step",
  });
  assert.deepEqual(intentEffect(state({ phase: "Paused", pausedBy: "operator" }), { action: "promote", full: false }), {
    kind: "resume",
  });
  assert.deepEqual(intentEffect(state({ step: 2 }), { action: "promote", full: false }), { kind: "skip-step" });
  assert.equal(intentEffect(state({ step: 0 }), { action: "promote", full: false }).kind, "refuse");
  assert.deepEqual(intentEffect(state({}), { action: "promote", full: true }), { kind: "promote-full" });
  assert.deepEqual(intentEffect(state({}), { action: "pause" }), { kind: "pause" });
  assert.deepEqual(intentEffect(state({ phase: "Paused", pausedBy: "step" }), { action: "pause" }), {
    kind: "refuse",
    why: "the rollout is already Paused",
  });
  assert.deepEqual(intentEffect(state({}), { action: "abort" }), { kind: "abort", reason: "aborted by an operator" });
  assert.deepEqual(intentEffect(state({ phase: "Aborted" }), { action: "abort" }), {
    kind: "refuse",
    why: "the rollout is Aborted",
  });
  assert.deepEqual(intentEffect(state({ phase: "Promoted" }), { action: "promote", full: false }), {
    kind: "refuse",
    why: "the rollout is Promoted",
  });
});

test("weightAfter: the last setWeight up to a step", () => {
  const s = resolveStrategy({ steps: [{ setWeight: 10 }, { pause: {} }, { setWeight: 30 }, { setWeight: 100 }] });
  assert.deepEqual(
    [0, 1, 2, 3].map((i) => weightAfter(s.steps, i)),
    [10, 10, 30, 100],
  );
});

test("measure: runs the query for canary and (when the condition needs it) stable; an empty result is an Error", async () => {
  const queries: string[] = [];
  const values: Record<string, number[]> = { 'q{version="2"}': [0.5], 'q{version="1"}': [0.1] };
  const deps = {
    query: async (q: string) => {
      queries.push(q);
      return (values[q] ?? []).map((value) => ({ labels: {}, value }));
    },
    loadtest: async () => ({ value: 1, detail: "k6 smoke: passed" }),
  };
  const s = { service: "gateway", version: "2", stableVersion: "1" };
  const m = await measure(deps, s, metric({ successCondition: "result <= stable * 2" }), 1);
  assert.deepEqual(queries, ['q{version="2"}', 'q{version="1"}']);
  assert.equal(m.phase, "Failed");
  assert.equal(m.value, 0.5);
  assert.equal(m.stable, 0.1);
  const empty = await measure({ ...deps, query: async () => [] }, s, metric(), 1);
  assert.equal(empty.phase, "Error");
  const gate = await measure(
    deps,
    s,
    metric({ successCondition: "result == 1", provider: { loadtest: { scenario: "smoke" } } }),
    1,
  );
  assert.equal(gate.phase, "Successful");
});

test("AnalysisRun: the first measurement comes one interval in; a failure ends the run at once", async () => {
  const s = {
    service: "gateway",
    version: "2",
    stableVersion: "1",
    step: 1,
    measurements: [] as Measurement[],
  } as unknown as RolloutState;
  let n = 0;
  const deps = {
    query: async () => [{ labels: {}, value: n++ === 0 ? 0 : 0.5 }],
    loadtest: async () => ({ value: 1, detail: "" }),
  };
  const seen: Measurement[] = [];
  const run = new AnalysisRun(s, [metric({ intervalMs: 20, count: 5 })], deps, (m) => seen.push(m));
  assert.equal(run.verdict().verdict, "Running");
  for (let i = 0; i < 100 && run.verdict().verdict === "Running"; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(run.verdict().verdict, "Failed");
  await run.stop();
  assert.deepEqual(
    seen.map((m) => m.phase),
    ["Successful", "Failed"],
  );
});
