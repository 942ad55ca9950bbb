/**
 * Store-and-forward, the forwarding half: a Kafka consumer that turns stored-message events into inbox rows
 * (write diffusion, for groups up to the threshold) and notifications to the gateways holding the receivers.
 * At-least-once: offsets are committed after a batch is fully processed; replaying an event writes nothing twice
 * (an inbox row per user and message at most) and only repeats a harmless notification.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { ConnectionOptions } from "node:tls";
import { Base, Consumer, type MessagesStream, stringDeserializers, type Message } from "@platformatic/kafka";
import type { Cluster } from "ioredis";
import type mysql from "mysql2/promise";
import { request } from "undici";
import { inTransaction } from "../../lib/db.ts";
import { guardMissingBroker, keepConnectionErrorsHandled } from "../../lib/kafka.ts";
import { Pacer } from "../../lib/pacer.ts";
import type { Logger } from "../../lib/log.ts";
import { lookup } from "../../lib/presence.ts";
import {
  MAX_PUSHED_MESSAGES,
  storedEvent,
  type NotifyItem,
  type PushedMessage,
  type StoredEvent,
} from "../../lib/protocol.ts";
import type { MessageMetrics } from "./metrics.ts";

export interface FanoutDeps {
  db: mysql.Pool;
  redis: Cluster;
  log: Logger;
  metrics: MessageMetrics;
  internalToken: string;
  brokers: string[];
  /** TLS to the brokers, when on. */
  tls?: ConnectionOptions | undefined;
  topic: string;
  clientId: string;
  /** Least time between the starts of two fan-out batches (FANOUT_INTERVAL_MS); 0: as soon as events arrive. */
  intervalMs?: number;
}

const MAX_BATCH = 500;
/** How often the fan-out commits its consumer offsets (at most one interval of events is replayed after a crash). */
const COMMIT_INTERVAL_MS = 1000;
const CHUNK = 200;
/** The default least time between two fan-out batches of one instance. */
export const FANOUT_INTERVAL_MS = 10;

/** Writes one group message into the inboxes of `members` (write diffusion), once per member. */
async function writeInboxes(
  db: mysql.Pool,
  messageId: string,
  members: string[],
  ts: number | undefined,
): Promise<NotifyItem[]> {
  const out: NotifyItem[] = [];
  for (let i = 0; i < members.length; i += CHUNK) {
    const chunk = members.slice(i, i + CHUNK);
    const seqs = await inTransaction(db, async (c) => {
      const [done] = await c.query<mysql.RowDataPacket[]>(
        "SELECT user_id, seq FROM inbox WHERE message_id = ? AND user_id IN (?)",
        [messageId, chunk],
      );
      const have = new Map(done.map((r) => [String(r.user_id), Number(r.seq)]));
      const todo = chunk.filter((u) => !have.has(u));
      if (todo.length > 0) {
        // One statement locks every receiver's seq row, in user_id order (no deadlock with other fan-outs).
        await c.query(
          "INSERT INTO user_seq (user_id, last_seq) VALUES ? ON DUPLICATE KEY UPDATE last_seq = last_seq + 1",
          [todo.map((u) => [u, 1])],
        );
        const [now] = await c.query<mysql.RowDataPacket[]>(
          "SELECT user_id, last_seq FROM user_seq WHERE user_id IN (?)",
          [todo],
        );
        const assigned = now.map((r) => [String(r.user_id), Number(r.last_seq)] as const);
        await c.query("INSERT INTO inbox (user_id, seq, message_id) VALUES ?", [
          assigned.map(([u, s]) => [u, s, messageId]),
        ]);
        for (const [u, s] of assigned) have.set(u, s);
      }
      return have;
    });
    for (const [userId, seq] of seqs) out.push(ts === undefined ? { userId, seq } : { userId, seq, ts });
  }
  return out;
}

