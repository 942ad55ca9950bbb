/**
 * chaos: random SIGKILLs of every component kind under a steady load of retrying clients (issue 22).
 *
 * One platform (offset 6500) for every run. Each run: 20 senders (ImClient through nginx) each send one message at
 * a time to their own receiver, 5 a second, retrying every send with the same client message id until it is
 * acknowledged; the 20 receivers follow the push rule to the letter (test/helpers/letter-client.ts) and reconnect
 * when cut. Meanwhile a seeded schedule kills (SIGKILL, the whole process group) one component after another, every
 * kind once before any twice: a gateway, a message instance, user-center, a Redis primary, a Kafka broker, MariaDB,
 * nginx; it waits 3-8 s, restores with `imctl local up` (which must succeed: the component comes back, the Redis
 * cluster keeps its promoted replica), and waits 8-15 s before the next kill. Then the load stops and every send
 * still unacknowledged is retried to the end.
 *
 * Checked at the end (a failure fails the run): every send acknowledged; every receiver's stored inbox, pulled in
 * full from seq 0, holds seqs 1..N without a gap, each acknowledged message once (acknowledged-and-lost 0, stored
 * twice 0); the letter-abiding receivers took no push across a hole (live gaps 0) and caught up with the inbox.
 * Value: the longest send outage in seconds (for one sender, the longest time between two acknowledgements that
 * spans a kill); one extra line per component kind with its own longest outage.
 *
 * BENCH_CHAOS_SECONDS (default 300, the time faults are injected) and BENCH_CHAOS_SEED (default: random; printed)
 * shape a run; run r uses seed + r - 1.
 */
import { connect as tcp } from "node:net";
import { sleep } from "../base/sleep.ts";
import { rng, type Rng } from "../base/prng.ts";
import { ImClient } from "../services/lib/client/index.ts";
import type { PullResult } from "../services/lib/protocol.ts";
import { LetterClient } from "../test/helpers/letter-client.ts";
import { startPlatform, type TestPlatform } from "../test/helpers/platform.ts";
import { median, type Benchmark } from "./harness.ts";
import { intFromEnv, registerUsers, sayer, tokensFor } from "./lib/msg-bench.ts";

const OFFSET = 6500;
const SECONDS = intFromEnv("BENCH_CHAOS_SECONDS", 300, 30, 3600);
const SEED = intFromEnv("BENCH_CHAOS_SEED", Math.floor(Math.random() * 2 ** 31), 0, 2 ** 31);
const PAIRS = 20;
const SEND_EVERY_MS = 200;
/** How long the end waits for the last sends to be acknowledged and the receivers to catch up. */
const SETTLE_MS = 120_000;
export const KINDS = [
  "gateway",
  "message",
  "user-center",
  "redis-primary",
  "kafka-broker",
  "mariadb",
  "nginx",
] as const;
type Kind = (typeof KINDS)[number];

const say = sayer("chaos");
let platform: TestPlatform | undefined;
let userIds: string[] = [];
const longest: Record<Kind | "all", number[]> = Object.fromEntries(
  [...KINDS, "all"].map((k) => [k, [] as number[]]),
) as Record<Kind | "all", number[]>;

/** The role Redis reports for the node at `port` ("master", "slave"), or "" when it does not answer. */
function redisRole(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = tcp({ host, port });
    let data = "";
    s.setTimeout(1500, () => (s.destroy(), resolve("")));
    s.once("connect", () => s.write("ROLE\r\n"));
    s.on("data", (d) => {
      data += d.toString();
      const m = /^\*\d+\r\n\$\d+\r\n(\w+)\r\n/.exec(data);
      if (m) {
        s.destroy();
        resolve(m[1] ?? "");
      }
    });
    s.once("error", () => resolve(""));
  });
}

/** The component a fault of `kind` kills now. */
async function victim(p: TestPlatform, kind: Kind, r: Rng): Promise<string> {
  const n = (k: "gateway" | "message" | "userCenter") => p.spec.services[k].replicas;
  switch (kind) {
    case "gateway":
      return `gateway-${r.int(1, n("gateway"))}`;
    case "message":
      return `message-${r.int(1, n("message"))}`;
    case "user-center":
      return `user-center-${r.int(1, n("userCenter"))}`;
    case "kafka-broker":
      return `kafka-${r.int(1, 3)}`;
    case "mariadb":
    case "nginx":
      return kind;
    case "redis-primary": {
      const primaries: string[] = [];
      for (let i = 1; i <= 6; i++)
        if ((await redisRole(p.spec.local.bindAddress, p.spec.local.ports.redis + i - 1)) === "master")
          primaries.push(`redis-${i}`);
      return r.pick(primaries);
    }
  }
}

interface Fault {
  kind: Kind;
  component: string;
  killedAt: number;
  restoredAt: number;
}

