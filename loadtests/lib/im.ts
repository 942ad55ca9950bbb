/**
 * The IM protocol for k6 VUs: one WebSocket per VU through the edge, token auth, send with acknowledgement,
 * notification-driven pulls of the inbox and of read-diffusion group timelines, dedupe by message id,
 * reconnect after an unexpected close. Mirrors services/lib/client, in k6's event loop.
 */
import { WebSocket } from "k6/websockets";
import { clearInterval, setInterval, setTimeout } from "k6/timers";
import { ackLatency, reconnects, requestErrors, sentMessages } from "./metrics.ts";

export interface Delivered {
  messageId: string;
  from: string;
  to: { kind: "user" | "group"; id: string };
  groupSeq: number | null;
  seq: number;
  body: string;
}

interface Pending {
  t0: number;
  kind: string;
  onOk?: (result: Record<string, unknown>) => void;
  /** Called instead of counting an error: the request's owner decides (a send retries, a pull starts over). */
  onErr?: (code: string, retryAfterMs?: number) => void;
}

interface Handlers {
  onOpen?: (s: ImSession) => void;
  onMessage?: (m: Delivered, s: ImSession) => void;
}

const REQUEST_TIMEOUT_MS = 10_000;
/** WebSocket readyState OPEN (k6's module exposes the state as a number). */
const OPEN = 1;
/** How long a send keeps retrying (same client message id) across reconnects and unavailable services. */
export const SEND_RETRY_MS = 30_000;
const RETRIABLE = new Set(["not_connected", "disconnected", "timeout", "unavailable", "overloaded", "internal"]);
/**
 * Most sends of one session waiting for their acknowledgement; further sends wait their turn in the session (as
 * services/lib/client's maxUnackedSends), so a fault cannot make every VU resend everything it holds at once.
 */
export const MAX_UNACKED_SENDS = 32;

/** Wait before retrying a send: what the platform asked for times 1-2, else 100 ms to 5 s with full jitter. */
function retryDelay(attempt: number, retryAfterMs?: number): number {
  if (retryAfterMs !== undefined && retryAfterMs > 0) return retryAfterMs * (1 + Math.random());
  return 50 + Math.random() * Math.min(5000, 100 * 2 ** Math.min(attempt, 10));
}

export class ImSession {
  private ws: WebSocket | null = null;
  private rid = 0;
  private readonly pending = new Map<string, Pending>();
  private lastSeq = 0;
  private readonly cursors = new Map<string, number>();
  private readonly seen = new Set<string>();
  private pulling = false;
  private pullAgain = false;
  private readonly gpulling = new Set<string>();
  private closing = false;
  private sweeper: number | null = null;
  /** Sends waiting for the next hello (issued while the connection was down). */
  private waiting: Array<() => void> = [];
  private cmidSeq = 0;
  /** Sends not yet acknowledged or given up, and the ones waiting for a slot. */
  private unacked = 0;
  private readonly held: Array<() => void> = [];
  private reconnectCount = 0;
  open = false;
  userId = "";

  constructor(
    private readonly url: string,
    private readonly token: string,
    private readonly h: Handlers = {},
  ) {}

  connect(): void {
    // The token rides as a subprotocol beside the protocol's own (as services/lib/protocol.ts wsProtocols), never in
    // the URL, which proxies log. k6 ignores its `protocols` argument, so the header is set directly.
    const ws = new WebSocket(this.url, null, {
      headers: { "Sec-WebSocket-Protocol": `im.v1, im.token.${this.token}` },
    });
    this.ws = ws;
    ws.onmessage = (e) => {
      if (e) this.frame(String(e.data));
    };
    ws.onclose = () => {
      this.open = false;
      // Requests in flight on this socket get no answer now: their owners retry after the reconnect.
      const lost = [...this.pending.values()];
      this.pending.clear();
      for (const p of lost) {
        if (p.onErr) p.onErr("disconnected");
        else if (!this.closing) requestErrors.add(1, { kind: p.kind, error: "disconnected" });
      }
      if (this.closing) {
        if (this.sweeper !== null) clearInterval(this.sweeper);
        return;
      }
      reconnects.add(1);
      this.reconnectCount++;
      // Spread over a second: the VUs of a gateway that died do not all come back in one burst.
      setTimeout(() => this.connect(), 100 + Math.random() * 900);
    };
    ws.onerror = () => undefined;
    if (this.sweeper === null) {
      // Requests never answered count as errors instead of hanging the VU.
      this.sweeper = setInterval(() => {
        const now = Date.now();
        for (const [rid, p] of this.pending) {
          if (now - p.t0 > REQUEST_TIMEOUT_MS) {
            this.pending.delete(rid);
            if (p.onErr) p.onErr("timeout");
            else requestErrors.add(1, { kind: p.kind, error: "timeout" });
          }
        }
      }, 1000);
    }
  }

