/**
 * The pure half of `imctl bandwidth`: statistics over Prometheus series, the audit's flags, the capacity needed
 * with headroom, and the low-traffic window. No I/O: series in, verdicts out, so every rule has a unit test.
 */

/** [unix seconds, value] pairs, ascending in time (a Prometheus range series). */
export type Points = Array<[number, number]>;

/** The seed's alert line: bandwidth utilisation above 70 %. */
export const DEFAULT_TARGET_UTILISATION = 0.7;
/** Utilisation above the line must last this long to count as sustained (the seed alerts after 5 minutes). */
export const DEFAULT_SUSTAINED_SECONDS = 300;
/** Growth over the audited window above which the audit flags it. */
export const GROWTH_FLAG_RATIO = 0.2;
/** Shorter history than this says nothing about growth (a fresh platform always "grows" from zero). */
export const GROWTH_MIN_SPAN_SECONDS = 3600;
/** A gateway below this share of one core is not CPU-bound. */
export const CPU_LOW = 0.5;
/** Delivery latency counts as elevated above twice its baseline and above the seed's p99 bar (150 ms). */
export const LATENCY_FLOOR_SECONDS = 0.15;

export interface Stats {
  peak: number;
  p95: number;
  avg: number;
}

const finite = (p: Points): Points => p.filter(([, v]) => Number.isFinite(v));

/** Nearest-rank quantile of `xs` (any order); null for no values. */
export function quantile(xs: number[], q: number): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? null;
}

export function stats(points: Points): Stats | null {
  const xs = finite(points).map(([, v]) => v);
  if (xs.length === 0) return null;
  return { peak: Math.max(...xs), p95: quantile(xs, 0.95) ?? 0, avg: xs.reduce((a, b) => a + b, 0) / xs.length };
}

/** Point-wise sum of several series (missing timestamps count as 0 for that series). */
export function sumSeries(all: Points[]): Points {
  const acc = new Map<number, number>();
  for (const s of all) for (const [t, v] of finite(s)) acc.set(t, (acc.get(t) ?? 0) + v);
  return [...acc.entries()].sort((a, b) => a[0] - b[0]);
}

export interface HourBucket {
  /** Hour of day, 0-23, UTC. */
  hour: number;
  avg: number;
  samples: number;
}

/** Average per hour of day (UTC) over the history; hours without samples are absent. */
export function hourlyProfile(points: Points): HourBucket[] {
  const sum = new Map<number, { total: number; n: number }>();
  for (const [t, v] of finite(points)) {
    const h = new Date(t * 1000).getUTCHours();
    const b = sum.get(h) ?? { total: 0, n: 0 };
    b.total += v;
    b.n++;
    sum.set(h, b);
  }
  return [...sum.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([hour, b]) => ({ hour, avg: b.total / b.n, samples: b.n }));
}

export interface Run {
  start: number;
  end: number;
  seconds: number;
  peak: number;
}

/** Runs of consecutive points at or above `threshold` lasting at least `minSeconds` (a point covers `stepSeconds`). */
export function sustainedRuns(points: Points, threshold: number, minSeconds: number, stepSeconds: number): Run[] {
  const runs: Run[] = [];
  const state: { cur: Run | null } = { cur: null };
  let prevT: number | null = null;
  const close = () => {
    if (state.cur !== null && state.cur.seconds >= minSeconds) runs.push(state.cur);
    state.cur = null;
  };
  for (const [t, v] of points) {
    // A gap in the series (a scrape outage) ends a run: nothing says the level held across it.
    if (prevT !== null && t - prevT > stepSeconds * 1.5) close();
    prevT = t;
    if (Number.isFinite(v) && v >= threshold) {
      const c = state.cur;
      state.cur =
        c === null
          ? { start: t, end: t, seconds: stepSeconds, peak: v }
          : { ...c, end: t, seconds: t - c.start + stepSeconds, peak: Math.max(c.peak, v) };
    } else {
      close();
    }
  }
  close();
  return runs;
}

export interface Growth {
  /** Fitted change over the window as a share of the fitted start (0.25 = +25 %); null without a fit. */
  ratio: number | null;
  spanSeconds: number;
  /** Whether the span is long enough to call it a trend. */
  meaningful: boolean;
}