/** Kills one component after another until `until`, every kind once before any twice; restores each. */
async function inject(p: TestPlatform, r: Rng, until: number, tag: string): Promise<Fault[]> {
  const faults: Fault[] = [];
  let bag: Kind[] = [];
  while (Date.now() < until) {
    await sleep(r.int(8000, 15_000));
    if (Date.now() >= until) break;
    if (bag.length === 0) bag = [...KINDS].sort(() => r.next() - 0.5);
    const kind = bag.shift() as Kind;
    const component = await victim(p, kind, r);
    const pid = p.pid(component);
    const killedAt = Date.now();
    process.kill(-pid, "SIGKILL");
    say(`${tag}: killed ${component} (${kind}, pid ${pid})`);
    await sleep(r.int(3000, 8000));
    const up = await p.run("local", "up");
    if (up.exitCode !== 0)
      throw new Error(`${tag}: imctl local up after killing ${component} failed (exit ${up.exitCode}): ${up.stderr}`);
    faults.push({ kind, component, killedAt, restoredAt: Date.now() });
    say(`${tag}: ${component} restored by imctl local up in ${((Date.now() - killedAt) / 1000).toFixed(1)} s`);
  }
  return faults;
}

interface SendRec {
  sentAt: number;
  ackAt: number | null;
  messageId: string | null;
}

/** Sender i: one send at a time, each retried with its client message id until acknowledged or `give up`. */
async function sender(c: ImClient, to: string, run: string, i: number, stopAt: () => number, recs: SendRec[]) {
  for (let n = 0; Date.now() < stopAt(); n++) {
    const rec: SendRec = { sentAt: Date.now(), ackAt: null, messageId: null };
    recs.push(rec);
    const cmid = `${run}-${i}-${n}`;
    while (rec.ackAt === null) {
      try {
        const res = await c.send({ kind: "user", id: to }, cmid, { cmid, timeoutMs: 30_000 });
        rec.ackAt = Date.now();
        rec.messageId = res.messageId;
      } catch (err) {
        if (Date.now() > stopAt() + SETTLE_MS) throw new Error(`send ${cmid} never acknowledged: ${String(err)}`);
        await sleep(200);
      }
    }
    await sleep(SEND_EVERY_MS);
  }
}

/** For one sender: the longest time between two acknowledgements (or send and ack) that spans `at`. */
function outageAround(recs: SendRec[], from: number, to: number): number {
  const acks = recs.flatMap((r) => (r.ackAt === null ? [] : [r.ackAt])).sort((a, b) => a - b);
  let worst = 0;
  for (let k = 1; k < acks.length; k++) {
    const a = acks[k - 1] ?? 0;
    const b = acks[k] ?? 0;
    if (b >= from && a <= to) worst = Math.max(worst, b - a);
  }
  return worst / 1000;
}

/** Pulls `c`'s inbox in full from seq 0. */
async function fullInbox(c: ImClient): Promise<PullResult["messages"]> {
  const all: PullResult["messages"] = [];
  for (let after = 0; ;) {
    const res = await c.request<PullResult>({ t: "pull", after, limit: 500 });
    all.push(...res.messages);
    const last = res.messages.at(-1);
    if (!last || res.messages.length < 500) return all;
    after = last.seq;
  }
}

