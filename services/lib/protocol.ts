/**
 * The IM wire protocol between clients and the gateway (JSON text frames over WebSocket), and the shapes the
 * services exchange. Every inbound frame is validated here; a bad one gets an `err` frame, never a crash.
 */
import { z } from "zod";

export const MAX_BODY_CHARS = 4000;
/** Frames larger than this get `frame_too_large` (the connection stays open). */
export const MAX_FRAME_BYTES = 8 * 1024;

const id = z.string().regex(/^[1-9][0-9]{0,18}$/, "a decimal id");
/**
 * Client message id: the sender's dedupe key. Restricted to visible ASCII without spaces because the database's
 * utf8mb4_bin collation (MariaDB and TiDB) ignores trailing spaces and cannot store lone surrogates: two ids that
 * differ only there would be taken for one retried send.
 */
export const clientMessageId = z.string().regex(/^[A-Za-z0-9._:@-]{1,64}$/, "1 to 64 of A-Z a-z 0-9 . _ : @ -");
const rid = z.string().min(1).max(64);
const seq = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export const conversationRef = z.object({ kind: z.enum(["user", "group"]), id }).strict();
export type ConversationRef = z.infer<typeof conversationRef>;

export const clientFrame = z.discriminatedUnion("t", [
  z
    .object({
      t: z.literal("send"),
      rid,
      cmid: clientMessageId,
      to: conversationRef,
      body: z.string().min(1).max(MAX_BODY_CHARS),
    })
    .strict(),
  z.object({ t: z.literal("pull"), rid, after: seq, limit: z.number().int().min(1).max(500).optional() }).strict(),
  z
    .object({ t: z.literal("gpull"), rid, group: id, after: seq, limit: z.number().int().min(1).max(500).optional() })
    .strict(),
  z.object({ t: z.literal("sync"), rid }).strict(),
  z.object({ t: z.literal("ping"), rid: rid.optional() }).strict(),
]);
export type ClientFrame = z.infer<typeof clientFrame>;

/** One stored message as a receiver sees it. */
export interface WireMessage {
  /** The receiver's inbox seq (write diffusion), or the group seq for a group timeline pull. */
  seq: number;
  messageId: string;
  from: string;
  to: ConversationRef;
  /** Position in the group's timeline, for group messages. */
  groupSeq: number | null;
  body: string;
  /** Milliseconds since the epoch, when the message was stored. */
  ts: number;
}

export interface SendResult {
  messageId: string;
  duplicate: boolean;
  groupSeq: number | null;
}

export interface PullResult {
  messages: WireMessage[];
  /** Highest seq that exists now; pull again while the last message's seq is below it. */
  head: number;
}

export interface SyncResult {
  inboxHead: number;
  /** Groups the user reads from the group timeline (read diffusion), with where the user joined. */
  readGroups: Array<{ group: string; head: number; joinedGroupSeq: number }>;
}

export type ServerFrame =
  | { t: "hello"; userId: string; instance: string; version: string }
  | { t: "ack"; rid: string; result: SendResult }
  | { t: "res"; rid: string; result: PullResult | SyncResult }
  | { t: "err"; rid?: string; error: string; message: string }
  /**
   * New inbox messages up to `seq`. `msgs`, when present, carries the newest of them in seq order: a client
   * whose last seq is just below the first takes them as they are and pulls only when there is a gap.
   */
  | { t: "notify"; seq: number; msgs?: WireMessage[] }
  | { t: "gnotify"; group: string; groupSeq: number }
  | { t: "pong"; rid?: string }
  | { t: "reconnect"; reason: string };

/** A stored 1:1 message as the fan-out hands it to a gateway to push (the receiver is the item's user). */
export const pushedMessage = z
  .object({ seq, messageId: id, from: id, body: z.string().max(MAX_BODY_CHARS), ts: z.number() })
  .strict();
export type PushedMessage = z.infer<typeof pushedMessage>;

/** At most this many messages ride along with one notification; beyond it the client pulls. */
export const MAX_PUSHED_MESSAGES = 32;

/** What the fan-out asks a gateway to push. */
export const notifyRequest = z.object({
  items: z.array(
    z.union([
      // ts: when the message was stored (ms since the epoch), for the delivery-latency histogram.
      z
        .object({
          userId: id,
          seq,
          ts: z.number().optional(),
          msgs: z.array(pushedMessage).max(MAX_PUSHED_MESSAGES).optional(),
        })
        .strict(),
      z.object({ userId: id, group: id, groupSeq: seq, ts: z.number().optional() }).strict(),
    ]),
  ),
});
export type NotifyItem = z.infer<typeof notifyRequest>["items"][number];

/** The event `message` appends to Kafka after storing a message. */
export const storedEvent = z.discriminatedUnion("kind", [
  // body and ts let the fan-out push the message itself (older events without them are notified, then pulled).
  z.object({
    kind: z.literal("user"),
    messageId: id,
    from: id,
    receiver: id,
    seq,
    body: z.string().optional(),
    ts: z.number().optional(),
  }),
  z.object({ kind: z.literal("group"), messageId: id, from: id, group: id, groupSeq: seq }),
]);
export type StoredEvent = z.infer<typeof storedEvent>;
