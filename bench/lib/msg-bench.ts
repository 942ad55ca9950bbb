/**
 * Parent-side pieces shared by the message benchmarks (latency, throughput): the load processes
 * (bench/lib/msg-client.ts) and their IPC, the relay baseline server (bench/lib/ws-baseline-server.ts, MODE=relay),
 * users and tokens, fresh source addresses, waiting for a target to hold no connections, and the services'
 * Prometheus histograms (what part of the time is storing, fan-out, push).
 */
import { fork, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "../../base/root.mjs";
import { issueToken, parseKeyRing } from "../../services/lib/tokens.ts";
import { makeUsers, type TestPlatform } from "../../test/helpers/platform.ts";
import { IpcChild, stopChild } from "./ipc-child.ts";
import type { LoadCommand, LoadReport, TargetKind } from "./msg-client.ts";
import { sleep } from "../../base/sleep.ts";

export { stopChild };

const LOAD_SCRIPT = join(REPO_ROOT, "bench", "lib", "msg-client.ts");
const BASELINE_SCRIPT = join(REPO_ROOT, "bench", "lib", "ws-baseline-server.ts");

export function sayer(name: string): (s: string) => void {
  const t0 = Date.now();
  return (s) => process.stderr.write(`[${name} ${((Date.now() - t0) / 1000).toFixed(0)}s] ${s}\n`);
}

/** A positive integer from the environment, `fallback` when unset; anything else is refused. */
export function intFromEnv(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new Error(
      `${name}: got ${JSON.stringify(raw)}; allowed: an integer from ${min} to ${max} (unset: ${fallback})`,
    );
  return n;
}

/** Registers `n` users in batches of 50 (registration hashes passwords: slow-ish). Returns their ids. */
export async function registerUsers(
  p: TestPlatform,
  n: number,
  prefix: string,
  say: (s: string) => void,
): Promise<string[]> {
  const ids: string[] = [];
  const t0 = Date.now();
  for (let made = 0; made < n; made += 50) {
    const batch = await makeUsers(p.api, Math.min(50, n - made), prefix);
    ids.push(...batch.map((u) => u.userId));
    if (ids.length % 500 === 0 || ids.length === n)
      say(`${ids.length}/${n} users registered (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  }
  return ids;
}

/** Fresh tokens (one hour) for `ids`, signed with the platform's active key: no session outlives its token. */
export function tokensFor(p: TestPlatform, ids: string[]): Array<{ userId: string; token: string }> {
  const ring = parseKeyRing(p.secrets.tokenKeys, p.secrets.tokenActiveKid);
  return ids.map((userId) => ({ userId, token: issueToken(ring, userId, 3600).token }));
}

/** Fisher-Yates, in place. */
export function shuffle<T>(xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [xs[i], xs[j]] = [xs[j] as T, xs[i] as T];
  }
  return xs;
}

/**
 * Source addresses for client sockets, fresh for every session so no session meets an earlier one's TIME_WAIT.
 * `base` keeps benchmarks apart (the connections benchmark starts at 127.0.0.2).
 */
export function sourceAllocator(base: number): (n: number) => string[] {
  let next = 0;
  return (n) =>
    Array.from({ length: n }, () => {
      const i = (base + next++) % (250 * 250);
      return `127.${1 + Math.floor(i / 250)}.0.${2 + (i % 250)}`;
    });
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN;
}

/** One load process: progress reports update `progress`; a `failed` report fails every pending request. */
export class LoadChild extends IpcChild<LoadCommand, LoadReport> {
  progress = { sent: 0, acked: 0, failed: 0, received: 0 };

  constructor(readonly index: number) {
    super(LOAD_SCRIPT, `load process ${index}`);
  }

  protected onReport(m: LoadReport): boolean {
    if (m.t === "progress") {
      this.progress = { sent: m.sent, acked: m.acked, failed: m.failed, received: m.received };
      return true;
    }
    if (m.t === "failed") {
      this.failAll(new Error(`load process ${this.index}: ${m.error}`));
      return true;
    }
    return false;
  }
}

/** Starts `n` load processes and waits for each to be ready (60 s at most). */
export async function startLoadChildren(n: number, perChild: number): Promise<LoadChild[]> {
  const children = Array.from({ length: n }, (_, i) => new LoadChild(i));
  try {
    await Promise.all(children.map((c) => c.request(null, "ready", 60_000)));
    for (const c of children) {
      if (c.fdLimit !== null && perChild + 100 > c.fdLimit)
        throw new Error(`${perChild} connections per load process exceed its descriptor limit ${c.fdLimit}`);
    }
    return children;
  } catch (err) {
    await Promise.all(children.map((c) => c.stop()));
    throw err;
  }
}

/** Ends a child: `ask` (default SIGTERM), then SIGKILL after 5 s. */

/** The relay baseline (ws-baseline-server.ts, MODE=relay) in a child process, on an ephemeral port. */
export async function startRelay(p: TestPlatform): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(BASELINE_SCRIPT, [], {
    cwd: REPO_ROOT,
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    env: {
      ...process.env,
      MODE: "relay",
      HOST: p.spec.local.bindAddress,
      INTERNAL_TOKEN: p.secrets.internalToken,
      MAX_CONNECTIONS: "0",
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the relay ws server did not listen within 60 s")), 60_000);
    child.once("message", (m: { t: string; port: number }) => {
      clearTimeout(timer);
      resolve(m.port);
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the relay ws server exited (${code})`));
    });
  });
  return { child, port };
}

