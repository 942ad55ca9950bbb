/**
 * Store-and-forward, the storing half. A message is acknowledged only once it is durable in the database and its
 * event is on Kafka (acks from all in-sync replicas). Sequence numbers are allocated in the same transaction as
 * the row that uses them, under the receiver's (or group's) row lock, so commit order equals seq order.
 */
import type mysql from "mysql2/promise";
import { inTransaction } from "../../lib/db.ts";
import { ApiError } from "../../lib/errors.ts";
import type { IdGenerator } from "../../lib/ids.ts";
import type { EventPublisher } from "../../lib/kafka.ts";
import type {
  ConversationRef,
  PullResult,
  SendResult,
  StoredEvent,
  SyncResult,
  WireMessage,
} from "../../lib/protocol.ts";
import { subGroupRecords } from "../../lib/protocol.ts";
import { SendBatcher } from "./send-batch.ts";

export interface StoreDeps {
  db: mysql.Pool;
  /** Where the time of a send goes: the database transaction and the Kafka append. */
  timings?: { dbSeconds: { observe(v: number): void }; kafkaSeconds: { observe(v: number): void } };
  publisher: EventPublisher;
  topic: string;
  ids: IdGenerator;
  /** Least time between two batches of 1:1 sends (send-batch.ts); unset: the default. */
  sendBatchIntervalMs?: number;
  /** A 1:1 send queued longer than this is refused `overloaded` instead of stored (send-batch.ts); unset: default. */
  sendQueueMaxWaitMs?: number;
  /** What an `overloaded` refusal says to wait, ms; unset: the default. */
  retryAfterMs?: number;
}

const isDup = (err: unknown) => (err as { code?: string }).code === "ER_DUP_ENTRY";

/** Next seq of one user, under that user's row lock until the transaction ends. */
export async function nextUserSeq(c: mysql.PoolConnection, userId: string): Promise<number> {
  const [r] = await c.query<mysql.ResultSetHeader>(
    "INSERT INTO user_seq (user_id, last_seq) VALUES (?, 1) ON DUPLICATE KEY UPDATE last_seq = LAST_INSERT_ID(last_seq + 1)",
    [userId],
  );
  // insertId is LAST_INSERT_ID(expr) on the update path, 0 when the row was just created with seq 1.
  return r.insertId === 0 ? 1 : Number(r.insertId);
}

async function publish(d: StoreDeps, ev: StoredEvent, subGroups = 1): Promise<void> {
  // A group's events are keyed by the group: they stay in one partition, so its fan-out runs in order. A 1:1 event
  // may go to any partition: its notification carries the receiver's seq, and a client that sees a seq beyond the
  // next one pulls the gap (a later event overtaking an earlier one costs a pull, never a message). Letting them
  // fill one partition per produce request sends each request to one broker instead of to every leader, which
  // under load is most of the brokers' work (replica and consumer fetches follow the produce requests).
  // A group split into sub-groups gets its `subgroup` records straight away, one per sub-group keyed
  // `<group>:<subGroup>` (docs/groups.md): the fan-out would otherwise consume one group event only to append them,
  // a second trip through Kafka on every message's way to its members.
  const t0 = performance.now();
  if (ev.kind === "group" && subGroups > 1)
    await Promise.all(
      subGroupRecords(ev.group, ev.groupSeq, subGroups).map((r) => d.publisher.publish({ topic: d.topic, ...r })),
    );
  else {
    const key = ev.kind === "group" ? `g:${ev.group}` : `u:${ev.receiver}`;
    await d.publisher.publish({ topic: d.topic, key, value: JSON.stringify(ev), anyPartition: ev.kind === "user" });
  }
  d.timings?.kafkaSeconds.observe((performance.now() - t0) / 1000);
}

/** A retried send finds the first attempt's row; its event is published again (the fan-out is idempotent). */
async function existing(
  d: StoreDeps,
  from: string,
  cmid: string,
): Promise<{ ev: StoredEvent; result: SendResult } | null> {
  const [rows] = await d.db.query<mysql.RowDataPacket[]>(
    "SELECT m.message_id, m.conversation_type, m.conversation_id, m.group_seq, i.seq FROM messages m" +
      " LEFT JOIN inbox i ON i.message_id = m.message_id AND i.user_id = m.conversation_id AND m.conversation_type = 'user'" +
      " WHERE m.sender_id = ? AND m.client_msg_id = ?",
    [from, cmid],
  );
  const r = rows[0];
  if (!r) return null;
  const messageId = String(r.message_id);
  if (r.conversation_type === "group") {
    const groupSeq = Number(r.group_seq);
    return {
      ev: { kind: "group", messageId, from, group: String(r.conversation_id), groupSeq },
      result: { messageId, duplicate: true, groupSeq },
    };
  }
  return {
    ev: { kind: "user", messageId, from, receiver: String(r.conversation_id), seq: Number(r.seq) },
    result: { messageId, duplicate: true, groupSeq: null },
  };
}

