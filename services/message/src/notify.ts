/** The notifying half of the fan-out: one coalesced notification per receiver, to the gateways holding it. */
import type { Cluster } from "ioredis";
import { request } from "undici";
import type { Logger } from "../../lib/log.ts";
import { lookup } from "../../lib/presence.ts";
import { consecutiveRun, type NotifyItem, type PushedMessage, type PushItem } from "../../lib/protocol.ts";
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
  const msgs = new Map<string, PushedMessage[]>();
  for (const it of items) {
    const k = "group" in it ? `${it.userId}/${it.group}` : it.userId;
    const prev = byKey.get(k);
    const n = "group" in it ? it.groupSeq : it.seq;
    const p = prev === undefined ? -1 : "group" in prev ? prev.groupSeq : prev.seq;
    if (n > p) byKey.set(k, it);
    if (!("group" in it)) {
      msgs.set(k, [...(msgs.get(k) ?? []), ...(it.msgs ?? [])]);
    }
  }
  return [...byKey].map(([k, it]) => {
    if ("group" in it) return it;
    const { msgs: _drop, ...bare } = it;
    const run = consecutiveRun(msgs.get(k) ?? [], it.seq);
    return run.length === 0 ? bare : { ...bare, msgs: run };
  });
}

/**
 * Sends each item to the gateways holding its user, one request per gateway (chunked). A request a gateway refuses
 * or cannot be reached for is counted in im_message_notifications_total by result (`rejected`, `unreachable`), per
 * item: the group move's analysis reads those as notify errors (docs/groups.md).
 */
export async function notify(d: NotifyDeps, items: PushItem[]): Promise<void> {
  if (items.length === 0) return;
  const where = await lookup(d.redis, [...new Set(items.map((i) => i.userId))]);
  const perGateway = new Map<string, PushItem[]>();
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

function chunks(items: PushItem[]): PushItem[][] {
  const out: PushItem[][] = [];
  let cur: PushItem[] = [];
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