async function session(p: TestPlatform, run: number): Promise<number> {
  const seed = SEED + run - 1;
  const tag = `run ${run} (seed ${seed})`;
  say(`${tag}: BENCH_CHAOS_SEED=${seed} replays this run's schedule; ${SECONDS} s of faults`);
  const r = rng(seed);
  const tokens = tokensFor(p, userIds);
  const runId = `chaos-${run}-${Date.now().toString(36)}`;
  const senders = tokens.slice(0, PAIRS).map((t) => new ImClient({ url: p.wsUrl, token: t.token }));
  const receivers = tokens.slice(PAIRS).map((t) => new LetterClient(p.wsUrl, t.token, true));
  const recs: SendRec[][] = senders.map(() => []);
  let stopAt = Infinity;
  try {
    await Promise.all([...senders.map((c) => c.connect()), ...receivers.map((c) => c.connect())]);
    const heads = await Promise.all(receivers.map((c) => c.head()));
    // Settled into a value at once: a sender that gives up must not be an unhandled rejection while faults run.
    const load = Promise.all(
      senders.map((c, i) => sender(c, tokens[PAIRS + i]?.userId ?? "", runId, i, () => stopAt, recs[i] ?? [])),
    ).then(
      () => null,
      (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
    );
    const faults = await inject(p, r, Date.now() + SECONDS * 1000, tag).finally(() => (stopAt = Date.now() + 5000));
    const failed = await load;
    if (failed) throw failed;
    // The receivers catch up: each takes up to its inbox head.
    const deadline = Date.now() + SETTLE_MS;
    const expect = recs.map((rs, i) => (heads[i] ?? 0) + rs.length);
    // A notification lost with a killed gateway is made good by the client's next pull (a real client syncs
    // periodically): one every 5 s for a receiver still behind.
    for (let k = 1; Date.now() < deadline && receivers.some((c, i) => c.last < (expect[i] ?? 0)); k++) {
      await sleep(500);
      if (k % 10 === 0) receivers.forEach((c, i) => c.last < (expect[i] ?? 0) && c.pull());
    }
    // The stored inboxes, in full, over a fresh connection each.
    let lost = 0;
    let twice = 0;
    let gaps = 0;
    for (const [i, c] of senders.entries()) {
      const reader = new ImClient({ url: p.wsUrl, token: tokens[PAIRS + i]?.token ?? "", syncIntervalMs: 0 });
      await reader.connect();
      const inbox = await fullInbox(reader).finally(() => reader.close());
      inbox.forEach((m, k) => (gaps += m.seq === k + 1 ? 0 : 1));
      const ids = new Map<string, number>();
      for (const m of inbox) if (m.body.startsWith(`${runId}-`)) ids.set(m.body, (ids.get(m.body) ?? 0) + 1);
      twice += [...ids.values()].filter((x) => x > 1).length;
      lost += (recs[i] ?? []).filter((_, n) => !ids.has(`${runId}-${i}-${n}`)).length;
      c.close();
    }
    const liveGaps = receivers.reduce((n, c) => n + c.liveGaps.length, 0);
    const behind = receivers.filter((c, i) => c.last < (expect[i] ?? 0)).length;
    const sent = recs.reduce((n, rs) => n + rs.length, 0);
    const per = new Map<Kind, number>();
    for (const f of faults) {
      const worst = Math.max(0, ...recs.map((rs) => outageAround(rs, f.killedAt, f.restoredAt)));
      per.set(f.kind, Math.max(per.get(f.kind) ?? 0, worst));
      say(`${tag}: ${f.component} (${f.kind}): longest send outage ${worst.toFixed(1)} s`);
    }
    const all = Math.max(0, ...per.values());
    say(
      `${tag}: ${faults.length} kills, ${sent} sends all acknowledged; stored inboxes: ${lost} acknowledged and lost,` +
        ` ${twice} stored twice, ${gaps} seq gaps; live gaps ${liveGaps}; receivers behind ${behind};` +
        ` receiver reconnect attempts ${receivers.reduce((n, c) => n + c.reconnects, 0)}; longest outage ${all.toFixed(1)} s`,
    );
    const missing = KINDS.filter((k) => !per.has(k));
    if (lost + twice + gaps + liveGaps + behind > 0 || missing.length > 0)
      throw new Error(
        `${tag}: lost ${lost}, stored twice ${twice}, inbox gaps ${gaps}, live gaps ${liveGaps}, receivers behind` +
          ` ${behind}${missing.length ? `; kinds never killed (make BENCH_CHAOS_SECONDS longer): ${missing}` : ""}`,
      );
    for (const k of KINDS) longest[k].push(per.get(k) ?? 0);
    longest.all.push(all);
    return all;
  } finally {
    stopAt = Math.min(stopAt, Date.now());
    for (const c of [...senders, ...receivers]) c.close();
  }
}

const bench: Benchmark = {
  name: "chaos",
  unit: "s",
  better: "lower",
  description:
    "Longest send outage (one sender's longest time between two acknowledgements that spans a kill) while every" +
    " component kind is SIGKILLed in a seeded order (gateway, message, user-center, a Redis primary, a Kafka" +
    " broker, MariaDB, nginx; 8-15 s apart, each restored by `imctl local up` after 3-8 s) for 300 s under 20" +
    " senders x 5 msg/s retrying by client message id, with 20 receivers that follow the push rule to the letter." +
    " A run fails on any acknowledged message lost, stored twice, an inbox seq gap, a live gap, a receiver that" +
    " does not catch up or a failed `imctl local up`. Extra lines: the longest outage per kind. No baseline.",
  async setup() {
    say(`bringing up a platform (offset ${OFFSET}); seed ${SEED}`);
    platform = await startPlatform(OFFSET);
    try {
      userIds = await registerUsers(platform, 2 * PAIRS, "chaos", say);
    } catch (err) {
      await bench.teardown?.();
      throw err;
    }
  },
  async teardown() {
    if (platform) await platform.down();
    platform = undefined;
  },
  async measure(run) {
    if (!platform) throw new Error("no platform");
    return session(platform, run);
  },
  extra() {
    return KINDS.map((k) => ({
      name: `chaos-${k}`,
      value: longest[k].length ? median(longest[k]) : NaN,
      unit: "s",
      baseline: null,
    }));
  },
};

export default bench;