/** Users are never deleted: once seen, a receiver is known for the life of the process (bounded). */
const knownUsers = new Set<string>();
const KNOWN_USERS_MAX = 200_000;

const knownUserSet = {
  has: (u: string) => knownUsers.has(u),
  add: (u: string) => {
    if (knownUsers.size >= KNOWN_USERS_MAX) knownUsers.clear();
    knownUsers.add(u);
  },
};

/** One batcher per set of dependencies (one per process in production; tests may build several). */
const batchers = new WeakMap<StoreDeps, SendBatcher>();

export async function send(
  d: StoreDeps,
  from: string,
  cmid: string,
  to: ConversationRef,
  body: string,
): Promise<SendResult> {
  if (to.kind === "user") {
    let b = batchers.get(d);
    if (!b) {
      b = new SendBatcher(
        d,
        (s) => sendOne(d, s.from, s.cmid, { kind: "user", id: s.to }, s.body),
        knownUserSet,
        undefined,
        undefined,
        d.sendBatchIntervalMs,
        d.sendQueueMaxWaitMs,
        d.retryAfterMs,
      );
      batchers.set(d, b);
    }
    return b.submit({ from, cmid, to: to.id, body });
  }
  return sendOne(d, from, cmid, to, body);
}

/** Stores one send in its own transaction: group sends, and 1:1 sends of a batch that hit a retried one. */
export async function sendOne(
  d: StoreDeps,
  from: string,
  cmid: string,
  to: ConversationRef,
  body: string,
): Promise<SendResult> {
  // No look-up before the insert: the unique key (sender, client message id) catches a retried send below.
  const messageId = d.ids.next();
  let ev: StoredEvent;
  let subGroups = 1;
  const t0 = performance.now();
  try {
    ev = await inTransaction(d.db, async (c) => {
      if (to.kind === "user") {
        if (!knownUsers.has(to.id)) {
          const [u] = await c.query<mysql.RowDataPacket[]>("SELECT 1 FROM users WHERE user_id = ?", [to.id]);
          if (u.length === 0) throw new ApiError("unknown_user", `no user ${to.id}`);
          knownUserSet.add(to.id);
        }
        const ts = Date.now();
        await c.query(
          "INSERT INTO messages (message_id, sender_id, client_msg_id, conversation_type, conversation_id, body, created_at) VALUES (?, ?, ?, 'user', ?, ?, ?)",
          [messageId, from, cmid, to.id, body, new Date(ts)],
        );
        const seq = await nextUserSeq(c, to.id);
        await c.query("INSERT INTO inbox (user_id, seq, message_id) VALUES (?, ?, ?)", [to.id, seq, messageId]);
        return { kind: "user", messageId, from, receiver: to.id, seq, body, ts } as const;
      }
      const [m] = await c.query<mysql.RowDataPacket[]>(
        "SELECT 1 FROM group_members WHERE group_id = ? AND user_id = ?",
        [to.id, from],
      );
      if (m.length === 0) {
        const [g] = await c.query<mysql.RowDataPacket[]>("SELECT 1 FROM im_groups WHERE group_id = ?", [to.id]);
        throw g.length === 0
          ? new ApiError("unknown_group", `no group ${to.id}`)
          : new ApiError("not_a_member", `not a member of group ${to.id}`);
      }
      const [r] = await c.query<mysql.ResultSetHeader>(
        "UPDATE im_groups SET head_seq = LAST_INSERT_ID(head_seq + 1) WHERE group_id = ?",
        [to.id],
      );
      const groupSeq = Number(r.insertId);
      // Read under the row lock just taken: a move changes the count under the same lock, so this message's
      // fan-out is split exactly as the group stands at its seq.
      const [[g]] = await c.query<mysql.RowDataPacket[]>("SELECT sub_groups FROM im_groups WHERE group_id = ?", [
        to.id,
      ]);
      subGroups = Number(g?.sub_groups ?? 1);
      await c.query(
        "INSERT INTO messages (message_id, sender_id, client_msg_id, conversation_type, conversation_id, body, group_seq) VALUES (?, ?, ?, 'group', ?, ?, ?)",
        [messageId, from, cmid, to.id, body, groupSeq],
      );
      await c.query("INSERT INTO group_timeline (group_id, group_seq, message_id) VALUES (?, ?, ?)", [
        to.id,
        groupSeq,
        messageId,
      ]);
      return { kind: "group", messageId, from, group: to.id, groupSeq } as const;
    });
    d.timings?.dbSeconds.observe((performance.now() - t0) / 1000);
  } catch (err) {
    if (!isDup(err)) throw err;
    // Two attempts of one send raced; the other one stored it.
    const again = await existing(d, from, cmid);
    if (!again) throw err;
    await publish(d, again.ev);
    return again.result;
  }
  await publish(d, ev, subGroups);
  return { messageId, duplicate: false, groupSeq: ev.kind === "group" ? ev.groupSeq : null };
}