  /**
   * k6's WebSocket.send throws (InvalidStateError) unless the socket is OPEN, and a throw inside a timer ends the
   * VU's iteration: its remaining sends are never made and its partner counts them as lost. Between the gateway's
   * "reconnect" (or its close frame) and onclose the socket is CLOSING while `open` is still true, so the state is
   * checked here and a send that throws anyway is answered as a disconnect, which its owner retries.
   */
  private request(
    frame: Record<string, unknown>,
    onOk?: (r: Record<string, unknown>) => void,
    onErr?: (code: string, retryAfterMs?: number) => void,
  ): void {
    const ws = this.ws;
    const fail = (code: string): void => {
      if (onErr) onErr(code);
      else requestErrors.add(1, { kind: String(frame.t), error: code });
    };
    if (!ws || !this.open || ws.readyState !== OPEN) return fail("not_connected");
    const rid = String(++this.rid);
    try {
      ws.send(JSON.stringify({ ...frame, rid }));
    } catch {
      return fail("not_connected");
    }
    this.pending.set(rid, { t0: Date.now(), kind: String(frame.t), onOk, onErr });
  }

  private frame(text: string): void {
    const f = JSON.parse(text) as Record<string, unknown> & { t: string };
    switch (f.t) {
      case "hello":
        this.open = true;
        this.userId = String(f.userId);
        this.h.onOpen?.(this);
        for (const retry of this.waiting.splice(0)) retry();
        this.pull(); // after a reconnect: catch up
        for (const g of this.cursors.keys()) this.gpull(g);
        return;
      case "ack":
      case "res": {
        const p = this.pending.get(String(f.rid));
        if (!p) return;
        this.pending.delete(String(f.rid));
        if (p.kind === "send") ackLatency.add(Date.now() - p.t0);
        p.onOk?.(f.result as Record<string, unknown>);
        return;
      }
      case "err": {
        const rid = f.rid === undefined ? undefined : String(f.rid);
        const p = rid === undefined ? undefined : this.pending.get(rid);
        if (rid !== undefined) this.pending.delete(rid);
        if (p?.onErr) p.onErr(String(f.error), typeof f.retryAfterMs === "number" ? f.retryAfterMs : undefined);
        else requestErrors.add(1, { kind: p?.kind ?? "unsolicited", error: String(f.error) });
        return;
      }
      case "notify":
        // Messages that ride along are taken while they continue the inbox without a gap; the rest is pulled.
        for (const m of Array.isArray(f.msgs) ? (f.msgs as Delivered[]) : []) {
          if (m.seq === this.lastSeq + 1) this.deliver(m, true);
          else if (m.seq > this.lastSeq) break;
        }
        if (Number(f.seq) > this.lastSeq) this.pull();
        return;
      case "gnotify": {
        // The same in a group, from the cursor there (a group not synced yet has none: it pulls).
        const group = String(f.group);
        if (this.cursors.has(group))
          for (const m of Array.isArray(f.msgs) ? (f.msgs as Delivered[]) : []) {
            const at = this.cursors.get(group) ?? 0;
            if (m.groupSeq === at + 1) this.deliver(m, false);
            else if ((m.groupSeq ?? 0) > at) break;
          }
        if (Number(f.groupSeq) > (this.cursors.get(group) ?? 0)) this.gpull(group);
        return;
      }
      case "reconnect":
        // Requests issued from now on wait for the next hello instead of meeting a closing socket.
        this.open = false;
        this.ws?.close();
        return;
    }
  }