/**
 * Fans out a group's timeline up to the event's group seq, in group order, from the group's persisted cursor.
 * An event that arrives after a later one of the same group finds its entry already processed.
 */
export async function fanOutGroup(
  db: mysql.Pool,
  ev: Extract<StoredEvent, { kind: "group" }> & { ts?: number },
): Promise<NotifyItem[]> {
  const [[g]] = await db.query<mysql.RowDataPacket[]>(
    "SELECT diffusion, fanout_seq FROM im_groups WHERE group_id = ?",
    [ev.group],
  );
  if (!g || ev.groupSeq <= Number(g.fanout_seq)) return [];
  const [entries] = await db.query<mysql.RowDataPacket[]>(
    "SELECT t.group_seq, t.message_id, m.sender_id FROM group_timeline t JOIN messages m ON m.message_id = t.message_id WHERE t.group_id = ? AND t.group_seq > ? AND t.group_seq <= ? ORDER BY t.group_seq",
    [ev.group, Number(g.fanout_seq), ev.groupSeq],
  );
  const [rows] = await db.query<mysql.RowDataPacket[]>(
    "SELECT user_id, joined_group_seq FROM group_members WHERE group_id = ? ORDER BY user_id",
    [ev.group],
  );
  const out: NotifyItem[] = [];
  for (const e of entries) {
    const groupSeq = Number(e.group_seq);
    const sender = String(e.sender_id);
    const members = rows
      .filter((r) => Number(r.joined_group_seq) < groupSeq && String(r.user_id) !== sender)
      .map((r) => String(r.user_id));
    if (g.diffusion === "read") {
      for (const userId of members)
        out.push(
          ev.ts === undefined
            ? { userId, group: ev.group, groupSeq }
            : { userId, group: ev.group, groupSeq, ts: ev.ts },
        );
    } else {
      out.push(...(await writeInboxes(db, String(e.message_id), members, ev.ts)));
    }
  }
  await db.query("UPDATE im_groups SET fanout_seq = GREATEST(fanout_seq, ?) WHERE group_id = ?", [
    ev.groupSeq,
    ev.group,
  ]);
  return out;
}

/**
 * One notification per user (and per user and group): one push says "everything up to N". The messages that
 * ride along are merged in seq order; when one item lacks its message (an older event, a retried send) or there
 * are too many, none ride along and the client pulls.
 */
export function coalesce(items: NotifyItem[]): NotifyItem[] {
  const byKey = new Map<string, NotifyItem>();
  const msgs = new Map<string, PushedMessage[] | null>();
  for (const it of items) {
    const k = "group" in it ? `${it.userId}/${it.group}` : it.userId;
    const prev = byKey.get(k);
    const n = "group" in it ? it.groupSeq : it.seq;
    const p = prev === undefined ? -1 : "group" in prev ? prev.groupSeq : prev.seq;
    if (n > p) byKey.set(k, it);
    if (!("group" in it)) {
      const have = msgs.has(k) ? msgs.get(k) : [];
      msgs.set(k, have === null || have === undefined || it.msgs === undefined ? null : [...have, ...it.msgs]);
    }
  }
  return [...byKey].map(([k, it]) => {
    if ("group" in it) return it;
    const { msgs: _drop, ...bare } = it;
    const list = msgs.get(k);
    if (!list || list.length === 0 || list.length > MAX_PUSHED_MESSAGES) return bare;
    const bySeq = new Map(list.map((m) => [m.seq, m]));
    return { ...bare, msgs: [...bySeq.values()].sort((a, b) => a.seq - b.seq) };
  });
}

