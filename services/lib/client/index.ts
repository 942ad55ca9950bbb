/**
 * The IM client: connect with a token, send (retried with the same client message id until acknowledged, so a
 * send survives a gateway or message-service restart and is stored once), receive notifications and pull
 * everything after the last seq, dedupe by message id, reconnect with jittered backoff. Used by the tests, the
 * drills' message-loss probe and the benchmarks.
 */
import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import WebSocket from "ws";
import type { ClientOptions, ClientStats } from "./options.ts";
import { continuing } from "./runs.ts";
import { ClientError, RETRIABLE_PULL, RETRIABLE_SEND, retryDelayMs } from "./errors.ts";
import {
  wsProtocols,
  type ConversationRef,
  type PullResult,
  type SendResult,
  type ServerFrame,
  type SyncResult,
  type WireMessage,
} from "../protocol.ts";

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };

export class ImClient extends EventEmitter<{
  message: [WireMessage];
  open: [];
  close: [number];
  anomaly: [string];
  /** A send is retried after an error of this code (e.g. `overloaded`): what the client heard, counted by callers. */
  retry: [string];
  /** A `gview` push: the user's place in the group changed; the app re-reads what it caches of the group. */
  groupView: [group: string, reason: Extract<ServerFrame, { t: "gview" }>["reason"]];
}> {
  private ws: WebSocket | null = null;
  private closedByUser = false;
  private attempt = 0;
  private readonly pending = new Map<string, Pending>();
  private rid = 0;
  private openWaiters: Array<() => void> = [];
  private lastSeq = 0;
  private readonly groupCursor = new Map<string, number>();
  private readonly seen = new Set<string>();
  private pulling: Promise<void> | null = null;
  private pullAgain = false;
  private readonly gpulling = new Map<string, Promise<void>>();
  private readonly gAgain = new Set<string>();
  /** Pulls refused for now in a row (overloaded, unavailable, timeout), by inbox ("") or group: their backoff. */
  private readonly pullRefusals = new Map<string, number>();
  userId: string | null = null;
  readonly stats: ClientStats = { connects: 0, inboxSeqRegressions: 0, duplicatesDropped: 0 };

  private syncTimer: NodeJS.Timeout | null = null;
  private unacked = 0;
  private readonly sendSlots: Array<() => void> = [];

  constructor(private readonly o: ClientOptions) {
    super();
  }

  get isOpen(): boolean {
    return this.ws?.readyState === WebSocket.OPEN && this.userId !== null;
  }

  /** Connects and resolves once the gateway said hello; rejects on a refused handshake (bad token: no retry). */
  connect(): Promise<void> {
    this.closedByUser = false;
    const every = this.o.syncIntervalMs ?? 30_000;
    if (every > 0 && this.syncTimer === null) {
      const schedule = () => {
        this.syncTimer = setTimeout(
          () => {
            if (this.isOpen) void this.resync();
            schedule();
          },
          every * (0.75 + Math.random() * 0.5),
        );
        this.syncTimer.unref();
      };
      schedule();
    }
    return new Promise((resolve, reject) => {
      this.openWaiters.push(resolve);
      this.dial(reject);
    });
  }

  private dial(onRefused?: (e: Error) => void): void {
    // The token rides as a subprotocol, never in the URL (URLs end up in proxies' logs).
    const ws = new WebSocket(this.o.url, wsProtocols(this.o.token), {
      perMessageDeflate: false,
      localAddress: this.o.localAddress,
      handshakeTimeout: 5000,
    });
    this.ws = ws;
    ws.on("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => {
        let code = `http_${res.statusCode}`;
        try {
          code = (JSON.parse(body) as { error: string }).error;
        } catch {
          // keep http_<status>
        }
        const err = new ClientError(code, `handshake refused (${res.statusCode}): ${body}`);
        if (res.statusCode === 401 && onRefused) {
          this.closedByUser = true;
          onRefused(err);
        } else this.retry();
        ws.terminate();
      });
    });
    ws.on("message", (data) => this.onFrame(data.toString()));
    ws.on("error", () => undefined);
    ws.on("close", (code) => {
      const wasOpen = this.userId !== null;
      this.userId = null;
      for (const [, p] of this.pending) {
        clearTimeout(p.timer);
        p.reject(new ClientError("disconnected", "connection closed"));
      }
      this.pending.clear();
      this.emit("close", code);
      if (!this.closedByUser) this.retry(wasOpen);
    });
  }

  private retry(lostOpenConnection = false): void {
    if (this.closedByUser) return;
    if (lostOpenConnection) {
      setTimeout(() => this.dial(), Math.random() * (this.o.reconnectSpreadMs ?? 1000)).unref();
      return;
    }
    const min = this.o.minBackoffMs ?? 100;
    const cap = Math.min(this.o.maxBackoffMs ?? 3000, min * 2 ** this.attempt++);
    // Full jitter: clients cut by one gateway do not all come back at the same instant.
    setTimeout(() => this.dial(), min / 2 + Math.random() * cap).unref();
  }

  private onFrame(text: string): void {
    let f: ServerFrame;
    try {
      f = JSON.parse(text) as ServerFrame;
    } catch {
      this.emit("anomaly", "unparseable frame from the gateway");
      return;
    }
    switch (f.t) {
      case "hello":
        this.userId = f.userId;
        this.attempt = 0;
        this.stats.connects++;
        for (const w of this.openWaiters.splice(0)) w();
        this.emit("open");
        void this.resync();
        return;
      case "ack":
      case "res":
        return this.settle(f.rid, f.result);
      case "err":
        if (f.rid !== undefined)
          return this.settle(f.rid, undefined, new ClientError(f.error, f.message, f.retryAfterMs));
        this.emit("anomaly", `${f.error}: ${f.message}`);
        return;
      case "pong":
        if (f.rid !== undefined) this.settle(f.rid, {});
        return;
      case "notify":
        // Messages that ride along are taken while they continue the inbox without a gap; the rest is pulled.
        for (const m of continuing(f.msgs ?? [], this.lastSeq, (x) => x.seq)) this.deliver(m, true);
        if (f.seq > this.lastSeq) this.pullInbox();
        return;
      case "gnotify": {
        // The same in a group, from this client's cursor there (a group not synced yet has none: it pulls).
        const cursor = this.groupCursor.get(f.group);
        if (cursor !== undefined)
          for (const m of continuing(f.msgs ?? [], cursor, (x) => x.groupSeq ?? 0)) this.deliver(m, false);
        if (f.groupSeq > (this.groupCursor.get(f.group) ?? 0)) this.pullGroup(f.group);
        return;
      }
      case "gview":
        this.emit("groupView", f.group, f.reason);
        return;
      case "reconnect":
        // The gateway is draining: leave now, come back through the load balancer to another instance.
        this.ws?.close(1000, "reconnecting");
        return;
    }
  }

  private settle(rid: string, value: unknown, err?: Error): void {
    const p = this.pending.get(rid);
    if (!p) return;
    this.pending.delete(rid);
    clearTimeout(p.timer);
    if (err) p.reject(err);
    else p.resolve(value);
  }

  private async whenOpen(deadline: number): Promise<void> {
    while (!this.isOpen) {
      if (this.closedByUser) throw new ClientError("closed", "client closed");
      if (Date.now() > deadline) throw new ClientError("timeout", "not connected");
      await new Promise<void>((r) => {
        const t = setTimeout(r, 200);
        this.openWaiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** One request/response over the socket. */
  request<T>(frame: Record<string, unknown>): Promise<T> {
    const ws = this.ws;
    if (!ws || !this.isOpen) return Promise.reject(new ClientError("disconnected", "not connected"));
    const rid = String(++this.rid);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(rid);
        reject(
          new ClientError("timeout", `no answer to ${String(frame.t)} within ${this.o.requestTimeoutMs ?? 10_000} ms`),
        );
      }, this.o.requestTimeoutMs ?? 10_000);
      this.pending.set(rid, { resolve: resolve as (v: unknown) => void, reject, timer });
      ws.send(JSON.stringify({ ...frame, rid }));
    });
  }

  /**
   * Sends and resolves once the platform acknowledged it (stored and on Kafka). Retries across disconnects and
   * unavailable services with the same client message id until `timeoutMs`; the server stores it once.
   */
  async send(
    to: ConversationRef,
    body: string,
    opts: { cmid?: string; timeoutMs?: number } = {},
  ): Promise<SendResult & { cmid: string; attempts: number }> {
    const cmid = opts.cmid ?? randomUUID();
    const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
    await this.sendSlot(deadline);
    try {
      for (let attempts = 1; ; attempts++) {
        await this.whenOpen(deadline);
        try {
          const r = await this.request<SendResult>({ t: "send", cmid, to, body });
          return { ...r, cmid, attempts };
        } catch (err) {
          const code = err instanceof ClientError ? err.code : "error";
          if (!RETRIABLE_SEND.has(code) || Date.now() > deadline) throw err;
          this.emit("retry", code);
          await new Promise((r) => setTimeout(r, retryDelayMs(attempts, err)));
        }
      }
    } finally {
      this.unacked--;
      this.sendSlots.shift()?.();
    }
  }

  /** Sends waiting for their acknowledgement now (at most maxUnackedSends). */
  get unackedSends(): number {
    return this.unacked;
  }

  /** Waits for one of the maxUnackedSends slots (until `deadline`). */
  private async sendSlot(deadline: number): Promise<void> {
    const max = this.o.maxUnackedSends ?? 32;
    while (this.unacked >= max) {
      if (this.closedByUser) throw new ClientError("closed", "client closed");
      const left = deadline - Date.now();
      if (left <= 0) throw new ClientError("timeout", `no send slot within the send's timeout (${max} unacknowledged)`);
      await new Promise<void>((r) => {
        const t = setTimeout(() => {
          const i = this.sendSlots.indexOf(wake);
          if (i >= 0) this.sendSlots.splice(i, 1);
          r();
        }, left);
        const wake = () => {
          clearTimeout(t);
          r();
        };
        this.sendSlots.push(wake);
      });
    }
    this.unacked++;
  }

  private deliver(m: WireMessage, fromInbox: boolean): void {
    if (m.to.kind === "group" && m.groupSeq !== null) {
      this.groupCursor.set(m.to.id, Math.max(this.groupCursor.get(m.to.id) ?? 0, m.groupSeq));
    }
    if (fromInbox) {
      if (m.seq <= this.lastSeq) {
        this.stats.inboxSeqRegressions++;
        this.emit("anomaly", `inbox seq went backwards: ${m.seq} after ${this.lastSeq}`);
      }
      this.lastSeq = Math.max(this.lastSeq, m.seq);
    }
    if (this.seen.has(m.messageId)) {
      this.stats.duplicatesDropped++;
      return;
    }
    this.seen.add(m.messageId);
    this.emit("message", m);
  }

  /** Pulls the inbox after the last seq until it is empty (coalescing notifications that arrive meanwhile). */
  pullInbox(): void {
    if (this.pulling) {
      this.pullAgain = true;
      return;
    }
    this.pulling = (async () => {
      do {
        this.pullAgain = false;
        try {
          for (;;) {
            const after = this.lastSeq;
            const r = await this.request<PullResult>({ t: "pull", after, limit: 200 });
            for (const m of r.messages) {
              // At or below `after` the server broke its contract; below lastSeq only, a pushed message got
              // here first while this pull was on its way.
              if (m.seq <= after || m.seq > this.lastSeq) this.deliver(m, true);
            }
            if (r.messages.length < 200) break;
          }
          this.pullRefusals.delete("");
        } catch (err) {
          // Disconnected: the resync after reconnecting pulls again. Refused for now: again after a backoff.
          this.retryPull("", err, () => this.pullInbox());
        }
      } while (this.pullAgain && this.isOpen);
    })().finally(() => (this.pulling = null));
  }

  pullGroup(group: string): void {
    if (this.gpulling.has(group)) {
      this.gAgain.add(group);
      return;
    }
    const run = (async () => {
      do {
        this.gAgain.delete(group);
        try {
          for (;;) {
            const r = await this.request<PullResult>({
              t: "gpull",
              group,
              after: this.groupCursor.get(group) ?? 0,
              limit: 200,
            });
            for (const m of r.messages) this.deliver(m, false);
            if (r.messages.length < 200) break;
          }
          this.pullRefusals.delete(group);
        } catch (err) {
          // Disconnected: the resync after reconnecting pulls again. Refused for now: again after a backoff, since
          // no further notification may come (the group's last message) and the periodic sync may be far off.
          this.retryPull(group, err, () => this.pullGroup(group));
        }
      } while (this.gAgain.has(group) && this.isOpen);
    })().finally(() => this.gpulling.delete(group));
    this.gpulling.set(group, run);
  }

  /**
   * A pull the platform refused for now (overloaded: the message service's database queue full while a large
   * group's members all pull at once) is tried again after a jittered backoff (retryDelayMs), so a refusal costs a
   * delay, not a message left unshown until the next notification or sync.
   */
  private retryPull(key: string, err: unknown, again: () => void): void {
    if (!(err instanceof ClientError) || !RETRIABLE_PULL.has(err.code) || this.closedByUser) return;
    const attempt = (this.pullRefusals.get(key) ?? 0) + 1;
    this.pullRefusals.set(key, attempt);
    setTimeout(
      () => {
        if (this.isOpen) again();
      },
      retryDelayMs(attempt, err),
    ).unref();
  }

  /** After every (re)connect: pull the inbox and every read-diffusion group from where this client stood. */
  private async resync(): Promise<void> {
    try {
      const s = await this.request<SyncResult>({ t: "sync" });
      for (const g of s.readGroups) {
        if (!this.groupCursor.has(g.group)) this.groupCursor.set(g.group, g.joinedGroupSeq);
        if (g.head > (this.groupCursor.get(g.group) ?? 0)) this.pullGroup(g.group);
      }
      if (s.inboxHead > this.lastSeq) this.pullInbox();
    } catch {
      // reconnecting again; the next hello resyncs
    }
  }

  /** Waits until every pull in flight has finished. */
  async settled(): Promise<void> {
    while (this.pulling || this.gpulling.size > 0) await Promise.all([this.pulling, ...this.gpulling.values()]);
  }

  close(): void {
    this.closedByUser = true;
    if (this.syncTimer !== null) clearTimeout(this.syncTimer);
    this.syncTimer = null;
    this.ws?.close(1000, "bye");
  }
}

export { AccountApi } from "./account-api.ts";
export { ClientError, retryDelayMs };
export type { ClientOptions, ClientStats };
