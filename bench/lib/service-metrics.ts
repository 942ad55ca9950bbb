/**
 * The services' Prometheus histograms around a benchmark run: what part of the time is storing, fan-out, push, and
 * the CPU each part of the platform used meanwhile.
 */
import { availableParallelism } from "node:os";
import type { TestPlatform } from "../../test/helpers/platform.ts";
import { cpuByGroup, cpuSnapshot, processTree, type CpuSnapshot } from "./cpu-groups.ts";

interface Histogram {
  /** Cumulative counts by upper bound (Infinity for +Inf). */
  buckets: Map<number, number>;
  count: number;
  sum: number;
}

export interface Scrape {
  at: number;
  gateway: string[];
  message: string[];
  /** CPU time of every process on the machine (see cpuGroup). */
  cpu: CpuSnapshot;
  /** This platform's processes at the time (the components' process trees). */
  platform: Set<number>;
}

/** The /metrics text of every gateway and message-service instance. */
export async function scrapeServices(p: TestPlatform): Promise<Scrape> {
  const host = p.spec.local.bindAddress;
  const get = async (port: number) => {
    const res = await fetch(`http://${host}:${port}/metrics`, { signal: AbortSignal.timeout(10_000) });
    if (res.status !== 200) throw new Error(`GET http://${host}:${port}/metrics answered ${res.status}`);
    return res.text();
  };
  const range = (first: number, n: number) => Array.from({ length: n }, (_, i) => first + i);
  const [gateway, message] = await Promise.all([
    Promise.all(range(p.spec.local.ports.gateway, p.spec.services.gateway.replicas).map(get)),
    Promise.all(range(p.spec.local.ports.message, p.spec.services.message.replicas).map(get)),
  ]);
  const cpu = cpuSnapshot();
  return { at: Date.now(), gateway, message, cpu, platform: processTree(cpu, p.pids()) };
}

/** A counter or gauge summed over instances (first sample per instance text). */
function scalar(texts: string[], name: string): number {
  let total = 0;
  for (const text of texts) {
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text);
    if (m) total += Number(m[1]);
  }
  return total;
}

/** The largest value of a gauge over instances. */
function maxScalar(texts: string[], name: string): number {
  return Math.max(0, ...texts.map((t) => scalar([t], name)));
}

/** One histogram summed over instances; `labels` must all match (e.g. kind="user"). */
function histogram(texts: string[], name: string, labels: Record<string, string> = {}): Histogram {
  const h: Histogram = { buckets: new Map(), count: 0, sum: 0 };
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const text of texts) {
    for (const line of text.split("\n")) {
      if (!line.startsWith(name)) continue;
      const m = /^([a-z_]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
      if (!m) continue;
      const [, metric, labelText = "", value] = m;
      if (!want.every((w) => labelText.includes(w))) continue;
      const v = Number(value);
      if (metric === `${name}_bucket`) {
        const le = /le="([^"]+)"/.exec(labelText)?.[1];
        const bound = le === "+Inf" ? Infinity : Number(le);
        h.buckets.set(bound, (h.buckets.get(bound) ?? 0) + v);
      } else if (metric === `${name}_count`) h.count += v;
      else if (metric === `${name}_sum`) h.sum += v;
    }
  }
  return h;
}

function minus(a: Histogram, b: Histogram): Histogram {
  const buckets = new Map<number, number>();
  for (const [le, n] of a.buckets) buckets.set(le, n - (b.buckets.get(le) ?? 0));
  return { buckets, count: a.count - b.count, sum: a.sum - b.sum };
}

/** histogram_quantile: linear within the bucket; "> x" when it falls in +Inf. */
function quantile(h: Histogram, q: number): string {
  if (h.count <= 0) return "n/a";
  const rank = q * h.count;
  let prevLe = 0;
  let prevN = 0;
  for (const [le, n] of [...h.buckets].sort((x, y) => x[0] - y[0])) {
    if (n >= rank) {
      if (le === Infinity) return `>${(prevLe * 1000).toFixed(0)}`;
      const v = n === prevN ? le : prevLe + ((le - prevLe) * (rank - prevN)) / (n - prevN);
      return (v * 1000).toFixed(1);
    }
    prevLe = le;
    prevN = n;
  }
  return "n/a";
}

