/**
 * `imctl bandwidth audit`: gateway egress from Prometheus over a window: utilisation per instance and in total
 * (peak, p95, average), by hour of day, connections, message backlog, delivery latency, and three flags: sustained
 * utilisation over the line, growth, and latency rising while CPU stays low (a bandwidth bottleneck).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseDuration } from "../../../../base/duration.ts";
import { UserError } from "../../errors.ts";
import { renderLineChart } from "../../lib/chart.ts";
import type { BandwidthTarget, Series } from "../../targets/target.ts";
import {
  bottleneck,
  DEFAULT_SUSTAINED_SECONDS,
  DEFAULT_TARGET_UTILISATION,
  growth,
  GROWTH_FLAG_RATIO,
  hourlyProfile,
  stats,
  sumSeries,
  sustainedRuns,
  type Bottleneck,
  type Growth,
  type HourBucket,
  type Points,
  type Stats,
} from "./analysis.ts";
import { appendAudit, reportDir } from "./store.ts";

export type FlagKind = "sustained-utilisation" | "growth" | "bandwidth-bottleneck" | "cpu-bottleneck";

export interface Flag {
  kind: FlagKind;
  /** The instance it concerns, or null for the whole tier. */
  instance: string | null;
  detail: string;
}

export interface InstanceAudit {
  instance: string;
  capBytesPerSecond: number | null;
  /** Bytes/s that went out. */
  egress: Stats | null;
  /** Bytes/s that went out plus what queued behind the cap: the demand the cap hides when saturated. */
  demand: Stats | null;
  utilisation: Stats | null;
  connections: { now: number | null; peak: number | null };
  queuedBytesPeak: number | null;
}

export interface AuditResult {
  stack: string;
  since: string;
  window: { start: string; end: string; stepSeconds: number; historyHours: number };
  targetUtilisation: number;
  sustainedSeconds: number;
  instances: InstanceAudit[];
  total: {
    capBytesPerSecond: number | null;
    egress: Stats | null;
    demand: Stats | null;
    utilisation: Stats | null;
    growth: Growth;
  };
  hourly: HourBucket[];
  backlog: { kafkaLagPeak: number | null; kafkaLagNow: number | null };
  latency: { p99PeakMs: number | null; p99NowMs: number | null; bottleneck: Bottleneck };
  cpu: { gatewayPeakCores: number | null; nodePeak: number | null };
  flags: Flag[];
  files: { dir: string; chart: string; json: string };
}

export interface AuditOptions {
  since: string;
  sustained?: string;
  targetUtilisation?: number;
  progress?: (line: string) => void;
}

/** "90s", "15m", "24h", "7d" in seconds; `field` names the flag in the error. */
export function parseWindow(field: string, raw: string): number {
  const n = parseDuration(raw.trim(), { units: ["s", "m", "h", "d"], to: "s" }) ?? Number.NaN;
  if (!(n > 0))
    throw new UserError(`${field}: got ${JSON.stringify(raw)}; allowed: a number with s, m, h or d, e.g. 24h`);
  return n;
}

/** The PromQL behind the audit, with the rate window `w` in seconds. */
export function queries(w: number) {
  const gw = 'service="gateway"';
  const out = `rate(im_gateway_bytes_out_total{${gw}}[${w}s])`;
  return {
    egress: `sum by (component) (${out})`,
    // deriv of the queue: bytes/s that arrived and could not go out; clamped, since a draining queue is not demand.
    demand: `sum by (component) (${out} + clamp_min(deriv(im_gateway_egress_queued_bytes{${gw}}[${w}s]), 0))`,
    cap: `max by (component) (im_gateway_egress_cap_bytes_per_second{${gw}})`,
    utilisation: `sum by (component) (${out}) / max by (component) (im_gateway_egress_cap_bytes_per_second{${gw}})`,
    connections: `sum by (component) (im_gateway_connections{${gw}})`,
    queued: `sum by (component) (im_gateway_egress_queued_bytes{${gw}})`,
    kafkaLag: "sum(im_message_consumer_lag)",
    latencyP99: `histogram_quantile(0.99, sum by (le) (rate(im_delivery_latency_seconds_bucket{${gw}}[${w}s])))`,
    gatewayCpu: `max(rate(im_process_process_cpu_seconds_total{${gw}}[${w}s]))`,
    nodeCpu: `1 - avg(rate(node_cpu_seconds_total{mode="idle"}[${w}s]))`,
  };
}