export async function notify(
  d: Pick<FanoutDeps, "redis" | "internalToken" | "log" | "metrics">,
  items: NotifyItem[],
): Promise<void> {
  if (items.length === 0) return;
  const where = await lookup(d.redis, [...new Set(items.map((i) => i.userId))]);
  const perGateway = new Map<string, NotifyItem[]>();
  for (const it of items) {
    for (const gw of where.get(it.userId) ?? []) {
      const list = perGateway.get(gw) ?? [];
      list.push(it);
      perGateway.set(gw, list);
    }
  }
  const requests = [...perGateway].flatMap(([gw, list]) => chunks(list).map((part) => [gw, part] as const));
  await Promise.all(
    requests.map(async ([gw, list]) => {
      try {
        const res = await request(`${gw}/internal/v1/notify`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-im-internal": d.internalToken },
          body: JSON.stringify({ items: list }),
          headersTimeout: 2000,
          bodyTimeout: 2000,
        });
        await res.body.dump();
        d.metrics.notifications.inc({ result: res.statusCode === 200 ? "ok" : "rejected" }, list.length);
      } catch (err) {
        // The gateway is gone: its clients reconnect elsewhere and pull, so nothing is lost.
        d.metrics.notifications.inc({ result: "unreachable" }, list.length);
        d.log.debug({ gw, err: (err as Error).message }, "notify failed");
      }
    }),
  );
}

/** Keeps one notify request well under the gateway's body limit when messages ride along. */
const NOTIFY_REQUEST_BYTES = 128 * 1024;

function chunks(items: NotifyItem[]): NotifyItem[][] {
  const out: NotifyItem[][] = [];
  let cur: NotifyItem[] = [];
  let bytes = 0;
  for (const it of items) {
    const size = 64 + ("msgs" in it && it.msgs ? it.msgs.reduce((n, m) => n + 96 + Buffer.byteLength(m.body), 0) : 0);
    if (cur.length > 0 && bytes + size > NOTIFY_REQUEST_BYTES) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(it);
    bytes += size;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

async function processBatch(d: FanoutDeps, batch: Array<Message<string, string, string, string>>): Promise<void> {
  const items: NotifyItem[] = [];
  const groups = new Map<string, Array<Extract<StoredEvent, { kind: "group" }> & { ts: number }>>();
  for (const m of batch) {
    const parsed = storedEvent.safeParse(safeJson(m.value));
    if (!parsed.success) {
      d.log.error({ offset: String(m.offset), partition: m.partition }, "skipping a malformed event");
      continue;
    }
    const ev = parsed.data;
    d.metrics.deliveryLag.observe((Date.now() - Number(m.timestamp)) / 1000);
    const ts = Number(m.timestamp);
    if (ev.kind === "user") {
      const msgs =
        ev.body !== undefined && ev.ts !== undefined
          ? [{ seq: ev.seq, messageId: ev.messageId, from: ev.from, body: ev.body, ts: ev.ts }]
          : undefined;
      items.push(msgs ? { userId: ev.receiver, seq: ev.seq, ts, msgs } : { userId: ev.receiver, seq: ev.seq, ts });
    } else groups.set(ev.group, [...(groups.get(ev.group) ?? []), { ...ev, ts }]);
  }
  // Each group's events in order; different groups in parallel.
  await Promise.all(
    [...groups.values()].map(async (evs) => {
      for (const ev of evs) items.push(...(await fanOutGroup(d.db, ev)));
    }),
  );
  await notify(d, coalesce(items));
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return null;
  }
}

export interface Fanout {
  close(): Promise<void>;
}

/** Why a fan-out consumer is replaced (the label of im_message_fanout_consumer_restarts_total). */
type ReplaceReason =
  "coordinator-left" | "heartbeat-failed" | "rejoin-failed" | "commit-failed" | "stream-failed" | "stream-closed";

/**
 * How long start-up waits for the fan-out's consumer to join its group before the instance serves without it (the
 * join goes on in the background). A group can take longer to form than any fixed start-up budget: a member that
 * died is only dropped after its session timeout, and a rebalance waits for every live member to rejoin. Sends and
 * pulls do not need the consumer, so a slow join never fails the start: a process that exited for it would be
 * restarted into the same rebalance, each attempt adding a member the group must wait out.
 */
const START_WAIT_MS = 15_000;
/**
 * How long the coordinator waits for members to rejoin in a rebalance. @platformatic/kafka gives every request 30 s
 * (its connection's fixed request timeout), JoinGroup too: a join that waited longer would be abandoned by the
 * client while the coordinator still counts the member in, and the next rebalance would wait out that member's
 * session as well. Kept under it, the coordinator answers first. Members rejoin on their next heartbeat (1 s).
 */
const REBALANCE_TIMEOUT_MS = 20_000;
/** How long a replaced consumer's stream and group membership may each take to close before its connections are closed under it. */
const RETIRE_TIMEOUT_MS = 2000;

type FanoutMessage = Message<string, string, string, string>;

/** One consumer of the fan-out's life: a replacement is the next generation. */
interface Generation {
  n: number;
  consumer: Consumer<string, string, string, string>;
  stream: MessagesStream<string, string, string, string>;
}

function bounded<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms))),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Consumes the stored-message topic until closed, in batches, retrying a failed batch until it succeeds.
 *
 * The consumer is replaced by a fresh one when it can no longer take part in its group: its coordinator broker left
 * the metadata, heartbeats or offset commits failed after the client's retries, or its stream failed or ended.
 * @platformatic/kafka 1.35 never looks a group coordinator up again once found, so a consumer whose coordinator
 * moved (the broker stopped, or came back no longer coordinating) would otherwise stay out of its group for good:
 * a fresh consumer finds the current coordinator and rejoins. Events buffered from the old one are still fanned
 * out; their offsets are not committed, the new consumer starts from the last commit (replays are harmless).
 */