function toWire(r: mysql.RowDataPacket, seq: number): WireMessage {
  return {
    seq,
    messageId: String(r.message_id),
    from: String(r.sender_id),
    to: { kind: r.conversation_type === "group" ? "group" : "user", id: String(r.conversation_id) },
    groupSeq: r.group_seq === null ? null : Number(r.group_seq),
    body: String(r.body),
    ts: new Date(r.created_at as string).getTime(),
  };
}

export async function pullInbox(db: mysql.Pool, userId: string, after: number, limit: number): Promise<PullResult> {
  const [rows] = await db.query<mysql.RowDataPacket[]>(
    "SELECT i.seq, m.message_id, m.sender_id, m.conversation_type, m.conversation_id, m.group_seq, m.body, m.created_at" +
      " FROM inbox i JOIN messages m ON m.message_id = i.message_id" +
      " WHERE i.user_id = ? AND i.seq > ? ORDER BY i.seq LIMIT ?",
    [userId, after, limit],
  );
  const [[h]] = await db.query<mysql.RowDataPacket[]>(
    "SELECT COALESCE(MAX(last_seq), 0) AS head FROM user_seq WHERE user_id = ?",
    [userId],
  );
  return { messages: rows.map((r) => toWire(r, Number(r.seq))), head: Number(h?.head ?? 0) };
}

export async function pullGroup(
  db: mysql.Pool,
  userId: string,
  groupId: string,
  after: number,
  limit: number,
): Promise<PullResult> {
  // The head is read with the membership, before the timeline: the page may then end above it (the client stops,
  // having everything up to the head) but never below a head it was told, and a pull costs two statements, not three.
  const [m] = await db.query<mysql.RowDataPacket[]>(
    "SELECT gm.joined_group_seq, g.head_seq FROM group_members gm JOIN im_groups g ON g.group_id = gm.group_id" +
      " WHERE gm.group_id = ? AND gm.user_id = ?",
    [groupId, userId],
  );
  const member = m[0];
  if (!member) {
    const [g] = await db.query<mysql.RowDataPacket[]>("SELECT 1 FROM im_groups WHERE group_id = ?", [groupId]);
    throw g.length === 0
      ? new ApiError("unknown_group", `no group ${groupId}`)
      : new ApiError("not_a_member", `not a member of group ${groupId}`);
  }
  const from = Math.max(after, Number(member.joined_group_seq));
  const [rows] = await db.query<mysql.RowDataPacket[]>(
    "SELECT t.group_seq AS seq, m.message_id, m.sender_id, m.conversation_type, m.conversation_id, m.group_seq, m.body, m.created_at" +
      " FROM group_timeline t JOIN messages m ON m.message_id = t.message_id" +
      " WHERE t.group_id = ? AND t.group_seq > ? ORDER BY t.group_seq LIMIT ?",
    [groupId, from, limit],
  );
  return { messages: rows.map((r) => toWire(r, Number(r.seq))), head: Number(member.head_seq) };
}

export async function sync(db: mysql.Pool, userId: string): Promise<SyncResult> {
  const [[h]] = await db.query<mysql.RowDataPacket[]>(
    "SELECT COALESCE(MAX(last_seq), 0) AS head FROM user_seq WHERE user_id = ?",
    [userId],
  );
  const [groups] = await db.query<mysql.RowDataPacket[]>(
    "SELECT g.group_id, g.head_seq, gm.joined_group_seq FROM group_members gm JOIN im_groups g ON g.group_id = gm.group_id" +
      " WHERE gm.user_id = ? AND g.diffusion = 'read'",
    [userId],
  );
  return {
    inboxHead: Number(h?.head ?? 0),
    readGroups: groups.map((g) => ({
      group: String(g.group_id),
      head: Number(g.head_seq),
      joinedGroupSeq: Number(g.joined_group_seq),
    })),
  };
}
