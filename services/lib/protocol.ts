/**
 * The IM wire protocol between clients and the gateway (JSON text frames over WebSocket), and the shapes the
 * services exchange. Every inbound frame is validated here; a bad one gets an `err` frame, never a crash.
 */
import { z } from "zod";

export const MAX_BODY_CHARS = 4000;
/** Frames larger than this get `frame_too_large` (the connection stays open). */
export const MAX_FRAME_BYTES = 8 * 1024;

/** The WebSocket subprotocol of this wire protocol: a client offers it, the gateway selects it. */
export const WS_SUBPROTOCOL = "im.v1";
/**
 * The session token rides in the handshake as a second offered subprotocol, `im.token.<token>` (a token is
 * base64url parts joined by dots, all valid subprotocol characters), because a browser can set no other header on
 * a WebSocket and a URL ends up in proxies' logs. The gateway never selects it, so it is never echoed back.
 */
export const TOKEN_SUBPROTOCOL_PREFIX = "im.token.";

/** The refusal (400 token_in_url) of a handshake with `?token=` in its URL. */
export const TOKEN_IN_URL =
  "token: not accepted in the URL; offer it as the WebSocket subprotocol im.token.<token> beside im.v1, or send Authorization: Bearer <token>";

/**
 * Where the edge sends a request that carries `?token=` (the Kubernetes HTTPRoute rule that matches the query
 * parameter rewrites its path to this): every service answers it 400 token_in_url, for a WebSocket upgrade too.
 */
export const TOKEN_IN_URL_PATH = "/edge/token-in-url";

/** The subprotocols a client offers: the protocol itself and its token. */
export function wsProtocols(token: string): string[] {
  return [WS_SUBPROTOCOL, `${TOKEN_SUBPROTOCOL_PREFIX}${token}`];
}

/**
 * The token of a handshake: from `im.token.<token>` in Sec-WebSocket-Protocol, else from `Authorization: Bearer`;
 * "" when there is none.
 */
export function handshakeToken(headers: {
  "sec-websocket-protocol"?: string | undefined;
  authorization?: string | undefined;
}): string {
  for (const p of (headers["sec-websocket-protocol"] ?? "").split(",")) {
    const v = p.trim();
    if (v.startsWith(TOKEN_SUBPROTOCOL_PREFIX)) return v.slice(TOKEN_SUBPROTOCOL_PREFIX.length);
  }
  const auth = headers.authorization;
  return auth?.startsWith("Bearer ") ? auth.slice(7) : "";
}

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
  /**
   * A refused or failed request. `overloaded` (the platform sheds load; nothing was stored) and `unavailable` are
   * retryable: wait `retryAfterMs` when given, times a random factor from 1 to 2, then retry with the same cmid.
   */
  | { t: "err"; rid?: string; error: string; message: string; retryAfterMs?: number }
  /**
   * New inbox messages up to `seq`. `msgs`, when present, is a consecutive run of seqs ending at `seq` (never a
   * hole inside it): a client whose last seq is at least the first one's minus 1 takes those above its last seq;
   * a client further behind pulls everything after its last seq. See docs/messaging.md#pushes.
   */
  | { t: "notify"; seq: number; msgs?: WireMessage[] }
  /**
   * New messages in a read-diffusion group's timeline up to `groupSeq`. `msgs`, when present, is a consecutive run of
   * group seqs ending at `groupSeq` (each message's `seq` and `groupSeq` are its group seq, as in a `gpull`): a client
   * whose cursor in the group is at least the first one's minus 1 takes those above it; otherwise it pulls the group
   * after its cursor. See docs/messaging.md#pushes.
   */
  | { t: "gnotify"; group: string; groupSeq: number; msgs?: WireMessage[] }
  /**
   * The user's place in `group` changed (a move switched it to another sub-group, or a rollback put it back): what
   * the client caches about the group (GET /v1/groups/:id: member count, diffusion, head) may be stale; it re-reads
   * it. A hint like `notify`, never the delivery: the messages themselves come by the notifications and pulls.
   * Clients that do not know the frame ignore it. See docs/messaging.md#pushes.
   */
  | { t: "gview"; group: string; reason: GroupViewReason }
  | { t: "pong"; rid?: string }
  | { t: "reconnect"; reason: string };

/**
 * A stored message as the fan-out hands it to a gateway to push: a 1:1 message (`seq` is the receiver's inbox seq;
 * the receiver is the item's user), or a group timeline entry (`seq` is its group seq).
 */
export const pushedMessage = z
  .object({ seq, messageId: id, from: id, body: z.string().max(MAX_BODY_CHARS), ts: z.number() })
  .strict();
export type PushedMessage = z.infer<typeof pushedMessage>;

/** At most this many messages ride along with one notification; beyond it the client pulls. */
export const MAX_PUSHED_MESSAGES = 32;

/**
 * The part of `msgs` a `notify` may carry: the longest run of consecutive seqs ending at `seq` (the newest
 * `max` of it), each seq once, in order; empty when `seq` itself is not among them. The fan-out merges one
 * user's messages from a batch, and a batch holds only the events this instance consumed (one user's events
 * spread over partitions and instances), so the merge can have holes; a hole inside a push would make a client
 * that continues from the first message step over the missing one.
 */