export async function startFanout(d: FanoutDeps): Promise<Fanout> {
  const buffer: Array<{ m: FanoutMessage; gen: number }> = [];
  let wake: (() => void) | null = null;
  let closing = false;
  let generations = 0;
  let current: Generation | undefined;
  let replacing = false;
  let replacement: Promise<void> = Promise.resolve();
  /** The consumer whose join is under way: closing the fan-out closes it instead of waiting for the group. */
  let joining: Generation["consumer"] | undefined;
  // The library's lag is the latest offset minus the committed one; commits trail processing by up to one
  // interval, so what was processed and not yet committed is taken off: the gauge counts events not fanned out.
  // Keyed "topic:partition", as the library keys offsetsCommitted.
  const processedNext = new Map<string, bigint>();
  // Offsets are committed once per COMMIT_INTERVAL_MS, not after every batch: each commit is a replicated write
  // to __consumer_offsets (and wakes the followers' fetches), which under load cost the brokers more CPU than the
  // events themselves. Replaying up to one interval's events after a crash is harmless (see the top of the file).
  const toCommit = new Map<string, FanoutMessage>();

  const open = async (): Promise<Generation> => {
    const n = ++generations;
    const lost = (reason: ReplaceReason, detail: string): void => replace(n, reason, detail);
    const consumer = guardMissingBroker(
      keepConnectionErrorsHandled(
        new Consumer({
          ...(d.tls ? { tls: d.tls } : {}),
          clientId: d.clientId,
          groupId: "im-fanout",
          bootstrapBrokers: d.brokers,
          deserializers: stringDeserializers,
          maxWaitTime: 100,
          minBytes: 1,
          retries: 20,
          retryDelay: 500,
        }),
      ),
      () => lost("coordinator-left", "a broker it needs (its group coordinator) left the cluster metadata"),
    );
    // A rebalance's rejoin that failed (its JoinGroup outlasted the client's request timeout, for one) is emitted as
    // the consumer's 'error' event: unheard, it would end the process; heard, the consumer is replaced.
    consumer.on("error", (err: Error) => lost("rejoin-failed", err.message));
    let stream: MessagesStream<string, string, string, string>;
    try {
      joining = consumer;
      stream = await consumer.consume({
        topics: [d.topic],
        mode: "committed",
        fallbackMode: "earliest",
        autocommit: false,
        sessionTimeout: 10_000,
        rebalanceTimeout: REBALANCE_TIMEOUT_MS,
        heartbeatInterval: 1000,
      });
    } catch (err) {
      await retire({ n, consumer, stream: null });
      throw err;
    } finally {
      joining = undefined;
    }
    d.metrics.consumerJoined.set(1);
    consumer.on("consumer:lag", (lag) => {
      let total = 0n;
      for (const [topic, parts] of lag) {
        parts.forEach((l, i) => {
          if (l <= 0n) return;
          const committed = stream.offsetsCommitted.get(`${topic}:${i}`);
          const processed = processedNext.get(`${topic}:${i}`);
          const ahead =
            committed !== undefined && processed !== undefined && processed > committed ? processed - committed : 0n;
          if (l > ahead) total += l - ahead;
        });
      }
      d.metrics.consumerLag.set(Number(total));
    });
    consumer.startLagMonitoring({ topics: [d.topic] }, 5000);
    consumer.on("consumer:heartbeat:error", (p) =>
      lost("heartbeat-failed", (p as { error?: Error }).error?.message ?? "heartbeat failed"),
    );
    stream.on("data", (m: FanoutMessage) => {
      buffer.push({ m, gen: n });
      if (buffer.length >= MAX_BATCH * 4) stream.pause();
      wake?.();
    });
    stream.on("error", (err: Error) => lost("stream-failed", err.message));
    stream.on("close", () => lost("stream-closed", "its message stream ended"));
    return { n, consumer, stream };
  };

  /** Stops a consumer: leaves its group when it can, else closes its connections under it. */
  const retire = async (g: {
    n: number;
    consumer: Generation["consumer"];
    stream: Generation["stream"] | null;
  }): Promise<void> => {
    g.consumer.stopLagMonitoring();
    try {
      if (g.stream) await bounded(Promise.resolve(g.stream.close()), RETIRE_TIMEOUT_MS);
      await bounded(Promise.resolve(g.consumer.close(true)), RETIRE_TIMEOUT_MS);
    } catch (err) {
      // Leaving the group goes through the coordinator this consumer may have lost: drop its connections instead.
      d.log.debug(
        { generation: g.n, err: (err as Error).message },
        "fan-out consumer did not leave its group; closing its connections",
      );
      await Base.prototype.close.call(g.consumer).catch(() => undefined);
    }
  };

  const replace = (n: number, reason: ReplaceReason, detail: string): void => {
    if (closing || replacing || current === undefined || n !== current.n) return;
    replacing = true;
    d.log.warn({ reason, detail, generation: n }, "fan-out Kafka consumer lost its group; replacing it");
    d.metrics.consumerRestarts.inc({ reason });
    d.metrics.consumerJoined.set(0);
    const old = current;
    // What the old consumer processed and did not commit is replayed by the next one.
    toCommit.clear();
    processedNext.clear();
    // The old consumer leaves first when its coordinator still answers: the group then rebalances at once instead
    // of waiting a session timeout for a member that will never heartbeat again.
    replacement = retire(old)
      .catch((err: unknown) => d.log.debug({ err: String(err) }, "retiring the fan-out consumer failed"))
      .then(() => openRetrying())
      .then((g) => {
        if (g) d.log.info({ generation: g.n }, "fan-out Kafka consumer replaced");
      })
      .finally(() => (replacing = false));
  };

  /** Opens the next consumer, retrying while Kafka settles, for as long as it takes; undefined once closing. */
  const openRetrying = async (): Promise<Generation | undefined> => {
    for (let attempt = 1; !closing; attempt++) {
      try {
        current = await open();
        return current;
      } catch (err) {
        if (closing) break;
        d.log.warn({ err: (err as Error).message, attempt }, "fan-out consumer could not join its group yet; retrying");
        await sleep(Math.min(500 * attempt, 5000));
      }
    }
    return undefined;
  };

  // A broker restarting as this instance starts (a drill's restore, a rolling restart) is waited out, for a while.
  d.metrics.consumerJoined.set(0);
  const started = Date.now();
  replacement = openRetrying().then((g) => {
    if (g && Date.now() - started > START_WAIT_MS)
      d.log.info({ generation: g.n, waitedMs: Date.now() - started }, "fan-out Kafka consumer joined its group");
  });
  // openRetrying never rejects: only the wait can.
  const joinedInTime = await bounded(replacement, START_WAIT_MS).then(
    () => true,
    () => false,
  );
  if (!joinedInTime)
    d.log.warn(
      { waitedMs: START_WAIT_MS },
      "fan-out Kafka consumer has not joined its group yet; serving sends and pulls meanwhile, joining in the background",
    );

  // One commit round in flight per consumer: offsets that come meanwhile wait for the next tick (the newest per
  // partition wins), so a slow or failing round never queues more behind it. A replaced consumer's round is not
  // waited for: it fails on its closed client, and the new consumer commits its own offsets.
  let inFlight: { gen: number; round: Promise<unknown> } | null = null;
  const commitNow = (): Promise<unknown> => {
    if (toCommit.size === 0 || current === undefined) return inFlight?.round ?? Promise.resolve();
    if (inFlight !== null && inFlight.gen === current.n) return inFlight.round;
    const last = [...toCommit.values()];
    const n = current.n;
    toCommit.clear();
    const round = Promise.all(
      last.map((m) =>
        Promise.resolve(m.commit()).catch((err: Error) => {
          d.log.warn({ err: err.message, partition: m.partition }, "commit failed");
          replace(n, "commit-failed", err.message);
        }),
      ),
    ).finally(() => {
      if (inFlight?.round === round) inFlight = null;
    });
    inFlight = { gen: n, round };
    return round;
  };
  const committer = setInterval(commitNow, COMMIT_INTERVAL_MS);
  // Each batch is a presence lookup and a notify request per gateway: batches start at most once per interval,
  // so under load the events of several fetches (from every broker) go out together.
  const pacer = new Pacer(d.intervalMs ?? FANOUT_INTERVAL_MS);
  const loop = (async () => {
    while (!closing) {
      if (buffer.length === 0) {
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 500);
        });
        wake = null;
        continue;
      }
      await pacer.next();
      const batch = buffer.splice(0, MAX_BATCH);
      for (let attempt = 1; !closing; attempt++) {
        try {
          const t0 = performance.now();
          await processBatch(
            d,
            batch.map((b) => b.m),
          );
          d.metrics.batchSeconds.observe((performance.now() - t0) / 1000);
          break;
        } catch (err) {
          d.log.warn({ err: (err as Error).message, attempt }, "fan-out batch failed; retrying");
          await sleep(Math.min(200 * attempt, 2000));
        }
      }
      // The last processed offset of each partition is committed on the next tick of the commit timer, by the
      // consumer that fetched it (a replaced one's events are replayed instead).
      for (const { m, gen } of batch) {
        if (gen !== current?.n) continue;
        const key = `${m.topic}:${m.partition}`;
        toCommit.set(key, m);
        processedNext.set(key, m.offset + 1n);
      }
      if (current?.stream.isPaused() && buffer.length < MAX_BATCH) current.stream.resume();
    }
  })();

  return {
    async close() {
      closing = true;
      wake?.();
      // A join still waiting for its group is given up: its connections close under it.
      if (joining !== undefined) await Base.prototype.close.call(joining).catch(() => undefined);
      await loop.catch(() => undefined);
      clearInterval(committer);
      // The round in flight, then what came after it.
      await commitNow();
      await commitNow();
      await replacement;
      if (current) await retire(current);
    },
  };
}