const byInstance = (series: Series[]) =>
  new Map(series.map((s) => [s.labels.component ?? s.labels.instance ?? "?", s.points as Points]));
const one = (series: Series[]): Points => (series[0]?.points ?? []) as Points;
const last = (p: Points): number | null => {
  for (let i = p.length - 1; i >= 0; i--) {
    const v = p[i]?.[1];
    if (v !== undefined && Number.isFinite(v)) return v;
  }
  return null;
};
const peak = (p: Points): number | null => stats(p)?.peak ?? null;

/** Fetches every series of the audit over [start, end]. Shared by `plan` (which looks further back for the window). */
export async function fetchSeries(
  target: BandwidthTarget,
  start: number,
  end: number,
  step: number,
  scrapeSeconds: number,
) {
  const w = Math.max(4 * scrapeSeconds, 2 * step);
  const q = queries(w);
  const range = (promql: string) => target.queryRange(promql, start, end, step);
  const [egress, demand, cap, utilisation, connections, queued, kafkaLag, latencyP99, gatewayCpu, nodeCpu] =
    await Promise.all([
      range(q.egress),
      range(q.demand),
      range(q.cap),
      range(q.utilisation),
      range(q.connections),
      range(q.queued),
      range(q.kafkaLag),
      range(q.latencyP99),
      range(q.gatewayCpu),
      range(q.nodeCpu),
    ]);
  return {
    egress: byInstance(egress),
    demand: byInstance(demand),
    cap: byInstance(cap),
    utilisation: byInstance(utilisation),
    connections: byInstance(connections),
    queued: byInstance(queued),
    kafkaLag: one(kafkaLag),
    latencyP99: one(latencyP99),
    gatewayCpu: one(gatewayCpu),
    nodeCpu: one(nodeCpu),
  };
}

export function stepFor(windowSeconds: number, scrapeSeconds: number): number {
  // About 300 points a series: enough for the chart and for sustained runs, cheap to query.
  return Math.max(scrapeSeconds, Math.ceil(windowSeconds / 300));
}

type AuditSeries = Awaited<ReturnType<typeof fetchSeries>>;

/** The audit's options checked and resolved before anything is queried. */
function resolveOptions(opts: AuditOptions) {
  const since = parseWindow("--since", opts.since);
  const sustainedSeconds =
    opts.sustained === undefined ? DEFAULT_SUSTAINED_SECONDS : parseWindow("--sustained", opts.sustained);
  const targetUtilisation = opts.targetUtilisation ?? DEFAULT_TARGET_UTILISATION;
  if (!(targetUtilisation > 0 && targetUtilisation <= 1))
    throw new UserError(
      `--target-utilisation: got ${targetUtilisation}; allowed: a share above 0 and at most 1, e.g. 0.7`,
    );
  return { since, sustainedSeconds, targetUtilisation };
}

function instanceAudit(s: AuditSeries, id: string): InstanceAudit {
  return {
    instance: id,
    capBytesPerSecond: last(s.cap.get(id) ?? []),
    egress: stats(s.egress.get(id) ?? []),
    demand: stats(s.demand.get(id) ?? []),
    utilisation: stats(s.utilisation.get(id) ?? []),
    connections: { now: last(s.connections.get(id) ?? []), peak: peak(s.connections.get(id) ?? []) },
    queuedBytesPeak: peak(s.queued.get(id) ?? []),
  };
}

