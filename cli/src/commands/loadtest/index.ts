/**
 * imctl loadtest: the k6 scenarios under loadtests/ as gates. `run` drives the k6 that bootstrap installed,
 * forwards its progress, and returns the verdict: thresholds passed or breached (k6's exit code 99), the key
 * figures, and where the JSON summary and the latency-over-time picture are.
 */
import { createReadStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { createInterface } from "node:readline";
import { execa } from "execa";
import { durationPattern } from "../../../../base/duration.ts";
import { toolPath } from "../../../../base/tools.mjs";
import { MESSAGES, UserError } from "../../errors.ts";
import { renderLineChart } from "../../lib/chart.ts";
import { REPO_ROOT } from "../../../../base/root.mjs";
import { stateDir } from "../../lib/paths.ts";
import { table } from "../../lib/table.ts";
import { openTarget } from "../../targets/open.ts";
import { SCENARIOS, type Scenario } from "../../../../infra/loadtest/scenarios.ts";
import { testRunManifest, type TestRun } from "../../../../infra/loadtest/testrun.ts";
import { stringify } from "yaml";
import { resolveStack } from "../stack.ts";
import { loadSpec, SpecError } from "../../../../infra/lib/spec.ts";
import { embeddedIngress } from "../../cluster/edge.ts";

export { SCENARIOS, type Scenario };

export interface RunOptions {
  target?: string;
  stack?: string;
  vus?: number;
  rate?: number;
  duration?: string;
  /** p99 delivery bound in ms (the seed's 150 by default); a gate may tighten it. */
  maxP99?: number;
  /** Extra k6 environment, e.g. SIZE=large. */
  env?: string[];
  /** Whether --stack was on the command line (not its default): with an edge URL as --target it cannot be honoured. */
  stackGiven?: boolean;
  progress?: (line: string) => void;
}

export interface ThresholdResult {
  metric: string;
  expression: string;
  passed: boolean;
}

export interface LoadtestResult {
  scenario: string;
  target: string;
  passed: boolean;
  k6ExitCode: number;
  failedThresholds: string[];
  thresholds: ThresholdResult[];
  figures: {
    deliveryP50Ms: number | null;
    deliveryP95Ms: number | null;
    deliveryP99Ms: number | null;
    ackP99Ms: number | null;
    sent: number;
    received: number;
    lost: number;
    requestErrors: number;
    reconnects: number;
    /** Uncaught exceptions in VU code (k6 logs them with source=stacktrace and goes on): a journey cut short. */
    scriptErrors: number;
    checksRate: number | null;
  };
  files: { dir: string; summary: string; latencyChart: string | null };
  seconds: number;
}

const DURATION = durationPattern(["ms", "s", "m", "h"]);

export interface TestRunCommandOptions {
  target: string;
  parallelism: number;
  vus?: number;
  rate?: number;
  duration?: string;
  maxP99?: number;
}

/**
 * The TestRun for a distributed run on the kubernetes target (k6-operator, installed by infra with every scenario's
 * script), as YAML for `kubectl apply -f -`.
 */
export function testrun(name: string, opts: TestRunCommandOptions): { manifest: TestRun; yaml: string } {
  validate(name, { duration: opts.duration });
  if (!/^https?:\/\/[^\s/]+(:\d+)?\/?$/.test(opts.target))
    throw new UserError(
      `--target: got ${JSON.stringify(opts.target)}; allowed: the platform's edge URL as the runner pods reach it, e.g. https://im.example.com (the stack's kubernetes.ingress.host)`,
    );
  let manifest: TestRun;
  try {
    manifest = testRunManifest({
      scenario: name,
      target: opts.target.replace(/\/$/, ""),
      parallelism: opts.parallelism,
      vus: opts.vus,
      rate: opts.rate,
      duration: opts.duration,
      maxP99: opts.maxP99,
      runId: Date.now().toString(36),
    });
  } catch (err) {
    throw new UserError(`--${(err as Error).message}`);
  }
  return { manifest, yaml: stringify(manifest) };
}

export function list(): { scenarios: Scenario[] } {
  return { scenarios: SCENARIOS };
}

/**
 * The edge of an existing-cluster stack on the embedded cluster with a real node: Traefik's NodePort, which the
 * machine reaches on the cluster's ingress port. k6 connects to 127.0.0.1 with the stack's host name (its `hosts`
 * option, from RESOLVE), so the Gateway's HTTPRoutes match the Host header as they would behind a DNS name.
 */
function embeddedEdge(file: string): { target: string; env: string[] } | undefined {
  let spec;
  try {
    spec = loadSpec(file);
  } catch (err) {
    // A bad --stack is bad input (found by the fuzz test: a SpecError escaped as exit 1).
    if (err instanceof SpecError) throw new UserError(err.message);
    throw err;
  }
  const ingress = embeddedIngress(spec);
  if (ingress === null) return undefined;
  if ("unreachable" in ingress)
    throw new UserError(
      `--stack ${spec.name}: its edge is reachable from here only on the embedded cluster with a real node ` +
        `(imctl cluster up --nodes real, and cluster.kubeconfig ${ingress.unreachable}); otherwise pass --target <edge URL>`,
    );
  const { hostname, port } = ingress;
  return { target: `http://${hostname}:${port}`, env: [`RESOLVE=${hostname}=127.0.0.1`] };
}

function resolveTarget(opts: RunOptions): { target: string; env: string[] } {
  const t = opts.target ?? "local";
  if (t === "local") {
    const file = resolveStack(opts.stack);
    const edge = embeddedEdge(file);
    if (edge) return edge;
    return { target: openTarget({ stack: file, target: "local" }).lifecycle().edge().http, env: [] };
  }
  if (!/^https?:\/\/[^\s/]+(:\d+)?\/?$/.test(t))
    throw new UserError(
      `--target: got ${JSON.stringify(t)}; allowed: "local" or the platform's edge URL, e.g. http://127.0.0.1:18080`,
    );
  if (opts.stackGiven === true) throw new UserError(MESSAGES.stackWithUrl(opts.stack ?? ""));
  return { target: t.replace(/\/$/, ""), env: [] };
}

function validate(name: string, opts: RunOptions): Scenario {
  const s = SCENARIOS.find((x) => x.name === name);
  if (!s) throw new UserError(`unknown scenario "${name}": allowed are ${SCENARIOS.map((x) => x.name).join(", ")}`);
  if (opts.duration !== undefined && !DURATION.test(opts.duration))
    throw new UserError(
      `--duration: got ${JSON.stringify(opts.duration)}; allowed: a number with ms, s, m or h, e.g. 30s`,
    );
  for (const e of opts.env ?? [])
    if (!/^[A-Z][A-Z0-9_]*=.*$/.test(e))
      throw new UserError(`--env: got ${JSON.stringify(e)}; allowed: NAME=value with an upper-case NAME`);
  return s;
}

type Stat = Record<string, number | Record<string, boolean>>;

function stat(metrics: Record<string, Stat>, metric: string, key: string): number | null {
  const v = metrics[metric]?.[key];
  return typeof v === "number" ? v : null;
}

/** Per-second p50 and p99 of delivery latency from k6's JSON output, streamed (the file can be large). */
async function latencySeries(
  pointsFile: string,
): Promise<{ p50: Array<[number, number]>; p99: Array<[number, number]> } | null> {
  if (!existsSync(pointsFile)) return null;
  const buckets = new Map<number, number[]>();
  let t0: number | null = null;
  const rl = createInterface({ input: createReadStream(pointsFile), crlfDelay: Infinity });
  for await (const line of rl) {
    if (!line.includes('"metric":"im_delivery_latency"') || !line.includes('"type":"Point"')) continue;
    const p = JSON.parse(line) as { data: { time: string; value: number } };
    const t = Date.parse(p.data.time) / 1000;
    t0 ??= t;
    const sec = Math.floor(t - t0);
    const b = buckets.get(sec) ?? [];
    b.push(p.data.value);
    buckets.set(sec, b);
  }
  if (buckets.size === 0) return null;
  const q = (xs: number[], f: number) => xs[Math.min(xs.length - 1, Math.floor(f * xs.length))] ?? 0;
  const p50: Array<[number, number]> = [];
  const p99: Array<[number, number]> = [];
  for (const sec of [...buckets.keys()].sort((a, b) => a - b)) {
    const xs = (buckets.get(sec) ?? []).sort((a, b) => a - b);
    p50.push([sec, q(xs, 0.5)]);
    p99.push([sec, q(xs, 0.99)]);
  }
  return { p50, p99 };
}

/** k6's environment for a run: the target, a run id, then the caller's settings. */
function k6Env(opts: RunOptions, target: string, started: number): string[] {
  const env: string[] = [`TARGET=${target}`, `RUN_ID=${started.toString(36)}`, ...(opts.env ?? [])];
  if (opts.vus !== undefined) env.push(`VUS=${opts.vus}`);
  if (opts.rate !== undefined) env.push(`RATE=${opts.rate}`);
  if (opts.duration !== undefined) env.push(`DURATION=${opts.duration}`);
  if (opts.maxP99 !== undefined) env.push(`MAX_P99_MS=${opts.maxP99}`);
  return env;
}

interface K6Output {
  code: number;
  /** The last 40 lines k6 printed, for the error when it could not run. */
  tail: string[];
  scriptErrors: number;
  firstScriptError: string | null;
}

/** Runs k6, forwards its progress lines and counts the VUs an uncaught exception stopped. */
async function runK6(k6: string, args: string[], say: (line: string) => void): Promise<K6Output> {
  const child = execa(k6, args, { reject: false, all: true, env: { K6_NO_USAGE_REPORT: "true" } });
  const out: K6Output = { code: -1, tail: [], scriptErrors: 0, firstScriptError: null };
  if (child.all) {
    for await (const line of createInterface({ input: child.all })) {
      out.tail.push(line);
      // An exception thrown in a VU ends that VU's iteration: its remaining sends are never made, and k6 still
      // exits 0. Counted, so a run with one never passes.
      const thrown = scriptError(line);
      if (thrown !== null) {
        out.scriptErrors++;
        out.firstScriptError ??= thrown;
      }
      if (out.tail.length > 40) out.tail.shift();
      // k6 prints its progress as "running (0m05.0s), 4/4 VUs, ..." and errors as level=error lines.
      if (/^(running|default|\s*\w+\s+\[)|level=(error|warning)/.test(line)) say(`k6: ${line.trim()}`);
    }
  }
  const res = await child;
  out.code = res.exitCode ?? -1;
  return out;
}

/** Every threshold of the summary export; there a threshold's value is true when it was crossed. */
function thresholdResults(metrics: Record<string, Stat>): ThresholdResult[] {
  const thresholds: ThresholdResult[] = [];
  for (const [metric, s] of Object.entries(metrics)) {
    const th = s.thresholds;
    if (th && typeof th === "object")
      for (const [expression, crossed] of Object.entries(th)) thresholds.push({ metric, expression, passed: !crossed });
  }
  return thresholds;
}

/** Delivery latency p50 and p99 per second as a picture beside the summary; null when nothing was delivered. */
async function latencyChart(dir: string, points: string, title: string, maxP99: number): Promise<string | null> {
  const series = await latencySeries(points);
  if (!series) return null;
  const chart = join(dir, "latency.svg");
  writeFileSync(
    chart,
    renderLineChart({
      title,
      xLabel: "seconds since the first delivery",
      yLabel: "delivery latency (ms)",
      series: [
        { name: "p50", points: series.p50 },
        { name: "p99", points: series.p99 },
      ],
      rules: [{ y: maxP99, label: `p99 bar ${maxP99} ms` }],
    }),
  );
  return chart;
}

function figures(m: Record<string, Stat>, scriptErrors: number): LoadtestResult["figures"] {
  return {
    deliveryP50Ms: stat(m, "im_delivery_latency", "med"),
    deliveryP95Ms: stat(m, "im_delivery_latency", "p(95)"),
    deliveryP99Ms: stat(m, "im_delivery_latency", "p(99)"),
    ackP99Ms: stat(m, "im_ack_latency", "p(99)"),
    sent: stat(m, "im_sent_messages", "count") ?? 0,
    received: stat(m, "im_received_messages", "count") ?? 0,
    lost: stat(m, "im_lost_messages", "count") ?? 0,
    requestErrors: stat(m, "im_request_errors", "count") ?? 0,
    reconnects: stat(m, "im_reconnects", "count") ?? 0,
    scriptErrors,
    checksRate: stat(m, "checks", "value"),
  };
}

export async function run(name: string, opts: RunOptions): Promise<LoadtestResult> {
  const scenario = validate(name, opts);
  const k6 = toolPath("k6");
  if (!existsSync(k6)) throw new UserError(MESSAGES.missingTool("k6", k6));
  const edge = resolveTarget(opts);
  const target = edge.target;
  const started = Date.now();
  const dir = join(
    stateDir(),
    "loadtests",
    `${scenario.name}-${new Date(started).toISOString().replace(/[:.]/g, "-")}`,
  );
  mkdirSync(dir, { recursive: true });
  const summary = join(dir, "summary.json");
  const points = join(dir, "points.json");
  const env = k6Env({ ...opts, env: [...edge.env, ...(opts.env ?? [])] }, target, started);
  const args = [
    "run",
    "--no-color",
    "--summary-export",
    summary,
    "--summary-trend-stats",
    "avg,min,med,max,p(90),p(95),p(99)",
    "--out",
    `json=${points}`,
    ...env.flatMap((e) => ["-e", e]),
    join(REPO_ROOT, "loadtests", scenario.file),
  ];
  const say = opts.progress ?? (() => undefined);
  say(`k6: ${scenario.name} against ${target}${env.length > 2 ? ` (${env.slice(2).join(" ")})` : ""}`);
  const { code, tail, scriptErrors, firstScriptError } = await runK6(k6, args, say);
  if (!existsSync(summary)) {
    const why =
      tail
        .filter((l) => /level=error|Error/.test(l))
        .slice(-2)
        .join(" | ") || tail.slice(-2).join(" | ");
    throw new UserError(`k6 could not run ${scenario.name} (exit ${code}): ${why}`);
  }
  const m = (JSON.parse(readFileSync(summary, "utf8")) as { metrics: Record<string, Stat> }).metrics;
  const thresholds = thresholdResults(m);
  const title = `${scenario.name}: delivery latency over time (${target})`;
  const chart = await latencyChart(dir, points, title, opts.maxP99 ?? 150);
  rmSync(points, { force: true }); // every point of the run: large, and summarised above
  const failed = thresholds.filter((t) => !t.passed).map((t) => `${t.metric} ${t.expression}`);
  if (scriptErrors > 0)
    say(`k6: ${scriptErrors} VU(s) stopped by an uncaught exception, the run cannot pass (first: ${firstScriptError})`);
  return {
    scenario: scenario.name,
    target,
    passed: code === 0 && failed.length === 0 && scriptErrors === 0,
    k6ExitCode: code,
    failedThresholds: failed,
    thresholds,
    figures: figures(m, scriptErrors),
    files: { dir, summary, latencyChart: chart },
    seconds: (Date.now() - started) / 1000,
  };
}

/** The first line of an uncaught exception k6 logged for a VU (level=error, source=stacktrace), else null. */
export function scriptError(line: string): string | null {
  if (!/level=error/.test(line) || !/source=stacktrace/.test(line)) return null;
  return /msg="([^"\\]*)/.exec(line)?.[1] ?? "uncaught exception";
}