/** Least-squares trend of a series over its window. */
export function growth(points: Points): Growth {
  const p = finite(points);
  const span = p.length > 1 ? (p[p.length - 1]?.[0] ?? 0) - (p[0]?.[0] ?? 0) : 0;
  if (p.length < 3 || span <= 0) return { ratio: null, spanSeconds: span, meaningful: false };
  const n = p.length;
  const mx = p.reduce((a, [t]) => a + t, 0) / n;
  const my = p.reduce((a, [, v]) => a + v, 0) / n;
  let num = 0;
  let den = 0;
  for (const [t, v] of p) {
    num += (t - mx) * (v - my);
    den += (t - mx) ** 2;
  }
  const slope = den === 0 ? 0 : num / den;
  const t0 = p[0]?.[0] ?? 0;
  const start = my + slope * (t0 - mx);
  const end = start + slope * span;
  // Growth from nothing has no ratio (a fresh platform); the trend's direction is still in the series.
  const ratio = start > 0 ? (end - start) / start : null;
  return { ratio, spanSeconds: span, meaningful: span >= GROWTH_MIN_SPAN_SECONDS };
}

export type BottleneckVerdict = "bandwidth" | "cpu" | "none";

export interface Bottleneck {
  verdict: BottleneckVerdict;
  baselineLatencySeconds: number | null;
  elevatedPoints: number;
  /** Medians over the points where latency was elevated. */
  latencySeconds: number | null;
  utilisation: number | null;
  cpu: number | null;
}

/**
 * Latency rising while CPU stays low: a bandwidth bottleneck rather than a CPU one. Looks only at the points where
 * delivery latency was elevated (above the seed's bar, and above twice its baseline: the 25th percentile while the
 * busiest gateway was under the utilisation line; with no such period in the window, the bar alone) and asks what
 * utilisation and gateway CPU were then. Series are aligned by timestamp.
 */
export function bottleneck(
  latency: Points,
  utilisation: Points,
  cpu: Points,
  opts: { targetUtilisation: number; cpuLow?: number },
): Bottleneck {
  const lat = finite(latency);
  const util = new Map(finite(utilisation));
  const base = quantile(
    lat.filter(([t]) => (util.get(t) ?? Number.POSITIVE_INFINITY) < opts.targetUtilisation).map(([, v]) => v),
    0.25,
  );
  const none: Bottleneck = {
    verdict: "none",
    baselineLatencySeconds: base,
    elevatedPoints: 0,
    latencySeconds: null,
    utilisation: null,
    cpu: null,
  };
  if (lat.length === 0) return none;
  const bar = Math.max(2 * (base ?? 0), LATENCY_FLOOR_SECONDS);
  const u = util;
  const c = new Map(finite(cpu));
  const elevated = lat.filter(([t, v]) => v > bar && u.has(t));
  // One elevated sample is noise; two in a row of scrapes is a level.
  if (elevated.length < 2) return { ...none, elevatedPoints: elevated.length };
  const medU = quantile(
    elevated.map(([t]) => u.get(t) ?? 0),
    0.5,
  );
  const cpus = elevated.flatMap(([t]) => (c.has(t) ? [c.get(t) ?? 0] : []));
  const medC = quantile(cpus, 0.5);
  const medL = quantile(
    elevated.map(([, v]) => v),
    0.5,
  );
  const out = {
    baselineLatencySeconds: base,
    elevatedPoints: elevated.length,
    latencySeconds: medL,
    utilisation: medU,
    cpu: medC,
  };
  if (medC !== null && medC >= (opts.cpuLow ?? CPU_LOW)) return { ...out, verdict: "cpu" };
  if (medU !== null && medU >= opts.targetUtilisation) return { ...out, verdict: "bandwidth" };
  return { ...out, verdict: "none" };
}

/** Rounds up to two significant figures (49,152 -> 50,000): caps an operator can read and type. */
export function niceCeil(x: number): number {
  if (!(x > 0)) return 0;
  const mag = 10 ** Math.max(0, Math.floor(Math.log10(x)) - 1);
  return Math.ceil(x / mag - 1e-9) * mag;
}

export interface CapacityInput {
  /** Peak egress demand across all gateways, bytes/s (what went out plus what queued behind the cap). */
  peakTotalBytesPerSecond: number;
  /** The busiest single instance's peak demand, bytes/s (connections are not spread perfectly evenly). */
  peakInstanceBytesPerSecond: number;
  instances: number;
  /** Expected traffic growth before the next review, e.g. 0.2 for 20 %. */
  growth: number;
  /** Utilisation the new capacity should run at, at peak, e.g. 0.7. */
  targetUtilisation: number;
  /** The current per-instance caps, bytes/s. */
  currentCaps: number[];
}

