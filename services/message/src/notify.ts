/** The notifying half of the fan-out: one coalesced notification per receiver, to the gateways holding it. */
import type { Cluster } from "ioredis";
import { request } from "undici";
import type { Logger } from "../../lib/log.ts";
import { lookup } from "../../lib/presence.ts";
import {
  consecutiveRun,
  MAX_GROUP_PUSH_USERS,
  type GroupPush,
  type GroupViewItem,
  type NotifyItem,
  type PushedMessage,
  type PushItem,
} from "../../lib/protocol.ts";
import type { MessageMetrics } from "./metrics.ts";

/** What notifying needs: presence (Redis), the gateways' internal token, a logger and the metrics. */
export interface NotifyDeps {
  redis: Cluster;
  internalToken: string;
  log: Logger;
  metrics: MessageMetrics;
}

/**
 * One notification per user (and per user and group): one push says "everything up to N". The messages that
 * ride along are the consecutive run of seqs ending at N (at most MAX_PUSHED_MESSAGES of it): a seq this batch
 * does not hold (consumed by another instance, or an event without its message) ends the run, so a push never
 * has a hole; when N's own message is missing none ride along and the client pulls.
 */
export function coalesce(items: NotifyItem[]): NotifyItem[] {
  const byKey = new Map<string, NotifyItem>();
  // Keys met more than once, with every message that rode along for them. A group push met once keeps its array,
  // shared with the other members of its run (notify() folds them into one push per gateway by it).
  const msgs = new Map<string, PushedMessage[]>();
  for (const it of items) {
    const k = "group" in it ? `${it.userId}/${it.group}` : it.userId;
    const prev = byKey.get(k);
    const n = "group" in it ? it.groupSeq : it.seq;
    const p = prev === undefined ? -1 : "group" in prev ? prev.groupSeq : prev.seq;
    if (prev !== undefined && !msgs.has(k)) msgs.set(k, [...(prev.msgs ?? [])]);
    if (n > p) byKey.set(k, it);
    if (prev !== undefined) msgs.get(k)!.push(...(it.msgs ?? []));
  }
  return [...byKey].map(([k, it]) => {
    const all = msgs.get(k);
    if (all === undefined) {
      if (it.msgs === undefined || "group" in it) return it;
      // Met once: still only the consecutive run ending at its seq leaves here.
      const run = consecutiveRun(it.msgs, it.seq);
      if (run.length === it.msgs.length) return it;
      const { msgs: _drop, ...bare } = it;
      return run.length === 0 ? bare : { ...bare, msgs: run };
    }
    const { msgs: _drop, ...bare } = it;
    const run = consecutiveRun(all, "group" in it ? it.groupSeq : it.seq);
    return run.length === 0 ? bare : { ...bare, msgs: run };
  });
}

/**
 * Sends each item to the gateways holding its user, one request per gateway (chunked; group notifications of one run
 * folded into one push, groupPushes). A request that failed in a way that may pass is tried again (deliver). A request
 * a gateway refuses or cannot be reached for in the end is counted in im_message_notifications_total by result
 * (`rejected`, `unreachable`), per receiver: the group move's analysis reads those as notify errors (docs/groups.md).
 */
export async function notify(
  d: NotifyDeps,
  items: Array<NotifyItem | GroupViewItem>,
  known: Presence[] = [],
): Promise<void> {
  if (items.length === 0) return;
  const where = await whereAre(d.redis, items, known);
  const perGateway = new Map<string, Array<NotifyItem | GroupViewItem>>();
  for (const it of items) {
    for (const gw of where.get(it.userId) ?? []) {
      const list = perGateway.get(gw) ?? [];
      list.push(it);
      perGateway.set(gw, list);
    }
  }
  const requests = [...perGateway].flatMap(([gw, list]) =>
    chunks(groupPushes(list)).map((part) => [gw, part] as const),
  );
  await Promise.all(requests.map(([gw, list]) => deliver(d, gw, list)));
}

/**
 * When a notify request that failed in a way that may pass (a timeout, a connection reset, a 5xx) is tried again.
 * A notification says "everything up to N", so a late or repeated one is harmless, while a lost one leaves an online
 * client unaware of what it was sent until its next notification or reconnect: nothing else tells it.
 */
export const NOTIFY_RETRY_DELAYS_MS = [250, 1000];
/** Retries waiting at once, at most: past it a failed request is counted unreachable at once (bounded memory). */
const MAX_WAITING_RETRIES = 1000;
let waitingRetries = 0;

type Attempt = { result: "ok" | "rejected" } | { result: "unreachable"; retry: boolean; why: string };