/** The tier's series: egress, demand, utilisation of the total cap, and that of its busiest instance. */
function tierSeries(s: AuditSeries, ids: string[]) {
  const egress = sumSeries(ids.map((id) => s.egress.get(id) ?? []));
  const demand = sumSeries(ids.map((id) => s.demand.get(id) ?? []));
  const capByT = new Map(sumSeries(ids.map((id) => s.cap.get(id) ?? [])));
  const utilisation: Points = egress.flatMap(([t, v]) => {
    const c = capByT.get(t);
    return c !== undefined && c > 0 ? [[t, v / c] as [number, number]] : [];
  });
  // The tier's utilisation at each instant is that of its busiest instance: one saturated gateway delays its clients.
  const acc = new Map<number, number>();
  for (const id of ids)
    for (const [t, v] of s.utilisation.get(id) ?? []) if (Number.isFinite(v)) acc.set(t, Math.max(acc.get(t) ?? 0, v));
  const busiest: Points = [...acc.entries()].sort((a, b) => a[0] - b[0]);
  return { egress, demand, utilisation, busiest };
}

const fmtDur = (sec: number) =>
  sec >= 3600 ? `${(sec / 3600).toFixed(1)} h` : sec >= 120 ? `${Math.round(sec / 60)} min` : `${Math.round(sec)} s`;
const pct = (x: number | null) => Math.round((x ?? 0) * 100);

/** The longest run of each instance at or above the line, as long as `sustainedSeconds` at least. */
function sustainedFlags(s: AuditSeries, ids: string[], o: ReturnType<typeof resolveOptions>, step: number): Flag[] {
  return ids.flatMap((id): Flag[] => {
    const runs = sustainedRuns(s.utilisation.get(id) ?? [], o.targetUtilisation, o.sustainedSeconds, step);
    const longest = runs.reduce<(typeof runs)[number] | null>(
      (a, r) => (a === null || r.seconds > a.seconds ? r : a),
      null,
    );
    if (longest === null) return [];
    const from = new Date(longest.start * 1000).toISOString();
    return [
      {
        kind: "sustained-utilisation",
        instance: id,
        detail:
          `${id}: egress at or above ${pct(o.targetUtilisation)} % of its cap for ${fmtDur(longest.seconds)} ` +
          `(peak ${pct(longest.peak)} %, from ${from})`,
      },
    ];
  });
}

function growthFlags(g: Growth): Flag[] {
  if (!(g.meaningful && g.ratio !== null && g.ratio > GROWTH_FLAG_RATIO)) return [];
  const detail = `gateway egress grew ${pct(g.ratio)} % over ${fmtDur(g.spanSeconds)} (least-squares trend)`;
  return [{ kind: "growth", instance: null, detail }];
}

function bottleneckFlags(b: Bottleneck): Flag[] {
  const ms = (x: number | null) => (x === null ? "?" : `${Math.round(x * 1000)} ms`);
  const rose = `delivery latency p99 rose to ${ms(b.latencySeconds)} (baseline ${ms(b.baselineLatencySeconds)})`;
  if (b.verdict === "bandwidth") {
    const detail =
      `${rose} while the busiest gateway ran at ${pct(b.utilisation)} % of its egress cap and gateway CPU stayed at ` +
      `${pct(b.cpu)} % of a core: a bandwidth bottleneck, not a CPU one`;
    return [{ kind: "bandwidth-bottleneck", instance: null, detail }];
  }
  if (b.verdict === "cpu") {
    const detail = `${rose} with gateway CPU at ${pct(b.cpu)} % of a core: CPU-bound; more bandwidth will not help (scale out instead)`;
    return [{ kind: "cpu-bottleneck", instance: null, detail }];
  }
  return [];
}