/** What a session connects to: the platform (through nginx) or the relay. */
export interface Target {
  label: string;
  kind: TargetKind;
  url: string;
  /** Servers that report their connections at /internal/v1/connections (every gateway, or the relay). */
  servers: string[];
  internalToken: string;
}

export function platformTarget(p: TestPlatform): Target {
  const host = p.spec.local.bindAddress;
  const gateways = Array.from(
    { length: p.spec.services.gateway.replicas },
    (_, i) => `http://${host}:${p.spec.local.ports.gateway + i}`,
  );
  return {
    label: "platform",
    kind: "platform",
    url: p.wsUrl,
    servers: gateways,
    internalToken: p.secrets.internalToken,
  };
}

export function relayTarget(p: TestPlatform, port: number): Target {
  const host = p.spec.local.bindAddress;
  return {
    label: "ws relay",
    kind: "relay",
    url: `ws://${host}:${port}/ws`,
    servers: [`http://${host}:${port}`],
    internalToken: p.secrets.internalToken,
  };
}

/** Waits until every server of `t` holds no connection (an earlier session's closes have landed). */
export async function waitIdle(t: Target, deadlineMs = 90_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const counts = await Promise.all(
      t.servers.map(async (s) => {
        const res = await fetch(`${s}/internal/v1/connections`, {
          headers: { "x-im-internal": t.internalToken },
          signal: AbortSignal.timeout(10_000),
        });
        if (res.status !== 200) throw new Error(`${s}: GET /internal/v1/connections answered ${res.status}`);
        return ((await res.json()) as { connections: number }).connections;
      }),
    );
    const total = counts.reduce((a, b) => a + b, 0);
    if (total === 0) return;
    if (Date.now() >= end) throw new Error(`${t.label}: still ${total} connections after ${deadlineMs / 1000} s`);
    await sleep(250);
  }
}

