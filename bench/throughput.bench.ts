/**
 * throughput: sustained accepted 1:1 sends per second on the local target (acknowledged sends per second).
 *
 * A real platform (offset 12000) is brought up once; 200 senders and 800 receivers are registered once (batches of
 * 50). Every run connects all of them through nginx from two load processes (bench/lib/msg-client.ts, one
 * ImClient each, over fresh source addresses), each process with half the senders and half the receivers. Every
 * sender keeps 4 sends in flight, closed loop (a slot sends again as soon as its ack arrives), and every slot
 * sends to its own receiver, so no two slots contend for one receiver's seq row. After a 5 s warm-up, the acks
 * that arrive within the next 20 s are counted: the value is their number per second. Then the slots stop, and
 * every acknowledged message (warm-up included) must reach its receiver's 'message' event within 10 s after the
 * last send, or it is lost and the run fails loudly (as it does on a failed send); the stored inbox of 25
 * receivers per process is also pulled in full from seq 0 and must hold every message acknowledged to them, in
 * seq order 1, 2, 3, ... The services' histograms over the window are logged, to show where the time goes.
 *
 * Baseline, in the same run: the same load against a bare `ws` relay in a child process
 * (bench/lib/ws-baseline-server.ts, MODE=relay) that authenticates nothing, relays each send straight to the
 * receiver's socket and acks the sender (no storage): its acks per second, counted the same way.
 *
 * BENCH_THROUGHPUT_SENDERS (default 200), BENCH_THROUGHPUT_INFLIGHT (sends in flight per sender, default 4),
 * BENCH_THROUGHPUT_RECEIVERS (default senders x in flight), BENCH_THROUGHPUT_SECONDS (window, default 20) and
 * BENCH_THROUGHPUT_WARMUP_SECONDS (default 5) shrink a run for a quick check.
 */
import type { ChildProcess } from "node:child_process";
import { startPlatform, type TestPlatform } from "../test/helpers/platform.ts";
import { median, type Benchmark } from "./harness.ts";
import {
  connectShares,
  intFromEnv,
  percentile,
  platformTarget,
  progressLine,
  registerUsers,
  relayTarget,
  sayer,
  sourceAllocator,
  startLoadChildren,
  startRelay,
  stopChild,
  tokensFor,
  waitIdle,
  type Target,
} from "./lib/msg-bench.ts";
import { cpuSecondsOf, cpuSnapshot, type CpuSnapshot } from "./lib/cpu-groups.ts";
import { scrapeServices, serviceBreakdown } from "./lib/service-metrics.ts";

const OFFSET = 12_000;
/** Load processes: senders and receivers split evenly. */
export const PROCS = 2;
export const SENDERS = intFromEnv("BENCH_THROUGHPUT_SENDERS", 200, PROCS, 5000);
export const INFLIGHT = intFromEnv("BENCH_THROUGHPUT_INFLIGHT", 4, 1, 64);
export const RECEIVERS = intFromEnv("BENCH_THROUGHPUT_RECEIVERS", SENDERS * INFLIGHT, PROCS, 10_000);
const SECONDS = intFromEnv("BENCH_THROUGHPUT_SECONDS", 20, 1, 600);
const WARMUP_SECONDS = intFromEnv("BENCH_THROUGHPUT_WARMUP_SECONDS", 5, 0, 120);
const INBOX_SAMPLE = 25;
const GRACE_MS = 10_000;
const SEND_TIMEOUT_MS = 30_000;
const START_DELAY_MS = 2000;

const say = sayer("throughput");
// Apart from the latency benchmark's sources, should both run at once.
const sources = sourceAllocator(30_000);

let platform: TestPlatform | undefined;
let relay: { child: ChildProcess; port: number } | undefined;
/** Senders first, then receivers. */
let userIds: string[] = [];
const stats: Record<"platform" | "relay", { ackP99: number[]; lost: number[]; cpuPerMessage: number[] }> = {
  platform: { ackP99: [], lost: [], cpuPerMessage: [] },
  relay: { ackP99: [], lost: [], cpuPerMessage: [] },
};

