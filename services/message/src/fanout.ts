/**
 * Store-and-forward, the forwarding half: a Kafka consumer that turns stored-message events into inbox rows
 * (write diffusion, for groups up to the threshold) and notifications to the gateways holding the receivers.
 * At-least-once: offsets are committed after a batch is fully processed; replaying an event writes nothing twice
 * (an inbox row per user and message at most) and only repeats a harmless notification.
 *
 * Four parts: the consumer supervisor (consumer-supervisor.ts) keeps a Kafka consumer in its group, the loop
 * (fanout-loop.ts) cuts what it fetches into batches, processBatch here turns each batch into inbox writes (inbox.ts)
 * and notifications (notify.ts), and the offset bookkeeping (offsets.ts) commits what was finished.
 *
 * A group with several sub-groups (docs/groups.md) is fanned out by sub-group: the message service appends one
 * `subgroup` record per sub-group, keyed `<group>:<subGroup>` on the same topic, when it stores the message (store.ts),
 * so the sub-groups of one large group are consumed on different partitions and instances (and, with lanes on, in
 * different queues of one instance); each record is fanned out from its sub-group's cursor. A `group` event of a
 * group that has grown since it was stored (or a retried send's) is split here into the same records.
 */
import type { ConnectionOptions } from "node:tls";
import type { KafkaSasl } from "../../lib/data-auth.ts";
import type { Cluster } from "ioredis";
import type mysql from "mysql2/promise";
import type { EventPublisher } from "../../lib/kafka.ts";
import type { Logger } from "../../lib/log.ts";
import { lookup } from "../../lib/presence.ts";
import { fanoutEvent, subGroupRecords, type FanoutEvent, type NotifyItem } from "../../lib/protocol.ts";
import { ConsumerSupervisor, type FanoutMessage } from "./consumer-supervisor.ts";
import { FanoutLoop, SUB_GROUP_LANES } from "./fanout-loop.ts";
import { fanOutGroup, fanOutSubGroups } from "./inbox.ts";
import type { MemberCache } from "./member-cache.ts";
import type { MessageMetrics } from "./metrics.ts";
import { coalesce, notify, type Presence } from "./notify.ts";
import { OffsetCommits } from "./offsets.ts";

export interface FanoutDeps {
  db: mysql.Pool;
  redis: Cluster;
  log: Logger;
  metrics: MessageMetrics;
  internalToken: string;
  brokers: string[];
  /** TLS to the brokers, when on. */
  tls?: ConnectionOptions | undefined;
  /** SASL credentials for the brokers, when they require them. */
  sasl?: KafkaSasl | undefined;
  topic: string;
  clientId: string;
  /** Least time between the starts of two fan-out batches (FANOUT_INTERVAL_MS); 0: as soon as events arrive. */
  intervalMs?: number;
  /** Longest a fetch waits at a broker for new events (consumer-supervisor.ts); unset: its default. */
  fetchMaxWaitMs?: number;
  /** Queues for sub-group records beside the one for everything else (fanout-loop.ts); unset: its default. */
  subGroupLanes?: number;
  /** Group and sub-group member lists kept between fan-outs (member-cache.ts); unset: read every time. */
  memberCache?: MemberCache;
  /** Appends the `subgroup` records of a split group event to `topic` (docs/groups.md). */
  publisher: Pick<EventPublisher, "publish">;
}

/** How often the fan-out commits its consumer offsets (at most one interval of events is replayed after a crash). */
const COMMIT_INTERVAL_MS = 1000;
/** The default least time between two fan-out batches of one instance. */
export const FANOUT_INTERVAL_MS = 10;

type GroupEvent = Extract<FanoutEvent, { kind: "group" }> & { ts: number };
type SubGroupEvent = Extract<FanoutEvent, { kind: "subgroup" }>;