/** Connects `users` spread over `children` (contiguous shares), each process from its own fresh sources. */
export async function connectShares(
  children: LoadChild[],
  t: Target,
  shares: Array<Array<{ userId: string; token: string }>>,
  sources: (n: number) => string[],
  say: (s: string) => void,
): Promise<void> {
  const perSource = 1000;
  const started = Date.now();
  const replies = await Promise.all(
    children.map((c, i) => {
      const users = shares[i] ?? [];
      return c.request(
        {
          t: "connect",
          kind: t.kind,
          url: t.url,
          users,
          sources: sources(Math.max(1, Math.ceil(users.length / perSource))),
          perSource,
          concurrency: 32,
          timeoutMs: 20_000,
        },
        "connected",
        10 * 60_000,
      );
    }),
  );
  const connected = replies.reduce((n, r) => n + r.connected, 0);
  const failed = replies.reduce((n, r) => n + r.failed, 0);
  const stale = replies.reduce((n, r) => n + r.stale, 0);
  say(
    `${t.label}: ${connected} clients connected in ${((Date.now() - started) / 1000).toFixed(1)} s${stale ? ` (${stale} messages of earlier sessions pulled again and ignored)` : ""}`,
  );
  if (failed > 0)
    throw new Error(`${t.label}: ${failed} clients did not connect: ${replies.flatMap((r) => r.errors).join(", ")}`);
}

/** Every load process's progress, summed, for the log. */
export function progressLine(children: LoadChild[]): string {
  const sum = (k: keyof LoadChild["progress"]) => children.reduce((n, c) => n + c.progress[k], 0);
  return `sent ${sum("sent")}, acked ${sum("acked")}, failed ${sum("failed")}, received ${sum("received")}`;
}

// ---- The services' Prometheus histograms ----

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
  /** CPU time (clock ticks) of every process on the machine, by pid, with its group (see cpuGroup). */
  cpu: Map<number, { group: string; ticks: number }>;
}

/** /proc reports CPU time in USER_HZ ticks, 100 a second on Linux whatever the kernel's own tick rate. */
const USER_HZ = 100;

/** Which part of the platform (or of the benchmark) a process is, from its command line. */
export function cpuGroup(cmdline: string): string {
  const groups: Array<[RegExp, string]> = [
    [/kafka\.Kafka/, "kafka"],
    [/redis-server/, "redis"],
    [/mariadbd/, "mariadb"],
    [/^nginx/, "nginx"],
    [/\/prometheus /, "prometheus"],
    [/-exporter/, "exporters"],
    [/services\/gateway\//, "gateways"],
    [/services\/message\//, "message"],
    [/services\/user-center\//, "user-center"],
    [/bench\/lib\/(msg-client|conn-client)/, "load clients"],
    [/ws-baseline-server/, "baseline server"],
  ];
  return groups.find(([re]) => re.test(cmdline))?.[1] ?? "other";
}

/** Every process's CPU time so far (processes that cannot be read, or are gone, are left out). */
function cpuSnapshot(): Map<number, { group: string; ticks: number }> {
  const out = new Map<number, { group: string; ticks: number }>();
  if (process.platform !== "linux") return out;
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const cmdline = readFileSync(`/proc/${name}/cmdline`, "utf8").replaceAll("\0", " ");
      out.set(Number(name), { group: cpuGroup(cmdline), ticks: Number(fields[11]) + Number(fields[12]) });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** Cores used per group between two snapshots, largest first. */
export function cpuByGroup(
  before: Scrape["cpu"],
  after: Scrape["cpu"],
  seconds: number,
): Array<{ group: string; cores: number }> {
  const sum = new Map<string, number>();
  for (const [pid, a] of after) {
    const b = before.get(pid);
    if (b === undefined) continue;
    sum.set(a.group, (sum.get(a.group) ?? 0) + (a.ticks - b.ticks));
  }
  return [...sum]
    .map(([group, ticks]) => ({ group, cores: ticks / USER_HZ / seconds }))
    .sort((x, y) => y.cores - x.cores);
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
  return { at: Date.now(), gateway, message, cpu: cpuSnapshot() };
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
  const groups = cpuByGroup(before.cpu, after.cpu, seconds).filter((g) => g.cores >= 0.005);
  const total = groups.reduce((n, g) => n + g.cores, 0);
  lines.push(
    `CPU by process group: ${total.toFixed(2)} of ${availableParallelism()} cores busy: ${groups.map((g) => `${g.group} ${g.cores.toFixed(2)}`).join(", ")}`,
  );
  return lines;
}