/**
 * Process c's users (senders, then receivers, by index into userIds) and its slots by local index: `inflight` per
 * sender, each to its own receiver while receivers last (beyond SENDERS x INFLIGHT slots, receivers are shared).
 */
function planFor(c: number, inflight: number): { users: number[]; slots: Array<[number, number]> } {
  const senders = Array.from({ length: SENDERS }, (_, i) => i).filter((i) => i % PROCS === c);
  const receivers = Array.from({ length: RECEIVERS }, (_, i) => SENDERS + i).filter((i) => i % PROCS === c);
  const slots: Array<[number, number]> = [];
  for (let s = 0; s < senders.length; s++) {
    for (let j = 0; j < inflight; j++) slots.push([s, senders.length + ((s * inflight + j) % receivers.length)]);
  }
  return { users: [...senders, ...receivers], slots };
}

/** Figures of one session: acks per second in the window, their send-to-ack p99, acknowledged messages lost. */
export interface ThroughputFigures {
  perSecond: number;
  ackP99: number;
  lost: number;
  /** CPU ms of the target's own processes per acknowledged send in the window. */
  cpuPerMessage: number;
}

/**
 * One throughput session against `t` with the platform's users `ids` (senders first, then receivers; at least
 * the senders and receivers set here), `inflight` sends in flight per sender (default BENCH_THROUGHPUT_INFLIGHT):
 * throws on any lost, failed or misdelivered message. Also the overload benchmark's search for the capacity.
 */