/** One notify request to one gateway. */
async function post(d: NotifyDeps, gw: string, list: PushItem[]): Promise<Attempt> {
  try {
    const res = await request(`${gw}/internal/v1/notify`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-im-internal": d.internalToken },
      body: JSON.stringify({ items: list }),
      headersTimeout: 2000,
      bodyTimeout: 2000,
    });
    await res.body.dump();
    if (res.statusCode === 200) return { result: "ok" };
    // A refusal (a bad item, a wrong token) is refused again; a 5xx may pass.
    if (res.statusCode < 500) return { result: "rejected" };
    return { result: "unreachable", retry: true, why: `HTTP ${res.statusCode}` };
  } catch (err) {
    // Refused: nothing listens there any more, the gateway is gone and its clients reconnect elsewhere and pull.
    const code = (err as { code?: unknown }).code;
    return { result: "unreachable", retry: code !== "ECONNREFUSED", why: String(code ?? (err as Error).message) };
  }
}

/**
 * Sends one notify request; one that failed in a way that may pass is tried again in the background (the batch does
 * not wait for it: one slow gateway must not hold up everyone else's notifications). Counted once, by its last
 * result, in im_message_notifications_total per receiver.
 */
async function deliver(d: NotifyDeps, gw: string, list: PushItem[], attempt = 0): Promise<void> {
  const receivers = list.reduce((n, it) => n + ("users" in it ? it.users.length : 1), 0);
  const r = await post(d, gw, list);
  if (r.result !== "unreachable") {
    d.metrics.notifications.inc({ result: r.result }, receivers);
    return;
  }
  const delay = NOTIFY_RETRY_DELAYS_MS[attempt];
  if (r.retry && delay !== undefined && waitingRetries < MAX_WAITING_RETRIES) {
    waitingRetries++;
    setTimeout(() => {
      waitingRetries--;
      void deliver(d, gw, list, attempt + 1);
    }, delay).unref();
    return;
  }
  d.metrics.notifications.inc({ result: "unreachable" }, receivers);
  const fields = { gw, err: r.why, attempts: attempt + 1, receivers };
  const message = "notify failed; its receivers learn of it on their next notification or reconnect";
  // A gateway still there that keeps failing is worth a warning, once per WARN_EVERY_MS per gateway (a hung one
  // fails every batch's request); a gone one is expected during restarts.
  const now = Date.now();
  if (r.retry && now - (lastWarned.get(gw) ?? 0) >= WARN_EVERY_MS) {
    lastWarned.set(gw, now);
    d.log.warn(fields, message);
  } else d.log.debug(fields, message);
}

const WARN_EVERY_MS = 10_000;
const lastWarned = new Map<string, number>();

/** Presence already looked up by the batch: every user of `looked`, and where the online ones among them are. */
export interface Presence {
  looked: string[];
  where: Map<string, string[]>;
}

/** Where the items' users are connected: from `known` for the users it covers, one look-up for the rest. */
export async function whereAre(
  redis: Cluster,
  items: Array<NotifyItem | GroupViewItem>,
  known: Presence[],
): Promise<Map<string, string[]>> {
  const users = new Set(items.map((i) => i.userId));
  if (known.length === 0) return lookup(redis, [...users]);
  const where = new Map<string, string[]>();
  for (const k of known) {
    for (const u of k.looked) users.delete(u);
    for (const [u, gws] of k.where) where.set(u, gws);
  }
  if (users.size > 0) for (const [u, gws] of await lookup(redis, [...users])) where.set(u, gws);
  return where;
}

/**
 * Folds the group notifications of one gateway that carry the same run (one group, one newest group seq, the same
 * entries riding along) into one push for all their receivers: the gateway builds its frame once, and the entries
 * cross the wire once per gateway instead of once per member.
 */
export function groupPushes(items: Array<NotifyItem | GroupViewItem>): PushItem[] {
  const out: PushItem[] = [];
  const pushes = new Map<string, GroupPush>();
  for (const it of items) {
    if (!("groupSeq" in it)) {
      out.push(it);
      continue;
    }
    const first = it.msgs?.[0]?.seq ?? 0;
    const key = `${it.group}/${it.groupSeq}/${first}/${it.msgs?.length ?? 0}`;
    const p = pushes.get(key);
    if (p && p.users.length < MAX_GROUP_PUSH_USERS) {
      p.users.push(it.userId);
      continue;
    }
    const { userId, ...rest } = it;
    const next: GroupPush = { ...rest, users: [userId] };
    pushes.set(key, next);
    out.push(next);
  }
  return out;
}

/** Keeps one notify request well under the gateway's body limit when messages ride along. */
const NOTIFY_REQUEST_BYTES = 128 * 1024;

function chunks(items: PushItem[]): PushItem[][] {
  const out: PushItem[][] = [];
  let cur: PushItem[] = [];
  let bytes = 0;
  for (const it of items) {
    const size =
      64 +
      ("users" in it ? it.users.length * 24 : 0) +
      ("msgs" in it && it.msgs ? it.msgs.reduce((n, m) => n + 96 + Buffer.byteLength(m.body), 0) : 0);
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
