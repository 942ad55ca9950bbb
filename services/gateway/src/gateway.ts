/**
 * The gateway: long-lived WebSocket connections behind the nginx tier. It authenticates on connect, keeps
 * connections alive with heartbeats and drops idle ones, cuts slow clients instead of buffering without bound,
 * caps its egress bandwidth, relays client requests to the message service, pushes notifications, and on
 * SIGTERM drains: it stops accepting, tells every client to reconnect elsewhere and closes within a deadline.
 */
import type { IncomingMessage, Server } from "node:http";
import type { Duplex } from "node:stream";
import type { Cluster } from "ioredis";
import { WebSocketServer, type RawData, type WebSocket } from "ws";
import { ApiError } from "../../lib/errors.ts";
import type { Logger } from "../../lib/log.ts";
import * as presence from "../../lib/presence.ts";
import {
  clientFrame,
  handshakeToken,
  TOKEN_IN_URL,
  TOKEN_IN_URL_PATH,
  MAX_FRAME_BYTES,
  WS_SUBPROTOCOL,
  type ClientFrame,
  type PushItem,
  type PullResult,
  type SendResult,
  type ServerFrame,
  type SyncResult,
} from "../../lib/protocol.ts";
import { verifyToken, type KeyRing } from "../../lib/tokens.ts";
import type { EgressLimiter } from "./egress.ts";
import type { GatewayMetrics } from "./metrics.ts";
import { pushOf } from "./push-frames.ts";
import type { MessageUpstream } from "./upstream.ts";

export interface GatewayOptions {
  instanceId: string;
  version: string;
  /** This instance's internal URL, where the fan-out sends notifications. */
  internalUrl: string;
  keys: KeyRing;
  upstream: MessageUpstream;
  redis: Cluster;
  log: Logger;
  metrics: GatewayMetrics;
  egress: EgressLimiter;
  heartbeatMs: number;
  idleTimeoutMs: number;
  /** Bytes queued in the kernel and ws for one client beyond which it is cut as a slow consumer. */
  sendBufferLimit: number;
  maxConnections: number;
  drainSeconds: number;
}

/** Close codes clients branch on. */
export const CLOSE = { idle: 4000, slowConsumer: 4008, draining: 1012, tryAgain: 1013 } as const;
/** Waits before the second and third try of a connection's presence write. */
const PRESENCE_RETRY_MS = [200, 800];

interface Conn {
  ws: WebSocket;
  userId: string;
  /** When the client last sent anything (a frame or a pong). */
  lastSeen: number;
  /** Which of the heartbeat's slices looks at this connection. */
  slice: number;
  /** Sends of this connection not yet answered. */
  unacked: number;
}

/**
 * Most sends one connection may have unanswered; beyond, a send is refused `overloaded` at once. A client that
 * resends everything it holds on every reconnect (the retry storm that wedged the message tier) is held to this.
 */
export const MAX_UNACKED_SENDS_PER_CONNECTION = 64;
/** What a per-connection refusal tells the client to wait, ms. */
export const CONNECTION_RETRY_AFTER_MS = 500;

/**
 * The heartbeat looks at 1/HEARTBEAT_SLICES of the connections every heartbeatMs / HEARTBEAT_SLICES, so each is
 * looked at once per interval and the pings of thousands of connections do not leave in one burst (a stall of
 * the gateway, the load balancer and the clients at once, every interval).
 */
export const HEARTBEAT_SLICES = 20;