export async function throughputSession(
  p: TestPlatform,
  ids: string[],
  t: Target,
  run: number,
  log: (s: string) => void,
  inflight = INFLIGHT,
): Promise<ThroughputFigures> {
  const tag = `${t.label} run ${run}${inflight === INFLIGHT ? "" : ` (${inflight} in flight)`}`;
  await waitIdle(t);
  const tokens = tokensFor(p, ids);
  const plans = Array.from({ length: PROCS }, (_, c) => planFor(c, inflight));
  const children = await startLoadChildren(PROCS, Math.max(...plans.map((pl) => pl.users.length)));
  try {
    await connectShares(
      children,
      t,
      plans.map((pl) => pl.users.map((u) => tokens[u] ?? { userId: "", token: "" })),
      sources,
      (s) => log(`${tag}: ${s}`),
    );
    const startAt = Date.now() + START_DELAY_MS;
    log(
      `${tag}: ${SENDERS} senders x ${inflight} in flight to ${RECEIVERS} receivers: ${WARMUP_SECONDS} s warm-up, then a ${SECONDS} s window`,
    );
    const scrape: {
      before: Promise<Awaited<ReturnType<typeof scrapeServices>> | null> | null;
      after: Promise<Awaited<ReturnType<typeof scrapeServices>> | null> | null;
    } = { before: null, after: null };
    const fail = (err: Error) => (log(`${tag}: scraping /metrics failed: ${err.message}`), null);
    const timers =
      t.kind === "platform"
        ? [
            setTimeout(
              () => (scrape.before = scrapeServices(p).catch(fail)),
              startAt + WARMUP_SECONDS * 1000 - Date.now(),
            ),
            setTimeout(
              () => (scrape.after = scrapeServices(p).catch(fail)),
              startAt + (WARMUP_SECONDS + SECONDS) * 1000 - Date.now(),
            ),
          ]
        : [];
    // The CPU the platform's own processes (the relay's, for the baseline) use over the window.
    const cpu: { start?: CpuSnapshot; end?: CpuSnapshot } = {};
    timers.push(
      setTimeout(() => (cpu.start = cpuSnapshot()), startAt + WARMUP_SECONDS * 1000 - Date.now()),
      setTimeout(() => (cpu.end = cpuSnapshot()), startAt + (WARMUP_SECONDS + SECONDS) * 1000 - Date.now()),
    );
    const ticker = setInterval(() => log(`${tag}: ${progressLine(children)}`), 5000);
    const replies = await (async () => {
      try {
        return await Promise.all(
          children.map((c, i) =>
            c.request(
              {
                t: "throughput",
                run: `${t.kind}-${run}-${Date.now().toString(36)}`,
                slots: plans[i]?.slots ?? [],
                startAt,
                warmupMs: WARMUP_SECONDS * 1000,
                windowMs: SECONDS * 1000,
                graceMs: GRACE_MS,
                sendTimeoutMs: SEND_TIMEOUT_MS,
                inboxSample: INBOX_SAMPLE,
              },
              "throughput-done",
              START_DELAY_MS + (WARMUP_SECONDS + SECONDS) * 1000 + GRACE_MS + 2 * SEND_TIMEOUT_MS + 5 * 60_000,
            ),
          ),
        );
      } finally {
        clearInterval(ticker);
        for (const timer of timers) clearTimeout(timer);
      }
    })();
    const [before, after] = await Promise.all([scrape.before, scrape.after]);
    if (before && after) for (const line of serviceBreakdown(before, after)) log(`${tag}: services (window): ${line}`);

    const sum = (
      k:
        | "sent"
        | "acked"
        | "failed"
        | "unsettled"
        | "lost"
        | "late"
        | "received"
        | "duplicates"
        | "misdelivered"
        | "reconnects"
        | "anomalies"
        | "windowAcks"
        | "inboxChecked"
        | "inboxMessages"
        | "inboxMissing"
        | "inboxSeqGaps",
    ) => replies.reduce((n, r) => n + r[k], 0);
    const perSecond = sum("windowAcks") / SECONDS;
    const ack = replies.flatMap((r) => r.ackLatencies).sort((a, b) => a - b);
    const lat = replies.flatMap((r) => r.latencies).sort((a, b) => a - b);
    const ackP99 = percentile(ack, 0.99);
    log(
      `${tag}: ${sum("windowAcks")} acks in the ${SECONDS} s window: ${perSecond.toFixed(1)} msg/s;` +
        ` send->ack p50 ${percentile(ack, 0.5).toFixed(1)} ms, p99 ${ackP99.toFixed(1)} ms; ` +
        `delivery (sent in the window) p50 ${percentile(lat, 0.5).toFixed(1)} ms, p99 ${percentile(lat, 0.99).toFixed(1)} ms`,
    );
    log(
      `${tag}: sent ${sum("sent")}, acked ${sum("acked")}, failed ${sum("failed")}, unsettled` +
        ` ${sum("unsettled")}, received ${sum("received")}, LOST ${sum("lost")}, late ${sum("late")} (stored, pushed` +
        ` after the ${GRACE_MS / 1000} s grace: the fan-out fell behind the stores); ` +
        `duplicates ${sum("duplicates")}, misdelivered ${sum("misdelivered")}, reconnects ${sum("reconnects")}, anomalies ${sum("anomalies")}` +
        (t.kind === "platform"
          ? `; stored inboxes checked in full: ${sum("inboxChecked")} receivers, ${sum("inboxMessages")}` +
            ` messages, ${sum("inboxMissing")} acknowledged missing, ${sum("inboxSeqGaps")} seq gaps`
          : ""),
    );
    const errors = replies.flatMap((r) => r.errors);
    const bad =
      sum("lost") + sum("failed") + sum("unsettled") + sum("misdelivered") + sum("inboxMissing") + sum("inboxSeqGaps");
    if (bad > 0) {
      throw new Error(
        `${tag}: ${sum("lost")} acknowledged messages LOST (not received within ${GRACE_MS / 1000} s after` +
          ` the last send, nor in the receiver's stored inbox), ${sum("inboxMissing")} missing from stored inboxes, ${sum("inboxSeqGaps")} inbox` +
          ` seq gaps, ` +
          `${sum("failed")} sends failed, ${sum("unsettled")} unsettled, ${sum("misdelivered")}` +
          ` misdelivered${errors.length ? `; errors: ${errors.join(", ")}` : ""}` +
          `${replies.some((r) => r.lostSamples.length) ? `; lost e.g. ${replies.flatMap((r) => r.lostSamples).join("; ")}` : ""}`,
      );
    }
    if (t.kind === "platform" && sum("inboxChecked") === 0) throw new Error(`${tag}: no stored inbox was checked`);
    if (sum("windowAcks") === 0) throw new Error(`${tag}: no send was acknowledged in the window`);
    // CPU per message: CPU seconds of the platform's processes (load clients excluded) over the window's acks.
    const roots = t.kind === "platform" ? p.pids() : relay ? [relay.child.pid ?? -1] : [];
    const cpuPerMessage =
      cpu.start && cpu.end ? (cpuSecondsOf(cpu.start, cpu.end, roots) * 1000) / sum("windowAcks") : NaN;
    log(`${tag}: CPU per message ${cpuPerMessage.toFixed(3)} ms (${t.label}'s own processes, the window)`);
    await Promise.all(children.map((c) => c.request({ t: "close" }, "closed", 60_000)));
    return { perSecond, ackP99, lost: sum("lost"), cpuPerMessage };
  } finally {
    await Promise.all(children.map((c) => c.stop()));
  }
}