/** Each gateway's utilisation over the window, with the line, as a picture. */
function utilisationChart(
  file: string,
  s: AuditSeries,
  ids: string[],
  since: string,
  start: number,
  line: number,
): string {
  writeFileSync(
    file,
    renderLineChart({
      title: `gateway egress utilisation, last ${since}`,
      xLabel: `minutes since ${new Date(start * 1000).toISOString().slice(0, 16)}Z`,
      yLabel: "egress / cap (%)",
      series: ids.map((id) => ({
        name: id,
        points: (s.utilisation.get(id) ?? [])
          .filter(([, v]) => Number.isFinite(v))
          .map(([t, v]) => [(t - start) / 60, v * 100] as [number, number]),
      })),
      rules: [{ y: line * 100, label: `${pct(line)} % line` }],
    }),
  );
  return file;
}

export async function audit(target: BandwidthTarget, scrapeSeconds: number, opts: AuditOptions): Promise<AuditResult> {
  const o = resolveOptions(opts);
  const say = opts.progress ?? (() => undefined);
  const now = new Date();
  const end = Math.floor(now.getTime() / 1000);
  const start = end - o.since;
  const step = stepFor(o.since, scrapeSeconds);
  say(`audit: gateway egress over the last ${opts.since} (${step} s steps) from Prometheus`);
  const s = await fetchSeries(target, start, end, step, scrapeSeconds);

  const ids = [...new Set([...s.egress.keys(), ...s.cap.keys()])].filter((id) => id !== "?").sort();
  const instances = ids.map((id) => instanceAudit(s, id));
  const tier = tierSeries(s, ids);
  const firstData = tier.egress.find(([, v]) => v > 0)?.[0] ?? end;
  const historyHours = Math.max(0, (end - firstData) / 3600);
  const g = growth(tier.egress);
  const b = bottleneck(s.latencyP99, tier.busiest, s.gatewayCpu, { targetUtilisation: o.targetUtilisation });
  const flags = [...sustainedFlags(s, ids, o, step), ...growthFlags(g), ...bottleneckFlags(b)];

  const dir = reportDir(target.stateDir, "audits", now);
  const chart = utilisationChart(join(dir, "utilisation.svg"), s, ids, opts.since, start, o.targetUtilisation);
  const json = join(dir, "audit.json");
  const caps = instances.map((i) => i.capBytesPerSecond);
  const result: AuditResult = {
    stack: target.stack,
    since: opts.since,
    window: { start: new Date(start * 1000).toISOString(), end: now.toISOString(), stepSeconds: step, historyHours },
    targetUtilisation: o.targetUtilisation,
    sustainedSeconds: o.sustainedSeconds,
    instances,
    total: {
      capBytesPerSecond:
        caps.every((c) => c !== null) && caps.length > 0 ? caps.reduce<number>((a, c) => a + (c ?? 0), 0) : null,
      egress: stats(tier.egress),
      demand: stats(tier.demand),
      utilisation: stats(tier.utilisation),
      growth: g,
    },
    hourly: hourlyProfile(tier.egress),
    backlog: { kafkaLagPeak: peak(s.kafkaLag), kafkaLagNow: last(s.kafkaLag) },
    latency: { p99PeakMs: toMs(peak(s.latencyP99)), p99NowMs: toMs(last(s.latencyP99)), bottleneck: b },
    cpu: { gatewayPeakCores: peak(s.gatewayCpu), nodePeak: peak(s.nodeCpu) },
    flags,
    files: { dir, chart, json },
  };
  writeFileSync(json, `${JSON.stringify(result, null, 2)}\n`);
  appendAudit(target.stateDir, {
    action: "audit",
    subject: target.stack,
    detail: `${flags.length} flag(s) over the last ${opts.since}`,
    data: { since: opts.since, flags: flags.map((f) => f.kind), peakBytesPerSecond: result.total.egress?.peak ?? 0 },
  });
  return result;
}

const toMs = (s: number | null) => (s === null ? null : Math.round(s * 1000 * 10) / 10);