const SERVICE_HISTOGRAMS: Array<{
  label: string;
  tier: "gateway" | "message";
  name: string;
  labels?: Record<string, string>;
}> = [
  {
    label: "gateway send frame (ack)",
    tier: "gateway",
    name: "im_gateway_frame_duration_seconds",
    labels: { type: "send" },
  },
  {
    label: "message store (DB + Kafka)",
    tier: "message",
    name: "im_message_store_duration_seconds",
    labels: { kind: "user" },
  },
  { label: "  of which DB transaction", tier: "message", name: "im_message_db_duration_seconds" },
  { label: "  of which Kafka append (acks=all)", tier: "message", name: "im_message_kafka_duration_seconds" },
  {
    label: "message POST /internal/v1/messages/batch",
    tier: "message",
    name: "im_request_duration_seconds",
    labels: { route: "/internal/v1/messages/batch" },
  },
  { label: "Kafka append -> fan-out", tier: "message", name: "im_message_fanout_lag_seconds" },
  { label: "fan-out batch", tier: "message", name: "im_message_fanout_batch_duration_seconds" },
  { label: "store -> gateway push (im_delivery_latency)", tier: "gateway", name: "im_delivery_latency_seconds" },
  { label: "gateway pull frame", tier: "gateway", name: "im_gateway_frame_duration_seconds", labels: { type: "pull" } },
  // Inside the message service (fastify's elapsed time): the rest of a gateway frame's time is queueing in the
  // gateway's upstream pool and on the way.
  {
    label: "message GET /internal/v1/inbox",
    tier: "message",
    name: "im_request_duration_seconds",
    labels: { route: "/internal/v1/inbox" },
  },
];

/**
 * Where the time went between two scrapes: count, mean, p50 and p99 (ms, from buckets) per histogram; then the
 * CPU the gateways and message instances used (cores, summed over instances) and their event-loop lag (p99 of
 * the last sampling interval, the worst instance).
 */
export function serviceBreakdown(before: Scrape, after: Scrape): string[] {
  const lines = SERVICE_HISTOGRAMS.map((s) => {
    const h = minus(histogram(after[s.tier], s.name, s.labels), histogram(before[s.tier], s.name, s.labels));
    const mean = h.count > 0 ? ((h.sum / h.count) * 1000).toFixed(1) : "n/a";
    return `${s.label}: n=${h.count}, mean ${mean} ms, p50 ${quantile(h, 0.5)} ms, p99 ${quantile(h, 0.99)} ms`;
  });
  const seconds = Math.max(0.001, (after.at - before.at) / 1000);
  for (const tier of ["gateway", "message"] as const) {
    const cpu =
      (scalar(after[tier], "im_process_process_cpu_seconds_total") -
        scalar(before[tier], "im_process_process_cpu_seconds_total")) /
      seconds;
    const lag = maxScalar(after[tier], "im_process_nodejs_eventloop_lag_p99_seconds") * 1000;
    lines.push(
      `${tier} instances: ${cpu.toFixed(2)} cores of CPU over ${seconds.toFixed(0)} s; event-loop lag p99 (worst instance, last interval) ${lag.toFixed(1)} ms`,
    );
  }
  // The whole machine: on these 2 cores the platform and its load clients share the CPU, and a busy machine
  // shows up as queueing in every histogram above.
  // This platform's processes by group; everything else on the machine (the load clients, another platform or
  // build beside it) as one figure each.
  const sumOf = (gs: Array<{ cores: number }>) => gs.reduce((n, g) => n + g.cores, 0);
  const mine = cpuByGroup(before.cpu, after.cpu, seconds, after.platform).filter((g) => g.cores >= 0.005);
  const all = cpuByGroup(before.cpu, after.cpu, seconds);
  const clients = sumOf(all.filter((g) => g.group === "load clients"));
  const rest = sumOf(all) - sumOf(mine) - clients;
  lines.push(
    `CPU by process group: ${sumOf(all).toFixed(2)} of ${availableParallelism()} cores busy; this platform` +
      ` ${sumOf(mine).toFixed(2)}: ${mine.map((g) => `${g.group} ${g.cores.toFixed(2)}`).join(", ")}; load clients` +
      ` ${clients.toFixed(2)}; the rest of the machine ${Math.max(0, rest).toFixed(2)}`,
  );
  return lines;
}