function measured(kind: "platform" | "relay", f: ThroughputFigures): number {
  stats[kind].ackP99.push(f.ackP99);
  stats[kind].cpuPerMessage.push(f.cpuPerMessage);
  stats[kind].lost.push(f.lost);
  return f.perSecond;
}

const bench: Benchmark = {
  name: "throughput",
  unit: "msg/s",
  better: "higher",
  description:
    "Sustained accepted 1:1 sends per second: 200 senders (ImClient through nginx, two load processes)," +
    " each with 4 sends in flight (closed loop) to its own 4 of 800 connected receivers; acks arriving in" +
    " a 20 s window after a 5 s warm-up, per second. Afterwards every acknowledged message must have" +
    " reached its receiver's client within 10 s and 25 receivers per process have their stored inbox" +
    " pulled in full and checked (lost and failed sends fail the run). Extra RESULT lines: send-to-ack" +
    " p99 in the window, CPU per message (CPU seconds of the platform's own processes over the window's" +
    " acks; baseline: the relay process's), lost. Target: 5,000 msg/s or more (OpenIM reports about 3,000/s on a 16-core" +
    " box). Baseline: the same load against a bare `ws` relay in a child process that authenticates" +
    " nothing, relays each send straight to the receiver's socket and acks the sender (no storage).",
  async setup() {
    say(
      `bringing up a platform (offset ${OFFSET}); ${SENDERS} senders x ${INFLIGHT} in flight, ${RECEIVERS}` +
        ` receivers, ${WARMUP_SECONDS} s warm-up + ${SECONDS} s window per run`,
    );
    platform = await startPlatform(OFFSET);
    try {
      userIds = await registerUsers(platform, SENDERS + RECEIVERS, "tput", say);
      relay = await startRelay(platform);
      say(`relay baseline listening on port ${relay.port}`);
    } catch (err) {
      await bench.teardown?.();
      throw err;
    }
  },
  async teardown() {
    if (relay) await stopChild(relay.child);
    relay = undefined;
    if (platform) {
      await platform.down();
    }
    platform = undefined;
    userIds = [];
  },
  async measure(run) {
    if (!platform) throw new Error("no platform");
    return measured("platform", await throughputSession(platform, userIds, platformTarget(platform), run, say));
  },
  async baseline(run) {
    if (!platform || !relay) throw new Error("no relay baseline");
    return measured("relay", await throughputSession(platform, userIds, relayTarget(platform, relay.port), run, say));
  },
  extra() {
    const m = (xs: number[]) => (xs.length ? median(xs) : null);
    return [
      {
        name: "throughput-ack-p99",
        value: m(stats.platform.ackP99) ?? NaN,
        unit: "ms",
        baseline: m(stats.relay.ackP99),
      },
      {
        name: "throughput-cpu-per-message",
        value: m(stats.platform.cpuPerMessage) ?? NaN,
        unit: "ms",
        baseline: m(stats.relay.cpuPerMessage),
      },
      {
        name: "throughput-lost",
        value: Math.max(0, ...stats.platform.lost),
        unit: "messages",
        baseline: stats.relay.lost.length ? Math.max(0, ...stats.relay.lost) : null,
      },
    ];
  },
};

export default bench;