  /**
   * Sends; `onAck` runs once the platform acknowledged it (stored durably and on Kafka), `onFail` once the session
   * gave up on it (a final refusal, or SEND_RETRY_MS passed): exactly one of them runs.
   */
  send(
    to: { kind: "user" | "group"; id: string },
    body: string,
    onAck?: () => void,
    onFail?: (code: string) => void,
    /** A control message (a journey's manifest), not load: left out of im_sent_messages. */
    control = false,
  ): void {
    if (!control) sentMessages.add(1);
    // Like services/lib/client: retried with the same client message id across a gateway's drain (reconnect)
    // and unavailable services until SEND_RETRY_MS; the platform stores it once.
    const cmid = `${this.userId || "u"}-${Date.now().toString(36)}-${++this.cmidSeq}`;
    const deadline = Date.now() + SEND_RETRY_MS;
    let tries = 0;
    const done = (): void => {
      this.unacked--;
      this.held.shift()?.();
    };
    const attempt = (): void => {
      if (!this.open) {
        if (Date.now() > deadline) {
          requestErrors.add(1, { kind: "send", error: "not_connected" });
          done();
          onFail?.("not_connected");
        } else this.waiting.push(attempt);
        return;
      }
      tries++;
      this.request(
        { t: "send", cmid, to, body },
        () => {
          done();
          onAck?.();
        },
        (code, retryAfterMs) => {
          if (RETRIABLE.has(code) && Date.now() < deadline) setTimeout(attempt, retryDelay(tries, retryAfterMs));
          else {
            requestErrors.add(1, { kind: "send", error: code });
            done();
            onFail?.(code);
          }
        },
      );
    };
    const start = (): void => {
      this.unacked++;
      attempt();
    };
    if (this.unacked < MAX_UNACKED_SENDS) start();
    else this.held.push(start);
  }

  private deliver(m: Delivered, fromInbox: boolean): void {
    if (fromInbox) this.lastSeq = Math.max(this.lastSeq, m.seq);
    if (m.to.kind === "group" && m.groupSeq !== null)
      this.cursors.set(m.to.id, Math.max(this.cursors.get(m.to.id) ?? 0, m.groupSeq));
    if (this.seen.has(m.messageId)) return;
    this.seen.add(m.messageId);
    this.h.onMessage?.(m, this);
  }

  pull(): void {
    if (this.pulling) {
      this.pullAgain = true;
      return;
    }
    this.pulling = true;
    this.request(
      { t: "pull", after: this.lastSeq, limit: 200 },
      (r) => {
        const msgs = (r.messages ?? []) as Delivered[];
        for (const m of msgs) this.deliver(m, true);
        this.pulling = false;
        if (msgs.length === 200 || this.pullAgain) {
          this.pullAgain = false;
          this.pull();
        }
      },
      (code) =>
        this.pullFailed(
          code,
          () => {
            this.pulling = false;
          },
          () => this.pull(),
        ),
    );
  }

  /** A failed pull must not wedge the session: the next hello pulls after a disconnect, otherwise retry soon. */
  private pullFailed(code: string, reset: () => void, again: () => void): void {
    reset();
    if (code === "disconnected" || code === "not_connected") return;
    requestErrors.add(1, { kind: "pull", error: code });
    setTimeout(again, 500);
  }

  /** Follows a read-diffusion group's timeline from `from` (the group seq the member joined at). */
  follow(group: string, from = 0): void {
    if (!this.cursors.has(group)) this.cursors.set(group, from);
  }

  gpull(group: string): void {
    if (this.gpulling.has(group)) return;
    this.gpulling.add(group);
    this.request(
      { t: "gpull", group, after: this.cursors.get(group) ?? 0, limit: 200 },
      (r) => {
        const msgs = (r.messages ?? []) as Delivered[];
        for (const m of msgs) this.deliver(m, false);
        this.gpulling.delete(group);
        if (msgs.length === 200) this.gpull(group);
      },
      (code) =>
        this.pullFailed(
          code,
          () => this.gpulling.delete(group),
          () => this.gpull(group),
        ),
    );
  }

  /** The session's state in one line, for a journey that ended short. */
  describe(): string {
    return (
      `socket ${this.ws?.readyState ?? "none"}, open ${this.open}, lastSeq ${this.lastSeq}, pending` +
      ` ${this.pending.size}, waiting ${this.waiting.length}, reconnects ${this.reconnectCount}, pulling ${this.pulling}`
    );
  }

  close(): void {
    this.closing = true;
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweeper = null;
    this.ws?.close();
  }
}

/**
 * The body every load message carries: when it was sent, for delivery latency at the receiver, padded to
 * `bytes` (BODY_BYTES) so a scenario can fill a gateway's egress budget with few messages.
 */
export function loadBody(n: number, bytes = 0): string {
  const body = JSON.stringify({ ts: Date.now(), n });
  const pad = bytes - body.length - 8;
  return pad > 0 ? JSON.stringify({ ts: Date.now(), n, pad: "x".repeat(pad) }) : body;
}

export function sentAt(body: string): number | null {
  try {
    const v = JSON.parse(body) as { ts?: unknown };
    return typeof v.ts === "number" ? v.ts : null;
  } catch {
    return null;
  }
}