export function loadtestFailure(r: LoadtestResult): string {
  if (r.failedThresholds.length > 0) return `thresholds breached: ${r.failedThresholds.join("; ")}`;
  if (r.figures.scriptErrors > 0)
    return `${r.figures.scriptErrors} VU(s) stopped by an uncaught exception (their journeys did not finish)`;
  return `k6 exited ${r.k6ExitCode}`;
}

const ms = (v: number | null) => (v === null ? "-" : `${v.toFixed(1)} ms`);

export function renderList(r: { scenarios: Scenario[] }): string {
  return table(
    ["SCENARIO", "WHAT IT DOES"],
    r.scenarios.map((s) => [s.name, s.description]),
  );
}

export function renderRun(r: LoadtestResult): string {
  const f = r.figures;
  const rows = [
    ["delivery latency p50 / p95 / p99", `${ms(f.deliveryP50Ms)} / ${ms(f.deliveryP95Ms)} / ${ms(f.deliveryP99Ms)}`],
    ["acknowledgement p99", ms(f.ackP99Ms)],
    ["messages sent / received", `${f.sent} / ${f.received}`],
    ["lost messages", String(f.lost)],
    ["request errors", String(f.requestErrors)],
    ["reconnects", String(f.reconnects)],
    ["VUs stopped by a script error", String(f.scriptErrors)],
    ["checks passed", f.checksRate === null ? "-" : `${(f.checksRate * 100).toFixed(2)} %`],
  ];
  const th = r.thresholds.map((t) => [t.metric, t.expression, t.passed ? "ok" : "BREACHED"]);
  return [
    `${r.scenario} against ${r.target} in ${r.seconds.toFixed(0)} s`,
    "",
    table(["FIGURE", "VALUE"], rows),
    "",
    table(["METRIC", "THRESHOLD", "RESULT"], th),
    "",
    `summary: ${relative(process.cwd(), r.files.summary)}` +
      (r.files.latencyChart ? `\nlatency over time: ${relative(process.cwd(), r.files.latencyChart)}` : ""),
    "",
    r.passed ? "PASSED" : `FAILED: ${loadtestFailure(r)}`,
  ].join("\n");
}
