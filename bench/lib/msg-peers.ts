/**
 * The two kinds of benchmark client behind one interface: ImClient against the platform (through nginx), or a bare
 * `ws` client against the relay baseline (bench/lib/ws-baseline-server.ts, MODE=relay).
 */
import { randomUUID } from "node:crypto";
import WebSocket from "ws";
import { ClientError, ImClient } from "../../services/lib/client/index.ts";
import { wsProtocols, type ConversationRef, type PullResult, type WireMessage } from "../../services/lib/protocol.ts";
import type { RelayFrame } from "./ws-baseline-server.ts";

/** What both kinds of client do for the benchmarks. */
export interface Peer {
  readonly userId: string;
  connect(): Promise<void>;
  send(to: ConversationRef, body: string, timeoutMs: number): Promise<string>;
  onMessage(fn: (m: WireMessage) => void): void;
  /** Resolves once the client's pulls in flight are done (the relay client has none). */
  settled(): Promise<void>;
  /** Pulls the stored inbox after `after` (platform only). */
  pull(after: number, limit: number): Promise<PullResult>;
  reconnects(): number;
  /** Sends retried by the client, by the error code that made it retry (`overloaded`, `timeout`, ...). */
  retries(): Map<string, number>;
  anomalies(): number;
  isOpen(): boolean;
  /** Closes and resolves once the socket is closed (at most 5 s). */
  close(): Promise<void>;
}

export function platformPeer(url: string, user: { userId: string; token: string }, localAddress: string): Peer {
  // The default 30 s sync stays: a lost notification shows up as a late (or lost) message, not hidden.
  // The benchmarks set their own sends in flight per sender (at most 64): the client must not cap them lower.
  const c = new ImClient({ url, token: user.token, localAddress, maxUnackedSends: 64 });
  let anomalies = 0;
  c.on("anomaly", () => anomalies++);
  const retries = new Map<string, number>();
  c.on("retry", (code) => retries.set(code, (retries.get(code) ?? 0) + 1));
  return {
    userId: user.userId,
    connect: () => c.connect(),
    send: async (to, body, timeoutMs) => (await c.send(to, body, { timeoutMs })).messageId,
    onMessage: (fn) => void c.on("message", fn),
    settled: () => c.settled(),
    pull: (after, limit) => c.request<PullResult>({ t: "pull", after, limit }),
    reconnects: () => Math.max(0, c.stats.connects - 1),
    retries: () => retries,
    anomalies: () => anomalies + c.stats.inboxSeqRegressions,
    isOpen: () => c.isOpen,
    close: () => {
      if (!c.isOpen) {
        c.close();
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 5000);
        c.once("close", () => {
          clearTimeout(timer);
          resolve();
        });
        c.close();
      });
    },
  };
}

/** The relay client's sends awaiting their ack, by request id. */
type PendingSends = Map<string, { resolve: (id: string) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>;

/** Settles the send an `ack` or `err` frame answers. */
function settle(pending: PendingSends, f: Extract<RelayFrame, { t: "ack" | "err" }>): void {
  const p = pending.get(f.rid ?? "");
  if (!p) return;
  pending.delete(f.rid ?? "");
  clearTimeout(p.timer);
  if (f.t === "ack") p.resolve(f.result.messageId);
  else p.reject(new ClientError(f.error, f.message));
}

/** Fails every send still awaiting its ack (the connection closed). */
function failAll(pending: PendingSends, e: Error): void {
  for (const p of pending.values()) {
    clearTimeout(p.timer);
    p.reject(e);
  }
  pending.clear();
}

/** A bare `ws` client of the relay: hello, send -> ack, and `msg` frames carrying the message. No retries. */
export function relayPeer(url: string, user: { userId: string; token: string }, localAddress: string): Peer {
  let ws: WebSocket | null = null;
  let open = false;
  let rid = 0;
  const pending: PendingSends = new Map();
  const listeners: Array<(m: WireMessage) => void> = [];
  return {
    userId: user.userId,
    connect: () =>
      new Promise<void>((resolve, reject) => {
        const sock = new WebSocket(url, wsProtocols(user.token), {
          perMessageDeflate: false,
          localAddress,
          handshakeTimeout: 5000,
        });
        ws = sock;
        sock.on("message", (data) => {
          let f: RelayFrame;
          try {
            f = JSON.parse(data.toString()) as RelayFrame;
          } catch {
            return;
          }
          if (f.t === "hello") {
            open = true;
            resolve();
          } else if (f.t === "msg") {
            for (const fn of listeners) fn(f.message);
          } else if (f.t === "ack" || (f.t === "err" && f.rid !== undefined)) {
            settle(pending, f);
          }
        });
        sock.on("error", (err) => reject(err));
        sock.on("close", () => {
          open = false;
          reject(new Error("closed before hello"));
          failAll(pending, new ClientError("disconnected", "connection closed"));
        });
      }),
    send: (to, body, timeoutMs) => {
      const sock = ws;
      if (!sock || !open) return Promise.reject(new ClientError("disconnected", "not connected"));
      const id = String(++rid);
      return new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new ClientError("timeout", `no ack within ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, { resolve, reject, timer });
        sock.send(JSON.stringify({ t: "send", rid: id, cmid: randomUUID(), to, body }));
      });
    },
    onMessage: (fn) => void listeners.push(fn),
    settled: () => Promise.resolve(),
    pull: () => Promise.reject(new Error("the relay stores nothing")),
    reconnects: () => 0,
    retries: () => new Map(),
    anomalies: () => 0,
    isOpen: () => open,
    close: () => {
      const sock = ws;
      if (!sock || sock.readyState === WebSocket.CLOSED) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          sock.terminate();
          resolve();
        }, 5000);
        sock.once("close", () => {
          clearTimeout(timer);
          resolve();
        });
        sock.close(1000, "bye");
      });
    },
  };
}