async function processBatch(d: FanoutDeps, batch: FanoutMessage[]): Promise<void> {
  const items: NotifyItem[] = [];
  const groups = new Map<string, GroupEvent[]>();
  // The cursor of a sub-group covers every seq below the newest: one fan-out per sub-group and batch.
  const subGroups = new Map<string, SubGroupEvent>();
  for (const m of batch) {
    const parsed = fanoutEvent.safeParse(safeJson(m.value));
    if (!parsed.success) {
      d.log.error({ offset: String(m.offset), partition: m.partition }, "skipping a malformed event");
      continue;
    }
    const ev = parsed.data;
    const ts = Number(m.timestamp);
    if (ev.kind === "subgroup") {
      // Appended by the store (no ts of its own): this is the message's first trip through Kafka.
      if (ev.ts === undefined) d.metrics.deliveryLag.observe((Date.now() - ts) / 1000);
      const k = `${ev.group}:${ev.subGroup}`;
      const prev = subGroups.get(k);
      // The newest seq, timed from the oldest record's append (as a group's events are, groupEvents).
      const first = Math.min(ev.ts ?? ts, prev?.ts ?? Infinity);
      subGroups.set(k, { ...(prev && prev.groupSeq >= ev.groupSeq ? prev : ev), ts: first });
      continue;
    }
    d.metrics.deliveryLag.observe((Date.now() - ts) / 1000);
    if (ev.kind === "user") {
      const msgs =
        ev.body !== undefined && ev.ts !== undefined
          ? [{ seq: ev.seq, messageId: ev.messageId, from: ev.from, body: ev.body, ts: ev.ts }]
          : undefined;
      items.push(msgs ? { userId: ev.receiver, seq: ev.seq, ts, msgs } : { userId: ev.receiver, seq: ev.seq, ts });
    } else groups.set(ev.group, [...(groups.get(ev.group) ?? []), { ...ev, ts }]);
  }
  // Each group's events in order; different groups and sub-groups in parallel. A sub-group's fan-out looks up its
  // members' presence itself (beside its timeline read) and moves its cursors while the batch notifies.
  const known: Presence[] = [];
  const advances: Array<() => Promise<void>> = [];
  await Promise.all([
    ...[...groups.values()].map(async (evs) => items.push(...(await groupEvents(d, evs)))),
    ...[...bySubGroupsGroup(subGroups.values())].map(async ([group, evs]) => {
      const r = await fanOutSubGroups(d.db, group, evs, (ids) => lookup(d.redis, ids), d.memberCache);
      items.push(...r.items);
      if (r.presence) known.push(r.presence);
      advances.push(r.advance);
      for (const ev of evs) {
        const labels = { group, sub_group: String(ev.subGroup) };
        d.metrics.subGroupMembers.set(labels, r.members.get(ev.subGroup) ?? 0);
        if (ev.ts !== undefined) d.metrics.subGroupFanoutLag.set(labels, (Date.now() - ev.ts) / 1000);
      }
    }),
  ]);
  await Promise.all([notify(d, coalesce(items), known), ...advances.map((a) => a())]);
}

/** A batch's sub-group records by group: the sub-groups of one group are fanned out together (fanOutSubGroups). */
function bySubGroupsGroup(evs: Iterable<SubGroupEvent>): Map<string, SubGroupEvent[]> {
  const out = new Map<string, SubGroupEvent[]>();
  for (const ev of evs) out.set(ev.group, [...(out.get(ev.group) ?? []), ev]);
  return out;
}

/**
 * One group's events of a batch: its timeline is fanned out once, from its cursor up to the newest of them (in
 * groupSeq order; entries riding along in read diffusion form one run). When the group turns out to have several
 * sub-groups, the newest event is split into one record per sub-group (each covers every seq up to it) instead.
 * The range's ts is the oldest event's, so the delivery latency counts from the first message's append.
 */
async function groupEvents(d: FanoutDeps, evs: GroupEvent[]): Promise<NotifyItem[]> {
  const last = evs.reduce((a, b) => (b.groupSeq > a.groupSeq ? b : a));
  const ts = Math.min(...evs.map((e) => e.ts));
  const r = await fanOutGroup(d.db, { ...last, ts }, d.memberCache);
  if ("items" in r) return r.items;
  await Promise.all(
    subGroupRecords(last.group, last.groupSeq, r.subGroups, ts).map((rec) =>
      d.publisher.publish({ topic: d.topic, ...rec }),
    ),
  );
  return [];
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

/**
 * Consumes the stored-message topic until closed, in batches, retrying a failed batch until it succeeds. The
 * consumer is replaced when it loses its group (see consumer-supervisor.ts): events buffered from the old one are
 * still fanned out; their offsets are not committed, the new consumer starts from the last commit (replays are
 * harmless).
 */
export async function startFanout(d: FanoutDeps): Promise<Fanout> {
  const offsets = new OffsetCommits<FanoutMessage>();
  const supervisor: ConsumerSupervisor = new ConsumerSupervisor(d, {
    // Called once the consumer has joined, by which time the loop exists.
    message: (m, gen): boolean => loop.push(m, gen),
    replacing: () => offsets.forget(),
    pendingLag: (lag, committed, held) => offsets.pendingLag(lag, committed, held),
  });
  const loop = new FanoutLoop<FanoutMessage>(
    {
      log: d.log,
      intervalMs: d.intervalMs ?? FANOUT_INTERVAL_MS,
      lanes: d.subGroupLanes ?? SUB_GROUP_LANES,
      process: async (batch) => {
        const t0 = performance.now();
        await processBatch(d, batch);
        d.metrics.batchSeconds.observe((performance.now() - t0) / 1000);
      },
    },
    supervisor,
    offsets,
  );
  await supervisor.start();

  const commitNow = (): Promise<unknown> =>
    offsets.commit(supervisor.generation, (err, m, gen) => {
      d.log.warn({ err: err.message, partition: m.partition }, "commit failed");
      supervisor.replace(gen, "commit-failed", err.message);
    });
  const committer = setInterval(commitNow, COMMIT_INTERVAL_MS);
  const running = loop.run();

  return {
    async close() {
      loop.stop();
      await supervisor.stop();
      await running.catch(() => undefined);
      clearInterval(committer);
      // The round in flight, then what came after it.
      await commitNow();
      await commitNow();
      await supervisor.close();
    },
  };
}