function reject(socket: Duplex, status: number, error: string, message: string): void {
  const body = JSON.stringify({ error, message });
  const reason =
    { 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 503: "Service Unavailable" }[status] ?? "Error";
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

export class Gateway {
  private readonly users = new Map<string, Set<Conn>>();
  private readonly wss = new WebSocketServer({
    noServer: true,
    maxPayload: 64 * 1024,
    perMessageDeflate: false,
    clientTracking: false,
    // Select the protocol's own subprotocol, never the one carrying the token (it would be echoed back).
    handleProtocols: (offered: Set<string>) => (offered.has(WS_SUBPROTOCOL) ? WS_SUBPROTOCOL : false),
  });
  private count = 0;
  /** Upgrades past the token check whose WebSocket handshake has not finished: they hold a slot too. */
  private handshaking = 0;
  private draining = false;
  private timers: NodeJS.Timeout[] = [];
  private nextSlice = 0;
  private heartbeats = 0;
  private presenceRefreshes = 0;
  /** The first announcement in presence:gateways (a failed one is tried again by the next connection). */
  private announced: Promise<void> | undefined;

  constructor(private readonly o: GatewayOptions) {
    this.o.metrics.egressCap.set(o.egress.cap);
    this.timers.push(setInterval(() => this.heartbeat(), o.heartbeatMs / HEARTBEAT_SLICES));
    // Re-assert presence well within its TTL: it survives a Redis failover that lost recent writes. In slices, like
    // the heartbeat: a transaction per user for every user at once would stall this instance and Redis each time.
    this.timers.push(
      setInterval(
        () => void this.refreshPresence(),
        (presence.PRESENCE_TTL_SECONDS * 1000) / 3 / presence.PRESENCE_SLICES,
      ),
    );
    for (const t of this.timers) t.unref();
  }

  get connections(): number {
    return this.count;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  attach(server: Server): void {
    server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head));
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on("error", () => socket.destroy());
    const url = new URL(req.url ?? "/", "http://gateway");
    // A token in the URL is refused first, valid or not: proxies log URLs. Never echoed. The Kubernetes edge
    // rewrites such an upgrade's path to TOKEN_IN_URL_PATH: refused the same way.
    if (url.searchParams.has("token") || url.pathname === TOKEN_IN_URL_PATH) {
      this.o.metrics.refused.inc({ reason: "token_in_url" });
      return reject(socket, 400, "token_in_url", TOKEN_IN_URL);
    }
    if (url.pathname !== "/ws") return reject(socket, 404, "bad_request", "WebSocket endpoint is /ws");
    if (this.draining) {
      this.o.metrics.refused.inc({ reason: "draining" });
      return reject(socket, 503, "unavailable", "gateway draining: connect again");
    }
    if (this.count + this.handshaking >= this.o.maxConnections) {
      this.o.metrics.refused.inc({ reason: "limit" });
      return reject(socket, 503, "unavailable", "gateway at its connection limit");
    }
    const token = handshakeToken(req.headers);
    let userId: string;
    try {
      userId = verifyToken(this.o.keys, token).sub;
    } catch (err) {
      const e = err instanceof ApiError ? err : new ApiError("unauthorized", "bad token");
      this.o.metrics.refused.inc({ reason: e.code });
      return reject(socket, 401, e.code, e.message);
    }
    // The slot is held from here; released when the handshake completes or the socket dies first.
    this.handshaking++;
    let held = true;
    const release = () => {
      if (held) {
        held = false;
        this.handshaking--;
      }
    };
    socket.once("close", release);
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      release();
      this.open(ws, userId);
    });
  }

  private open(ws: WebSocket, userId: string): void {
    this.count++;
    const conn: Conn = { ws, userId, lastSeen: Date.now(), slice: this.nextSlice++ % HEARTBEAT_SLICES, unacked: 0 };
    this.users.set(userId, (this.users.get(userId) ?? new Set<Conn>()).add(conn));
    this.o.metrics.connections.set(this.count);
    ws.on("message", (data, isBinary) => void this.frame(conn, data, isBinary));
    ws.on("pong", () => (conn.lastSeen = Date.now()));
    ws.on("error", () => undefined);
    ws.on("close", () => this.closed(conn));
    // The hello (a client pulls on it) waits for the presence write: what is stored after the pull is fanned out here.
    const hello = { t: "hello" as const, userId, instance: this.o.instanceId, version: this.o.version };
    // A client greeted while no presence says where it is would get no notification until the next refresh of its
    // slice (up to a third of the TTL), and would not know: it is closed instead, and connects again.
    this.register(userId).then(
      () => ws.readyState === ws.OPEN && this.push(conn, hello),
      (err: Error) => {
        this.o.log.warn({ err: err.message }, "presence could not be written; closing the connection to be made again");
        ws.close(CLOSE.tryAgain, "presence unavailable: connect again");
      },
    );
  }

  /** Writes a new connection's presence, trying three times; the gateway announces itself first if it has not yet. */
  private async register(userId: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        this.announced ??= presence.announce(this.o.redis, this.o.internalUrl).catch((err: unknown) => {
          this.announced = undefined;
          throw err;
        });
        await Promise.all([this.announced, presence.connected(this.o.redis, userId, this.o.internalUrl)]);
        return;
      } catch (err) {
        const wait = PRESENCE_RETRY_MS[attempt];
        if (wait === undefined) throw err;
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  private closed(conn: Conn): void {
    this.count--;
    this.o.metrics.connections.set(this.count);
    const set = this.users.get(conn.userId);
    set?.delete(conn);
    if (set && set.size === 0) this.users.delete(conn.userId);
    presence.disconnected(this.o.redis, conn.userId, this.o.internalUrl).catch(() => undefined);
  }

  private async frame(conn: Conn, data: RawData, isBinary: boolean): Promise<void> {
    conn.lastSeen = Date.now();
    const size = Array.isArray(data)
      ? data.reduce((n, b) => n + b.length, 0)
      : data instanceof ArrayBuffer
        ? data.byteLength
        : data.length;
    this.o.metrics.bytesIn.inc(size);
    if (isBinary) return this.error(conn, undefined, new ApiError("bad_request", "frames are JSON text"));
    if (size > MAX_FRAME_BYTES)
      return this.error(
        conn,
        undefined,
        new ApiError("frame_too_large", `frames are at most ${MAX_FRAME_BYTES} bytes`),
      );
    let raw: unknown;
    try {
      raw = JSON.parse(data.toString());
    } catch {
      return this.error(conn, undefined, new ApiError("malformed_json", "frame is not valid JSON"));
    }
    const parsed = clientFrame.safeParse(raw);
    const rid =
      raw !== null && typeof raw === "object" && "rid" in raw && typeof raw.rid === "string"
        ? raw.rid.slice(0, 64)
        : undefined;
    if (!parsed.success) {
      const i = parsed.error.issues[0];
      return this.error(
        conn,
        rid,
        new ApiError("bad_request", `${i?.path.join(".") || "frame"}: ${i?.message ?? "invalid"}`),
      );
    }
    const f = parsed.data;
    const t0 = performance.now();
    try {
      await this.handle(conn, f);
      this.o.metrics.frames.inc({ type: f.t, result: "ok" });
    } catch (err) {
      const e = err instanceof ApiError ? err : new ApiError("internal", "internal error");
      if (!(err instanceof ApiError)) this.o.log.error({ err }, "frame failed");
      this.o.metrics.frames.inc({ type: f.t, result: e.code });
      this.error(conn, rid, e);
    } finally {
      this.o.metrics.frameSeconds.observe({ type: f.t }, (performance.now() - t0) / 1000);
    }
  }

  private async handle(conn: Conn, f: ClientFrame): Promise<void> {
    const up = this.o.upstream;
    switch (f.t) {
      case "send": {
        if (conn.unacked >= MAX_UNACKED_SENDS_PER_CONNECTION) {
          throw new ApiError(
            "overloaded",
            `overloaded: ${conn.unacked} sends of this connection unanswered` +
              ` (limit ${MAX_UNACKED_SENDS_PER_CONNECTION}); retry after ${CONNECTION_RETRY_AFTER_MS} ms`,
            CONNECTION_RETRY_AFTER_MS,
          );
        }
        conn.unacked++;
        try {
          const result = await up.call<SendResult>(conn.userId, "POST", "/internal/v1/messages", {
            cmid: f.cmid,
            to: f.to,
            body: f.body,
          });
          return this.push(conn, { t: "ack", rid: f.rid, result });
        } finally {
          conn.unacked--;
        }
      }
      case "pull": {
        const result = await up.call<PullResult>(
          conn.userId,
          "GET",
          `/internal/v1/inbox?after=${f.after}&limit=${f.limit ?? 200}`,
        );
        return this.push(conn, { t: "res", rid: f.rid, result });
      }
      case "gpull": {
        const result = await up.call<PullResult>(
          conn.userId,
          "GET",
          `/internal/v1/groups/${f.group}/timeline?after=${f.after}&limit=${f.limit ?? 200}`,
        );
        return this.push(conn, { t: "res", rid: f.rid, result });
      }
      case "sync": {
        const result = await up.call<SyncResult>(conn.userId, "GET", "/internal/v1/sync");
        return this.push(conn, { t: "res", rid: f.rid, result });
      }
      case "ping":
        return this.push(conn, f.rid === undefined ? { t: "pong" } : { t: "pong", rid: f.rid });
    }
  }

  private error(conn: Conn, rid: string | undefined, e: ApiError): void {
    const retry = e.retryAfterMs === undefined ? {} : { retryAfterMs: e.retryAfterMs };
    this.push(
      conn,
      rid === undefined
        ? { t: "err", error: e.code, message: e.message, ...retry }
        : { t: "err", rid, error: e.code, message: e.message, ...retry },
    );
  }

  /** `onSent` runs when the frame leaves the egress limiter (not when it was queued behind the cap). */
  private push(conn: Conn, frame: ServerFrame | string, onSent?: () => void): void {
    const ws = conn.ws;
    if (ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount > this.o.sendBufferLimit) {
      // A client that does not read is cut, not buffered for without bound; it reconnects and pulls.
      this.o.metrics.slowConsumers.inc();
      ws.close(CLOSE.slowConsumer, "slow consumer");
      setTimeout(() => ws.terminate(), 1000).unref();
      return;
    }
    const text = typeof frame === "string" ? frame : JSON.stringify(frame);
    const bytes = Buffer.byteLength(text);
    this.o.egress.submit(bytes, () => {
      if (ws.readyState !== ws.OPEN) return;
      ws.send(text);
      this.o.metrics.bytesOut.inc(bytes);
      onSent?.();
    });
  }

  /**
   * Pushes each item (new messages up to N, or a group view refresh) to every connection of its user. Returns how
   * many pushes went out.
   */
  notify(items: PushItem[]): number {
    let pushed = 0;
    for (const it of items) {
      const p = pushOf(it);
      for (const userId of p.users) {
        const set = this.users.get(userId);
        if (!set) continue;
        // Observed when the first push actually goes out: time spent queued behind the egress cap is delivery
        // latency too (the bandwidth audit tells a bandwidth bottleneck from a CPU one by it).
        let observed = p.stamps.length === 0;
        const onSent = () => {
          if (observed) return;
          observed = true;
          const at = Date.now();
          for (const ts of p.stamps) this.o.metrics.deliverySeconds.observe(Math.max(0, at - ts) / 1000);
        };
        for (const conn of set) {
          this.push(conn, p.text, onSent);
          pushed++;
        }
      }
    }
    this.o.metrics.egressQueued.set(this.o.egress.queued);
    return pushed;
  }

  /**
   * One slice of the heartbeat: a connection silent past the idle timeout is closed; one silent for about an
   * interval is pinged (its pong counts as hearing from it). A client that sent something within the interval is
   * known to be there and is not pinged; the traffic it gets back keeps the load balancer's idle timer running.
   */
  private heartbeat(): void {
    const slice = this.heartbeats++ % HEARTBEAT_SLICES;
    const now = Date.now();
    const quiet = this.o.heartbeatMs - this.o.heartbeatMs / HEARTBEAT_SLICES;
    for (const set of this.users.values()) {
      for (const conn of set) {
        if (conn.slice !== slice) continue;
        if (now - conn.lastSeen > this.o.idleTimeoutMs) {
          this.o.metrics.idleClosed.inc();
          conn.ws.close(CLOSE.idle, "idle timeout");
          setTimeout(() => conn.ws.terminate(), 1000).unref();
        } else if (now - conn.lastSeen >= quiet) {
          conn.ws.ping();
        }
      }
    }
    this.o.metrics.egressQueued.set(this.o.egress.queued);
  }

  /** Refreshes the presence of one slice of the users (a user's slice is a hash of its id). */
  private async refreshPresence(): Promise<void> {
    const slice = this.presenceRefreshes++ % presence.PRESENCE_SLICES;
    const counts = new Map(
      [...this.users].filter(([u]) => presence.presenceSlice(u) === slice).map(([u, s]) => [u, s.size]),
    );
    await presence
      .refresh(this.o.redis, this.o.internalUrl, slice, counts, (u) => this.users.has(u))
      .catch((err: Error) => this.o.log.warn({ err: err.message }, "presence refresh"));
  }

  setEgressCap(bytesPerSecond: number): void {
    this.o.egress.setCap(bytesPerSecond);
    this.o.metrics.egressCap.set(bytesPerSecond);
  }

  /**
   * Graceful drain: refuse new connections, tell every client to reconnect elsewhere, then close them spread
   * over the drain window (no reconnect storm on the other instances), and cut what is left at the deadline.
   */
  async drain(): Promise<void> {
    this.draining = true;
    const all = [...this.users.values()].flatMap((s) => [...s]);
    this.o.log.info({ connections: all.length, seconds: this.o.drainSeconds }, "draining connections");
    for (const conn of all) this.push(conn, { t: "reconnect", reason: "draining" });
    const spread = (this.o.drainSeconds * 1000) / 2;
    for (const conn of all) setTimeout(() => conn.ws.close(CLOSE.draining, "draining"), Math.random() * spread).unref();
    const deadline = Date.now() + this.o.drainSeconds * 1000;
    while (this.count > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const conn of all) conn.ws.terminate();
    for (const t of this.timers) clearInterval(t);
  }
}
