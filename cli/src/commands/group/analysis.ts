/**
 * The analysis of a group move's switch steps (docs/groups.md): every look reads the sub-groups' fan-out backlog from
 * the platform and, from Prometheus, the group's fan-out lag, the platform's delivery latency (p99) and the message
 * service's failed notifications to gateways. Like Flagger's metric checks, a metric with no sample (Prometheus down,
 * nothing delivered in the window) fails no look, but the look says so.
 */
import type { GroupTarget } from "../../targets/target.ts";

/** The window of the rates read from Prometheus: at least two scrapes at a cloud stack's 30 s default. */
export const ANALYSIS_WINDOW = "1m";

/** The limits a look is judged by. */
export interface AnalysisLimits {
  /** A sub-group's fan-out backlog above this many timeline entries fails a look. Default 1000. */
  maxBehind: number;
  /** A sub-group's fan-out lag above this many seconds fails a look. Default 10. */
  maxLagSeconds: number;
  /**
   * The platform's delivery latency p99 (im_delivery_latency_seconds, store to push, over the window) above this many
   * seconds fails a look. Default 1: well above the 150 ms bar of the DeliveryLatencyP99High alert, so a look fails on
   * damage a move does, not on a loaded machine's noise (three failed looks in a row roll the move back).
   */
  maxLatencyP99Seconds: number;
  /**
   * More failed notifications to gateways than this in the window (im_message_notifications_total, result rejected or
   * unreachable) fail a look. Default 10: a client that missed one syncs, a gateway that stopped answering does not.
   */
  maxNotifyErrors: number;
}

export const ANALYSIS_DEFAULTS: AnalysisLimits = {
  maxBehind: 1000,
  maxLagSeconds: 10,
  maxLatencyP99Seconds: 1,
  maxNotifyErrors: 10,
};

/** What one look saw; null: Prometheus had no sample (or did not answer). */
export interface Look {
  /** Most timeline entries any sub-group's fan-out was behind the head. */
  maxBehind: number;
  /** Highest fan-out lag of the group's sub-groups, seconds. */
  lagSeconds: number | null;
  /** The platform's delivery latency p99 over the window, seconds. */
  latencyP99Seconds: number | null;
  /** Notifications the message service failed to hand to a gateway in the window. */
  notifyErrors: number | null;
}

/** The PromQL of each Prometheus metric of a look. */
export function analysisQueries(groupId: string): Record<Exclude<keyof Look, "maxBehind">, string> {
  const w = ANALYSIS_WINDOW;
  return {
    lagSeconds: `max(im_message_subgroup_fanout_lag_seconds{group="${groupId}"})`,
    latencyP99Seconds: `histogram_quantile(0.99, sum by (le) (rate(im_delivery_latency_seconds_bucket[${w}])))`,
    notifyErrors: `sum(increase(im_message_notifications_total{result!="ok"}[${w}]))`,
  };
}

/** One instant query's first value; null when there is none, it is not a number (a quantile of nothing) or it failed. */
async function sample(t: Pick<GroupTarget, "query">, promql: string): Promise<number | null> {
  try {
    const v = (await t.query(promql))[0]?.value;
    return v === undefined || !Number.isFinite(v) ? null : v;
  } catch {
    return null; // no Prometheus answer: the other metrics decide this look
  }
}

/** One look at the group: its backlog from the platform, the rest from Prometheus. */
export async function look(t: Pick<GroupTarget, "query" | "groupStatus">, groupId: string): Promise<Look> {
  const st = (await t.groupStatus(groupId)) as { subGroups?: Array<{ behind?: number }> } | null;
  const q = analysisQueries(groupId);
  const [lagSeconds, latencyP99Seconds, notifyErrors] = await Promise.all([
    sample(t, q.lagSeconds),
    sample(t, q.latencyP99Seconds),
    sample(t, q.notifyErrors),
  ]);
  return {
    maxBehind: Math.max(0, ...(st?.subGroups ?? []).map((x) => Number(x.behind ?? 0))),
    lagSeconds,
    latencyP99Seconds,
    notifyErrors,
  };
}

interface Metric {
  key: keyof Look;
  limit: keyof AnalysisLimits;
  name: string;
  unit: string;
}

const METRICS: readonly Metric[] = [
  { key: "maxBehind", limit: "maxBehind", name: "backlog", unit: " entries" },
  { key: "lagSeconds", limit: "maxLagSeconds", name: "fan-out lag", unit: " s" },
  { key: "latencyP99Seconds", limit: "maxLatencyP99Seconds", name: "delivery p99", unit: " s" },
  { key: "notifyErrors", limit: "maxNotifyErrors", name: "notify errors", unit: ` in ${ANALYSIS_WINDOW}` },
];

const num = (v: number) => String(Math.round(v * 1000) / 1000);
/** A limit of a record written before the limit existed is its default. */
const limitOf = (s: Partial<AnalysisLimits>, m: Metric) => s[m.limit] ?? ANALYSIS_DEFAULTS[m.limit];
const show = (s: Partial<AnalysisLimits>, m: Metric, v: number | null | undefined) =>
  `${m.name} ${v === null || v === undefined ? "no sample" : num(v)}, at most ${num(limitOf(s, m))}${m.unit}`;

/** The names of the limits a look passed; empty: the look is good. A metric without a sample passes no limit. */
export function judge(s: Partial<AnalysisLimits>, l: Look): string[] {
  return METRICS.filter((m) => {
    const v = l[m.key];
    return v !== null && v > limitOf(s, m);
  }).map((m) => m.name);
}

/** A look as the progress lines and the reasons show it: every metric with its limit, "no sample" where it had none. */
export function describeLook(s: Partial<AnalysisLimits>, l: Partial<Record<keyof Look, number | null>>): string {
  return METRICS.map((m) => show(s, m, l[m.key])).join("; ");
}

/** The looks of a step in one line: how many, how many failed, the worst of each metric, the metrics without samples. */
export function summarizeLooks(s: Partial<AnalysisLimits>, looks: ReadonlyArray<Look & { ok: boolean }>): string {
  const worst: Partial<Record<keyof Look, number | null>> = {};
  const missing: string[] = [];
  for (const m of METRICS) {
    const vs = looks.map((l) => l[m.key]).filter((v): v is number => v !== null);
    worst[m.key] = vs.length === 0 ? null : Math.max(...vs);
    if (vs.length < looks.length) missing.push(`${m.name} in ${looks.length - vs.length}`);
  }
  const failed = looks.filter((l) => !l.ok).length;
  return (
    `${looks.length} looks, ${failed} failed; worst: ${describeLook(s, worst)}` +
    (missing.length > 0 ? `; no sample: ${missing.join(", ")}` : "")
  );
}