export interface Capacity {
  /** Total egress capacity needed: peak x (1 + growth) / target utilisation. */
  requiredTotalBytesPerSecond: number;
  /** Cap each instance needs (vertical), rounded up to two significant figures. */
  requiredPerInstanceBytesPerSecond: number;
  /** Instances needed at the smallest current cap (horizontal). */
  requiredInstances: number;
  /** Whether the current caps already suffice. */
  sufficient: boolean;
}

export function requiredCapacity(i: CapacityInput): Capacity {
  if (!(i.targetUtilisation > 0 && i.targetUtilisation <= 1))
    throw new RangeError(`targetUtilisation must be in (0, 1], got ${i.targetUtilisation}`);
  if (!(i.growth >= 0)) throw new RangeError(`growth must be >= 0, got ${i.growth}`);
  const factor = (1 + i.growth) / i.targetUtilisation;
  const total = i.peakTotalBytesPerSecond * factor;
  const n = Math.max(1, i.instances);
  const perInstance = niceCeil(Math.max(total / n, i.peakInstanceBytesPerSecond * factor, 1024));
  const minCap = i.currentCaps.length > 0 ? Math.min(...i.currentCaps) : 0;
  // Horizontal keeps the per-instance cap; the busiest instance's share shrinks as instances are added.
  const requiredInstances = minCap > 0 ? Math.max(n, Math.ceil(total / minCap)) : n;
  const sufficient = i.currentCaps.length > 0 && i.currentCaps.every((c) => c >= perInstance);
  return {
    requiredTotalBytesPerSecond: total,
    requiredPerInstanceBytesPerSecond: perInstance,
    requiredInstances,
    sufficient,
  };
}

export interface Window {
  /** First hour of the window (UTC) and its length in whole hours. */
  startHour: number;
  hours: number;
  /** Average traffic in the window's hours that have samples, bytes/s. */
  expectedBytesPerSecond: number | null;
  /** Hours of the day with samples behind the choice. */
  hoursOfDayKnown: number;
  /** True when the history does not cover the whole day (or the window): the window is a best guess. */
  bestGuess: boolean;
  note: string;
}

const hh = (h: number) => `${String(h % 24).padStart(2, "0")}:00`;

/**
 * The quietest run of `ceil(2 x estimate)` hours in the hourly profile (the seed sizes the window at twice the
 * estimated duration). Hours without history count as busy as the busiest known hour, so a window over unknown
 * hours is only chosen when nothing better exists; ties go to the window that starts soonest after `nowHour`.
 */
export function lowTrafficWindow(
  profile: HourBucket[],
  estimateMinutes: number,
  historyHours: number,
  nowHour: number,
): Window {
  const hours = Math.min(24, Math.max(1, Math.ceil((2 * estimateMinutes) / 60)));
  const byHour = new Map(profile.map((b) => [b.hour, b.avg]));
  const known = [...byHour.values()];
  const worst = known.length > 0 ? Math.max(...known) : 0;
  let best: { start: number; score: number; unknown: number; sum: number; n: number } | null = null;
  for (let k = 1; k <= 24; k++) {
    const start = (nowHour + k) % 24;
    let score = 0;
    let unknown = 0;
    let sum = 0;
    let n = 0;
    for (let j = 0; j < hours; j++) {
      const v = byHour.get((start + j) % 24);
      if (v === undefined) {
        unknown++;
        score += worst;
      } else {
        score += v;
        sum += v;
        n++;
      }
    }
    if (best === null || score < best.score || (score === best.score && unknown < best.unknown))
      best = { start, score, unknown, sum, n };
  }
  const b = best ?? { start: (nowHour + 1) % 24, score: 0, unknown: hours, sum: 0, n: 0 };
  const bestGuess = byHour.size < 24 || b.unknown > 0;
  const span = `${hh(b.start)}-${hh(b.start + hours)} UTC`;
  const history =
    historyHours < 1 ? `${Math.round(historyHours * 60)} minute(s)` : `${Math.round(historyHours * 10) / 10} hour(s)`;
  const basis = `${history} of traffic history covering ${byHour.size} of 24 hours of the day`;
  const note = bestGuess
    ? `${span} is a best guess from ${basis}; audit again after a full day of traffic for a measured window`
    : `${span}: the quietest ${hours} hour(s) in ${basis}`;
  return {
    startHour: b.start,
    hours,
    expectedBytesPerSecond: b.n > 0 ? b.sum / b.n : null,
    hoursOfDayKnown: byHour.size,
    bestGuess,
    note,
  };
}