export function consecutiveRun<T extends { seq: number }>(
  msgs: readonly T[],
  seq: number,
  max = MAX_PUSHED_MESSAGES,
): T[] {
  const bySeq = new Map<number, T>();
  for (const m of msgs) if (!bySeq.has(m.seq)) bySeq.set(m.seq, m);
  const run: T[] = [];
  for (let s = seq; run.length < max; s--) {
    const m = bySeq.get(s);
    if (m === undefined) break;
    run.push(m);
  }
  return run.reverse();
}

// ts: when the message was stored (ms since the epoch), for the delivery-latency histogram.
const inboxItem = z
  .object({
    userId: id,
    seq,
    ts: z.number().optional(),
    msgs: z.array(pushedMessage).max(MAX_PUSHED_MESSAGES).optional(),
  })
  .strict();
// msgs: the consecutive run of group seqs ending at groupSeq, entries after the user joined.
const groupItem = z
  .object({
    userId: id,
    group: id,
    groupSeq: seq,
    ts: z.number().optional(),
    msgs: z.array(pushedMessage).max(MAX_PUSHED_MESSAGES).optional(),
  })
  .strict();

/** Receivers of one group push in a notify request (a larger fan-out sends several). */
export const MAX_GROUP_PUSH_USERS = 1000;
/**
 * One group push for many receivers on one gateway: the frame is built once and sent to each of them. `msgs` is the
 * consecutive run of group seqs ending at groupSeq (entries after every listed user joined).
 */
const groupPushItem = z
  .object({
    users: z.array(id).min(1).max(MAX_GROUP_PUSH_USERS),
    group: id,
    groupSeq: seq,
    ts: z.number().optional(),
    msgs: z.array(pushedMessage).max(MAX_PUSHED_MESSAGES).optional(),
  })
  .strict();

/** Why a `gview` frame was pushed: a move switched the member (`move`), or a rollback re-placed it (`rollback`). */
export const GROUP_VIEW_REASONS = ["move", "rollback"] as const;
export type GroupViewReason = (typeof GROUP_VIEW_REASONS)[number];
/** A `gview` push (a member's sub-group changed, docs/groups.md); sent in its own notify request, see moves.ts. */
export const groupViewItem = z.object({ userId: id, group: id, view: z.enum(GROUP_VIEW_REASONS) }).strict();
export type GroupViewItem = z.infer<typeof groupViewItem>;

/** What the fan-out (and a group move) asks a gateway to push. */
export const notifyRequest = z.object({
  items: z.array(z.union([inboxItem, groupItem, groupPushItem, groupViewItem])),
});
/** A notification of new messages for one receiver, as the fan-out makes them: an inbox seq or a group's groupSeq. */
export type NotifyItem = z.infer<typeof inboxItem> | z.infer<typeof groupItem>;
/** One group push for many receivers on one gateway (notify() folds group notifications into them). */
export type GroupPush = z.infer<typeof groupPushItem>;
/** Anything a notify request carries. */
export type PushItem = NotifyItem | GroupPush | GroupViewItem;

const userEvent = z.object({
  kind: z.literal("user"),
  messageId: id,
  from: id,
  receiver: id,
  seq,
  // body and ts let the fan-out push the message itself (older events without them are notified, then pulled).
  body: z.string().optional(),
  ts: z.number().optional(),
});
const groupEvent = z.object({ kind: z.literal("group"), messageId: id, from: id, group: id, groupSeq: seq });

/** The event `message` appends to Kafka after storing a message. */
export const storedEvent = z.discriminatedUnion("kind", [userEvent, groupEvent]);
export type StoredEvent = z.infer<typeof storedEvent>;

/**
 * What the fan-out consumes from the stored topic: the stored events, and the fan-out of one sub-group of a large
 * group up to groupSeq (docs/groups.md), appended by the fan-out itself and keyed `<group>:<subGroup>`; its ts is
 * when the group message was appended, for the delivery latency.
 */
export const fanoutEvent = z.discriminatedUnion("kind", [
  userEvent,
  groupEvent,
  z.object({
    kind: z.literal("subgroup"),
    group: id,
    subGroup: z.number().int().min(0).max(1023),
    groupSeq: seq,
    ts: z.number().optional(),
  }),
]);
export type FanoutEvent = z.infer<typeof fanoutEvent>;

/** Whether a stored-message topic key is a sub-group record's (`<group>:<subGroup>`), not a group's or a user's. */
export function isSubGroupKey(key: string): boolean {
  return !key.startsWith("g:") && !key.startsWith("u:") && key.includes(":");
}

/**
 * The `subgroup` records of one group message for a group of `subGroups` sub-groups, each keyed `<group>:<subGroup>`
 * (the send appends them, and the fan-out for a group event of a group that grew since; docs/groups.md).
 */
export function subGroupRecords(
  group: string,
  groupSeq: number,
  subGroups: number,
  ts?: number,
): Array<{ key: string; value: string }> {
  return Array.from({ length: subGroups }, (_, subGroup) => ({
    key: `${group}:${subGroup}`,
    value: JSON.stringify({ kind: "subgroup", group, subGroup, groupSeq, ts } satisfies FanoutEvent),
  }));
}
