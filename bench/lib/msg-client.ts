/**
 * Message load for the latency and throughput benchmarks, run as a child process (fork, IPC). It holds a share of
 * the clients: ImClient against the platform (through nginx), or a bare `ws` client against the relay baseline
 * (bench/lib/ws-baseline-server.ts, MODE=relay), behind one small interface, so both targets get the same load and
 * are measured the same way. Every sender and its receiver live in this process: a message's body carries its send
 * time on this process's clock (performance.timeOrigin + performance.now(), sub-millisecond), and the receiving
 * client's 'message' event is timed on the same clock.
 *
 * Commands (parent -> child): `connect` (open one client per user, a bounded number of handshakes at a time), then
 * `latency` (every sender sends 1 message per second to its fixed receiver, open loop, each at its own phase of the
 * second) or `throughput` (closed-loop slots: each awaits its ack and sends again, to its own receiver), then
 * `close`. Reports: `ready`, `connected`, `progress` (every 2 s while loading), `latency-done`, `throughput-done`,
 * `closed`, or `failed` with the error of a command that threw. Every wait is bounded.
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import WebSocket from "ws";
import { ClientError, ImClient } from "../../services/lib/client/index.ts";
import type { ConversationRef, PullResult, WireMessage } from "../../services/lib/protocol.ts";
import type { RelayFrame } from "./ws-baseline-server.ts";
import { sleep } from "../../base/sleep.ts";

export type TargetKind = "platform" | "relay";

export interface ConnectCommand {
  t: "connect";
  kind: TargetKind;
  /** ws://host:port/ws */
  url: string;
  users: Array<{ userId: string; token: string }>;
  /** Client i connects from sources[floor(i / perSource) % sources.length]. */
  sources: string[];
  perSource: number;
  concurrency: number;
  /** Per-connection deadline for the handshake and the hello. */
  timeoutMs: number;
}

export interface LatencyCommand {
  t: "latency";
  /** Tags bodies: messages of earlier sessions (pulled again by a fresh client) are told apart and ignored. */
  run: string;
  /** [sender, receiver] by index into this process's users; one entry per sender. */
  pairs: Array<[number, number]>;
  /** Per pair: ms into each second at which its sender sends. */
  phases: number[];
  /** Epoch ms when the first second starts (the same for every process). */
  startAt: number;
  warmupSeconds: number;
  seconds: number;
  /** A message acknowledged but not received this long after the last send is lost. */
  graceMs: number;
  sendTimeoutMs: number;
}

export interface ThroughputCommand {
  t: "throughput";
  run: string;
  /** [sender, receiver] per slot (one send in flight per slot), by index into this process's users. */
  slots: Array<[number, number]>;
  startAt: number;
  warmupMs: number;
  windowMs: number;
  graceMs: number;
  sendTimeoutMs: number;
  /** Receivers whose stored inbox is also pulled in full from seq 0 and checked (platform only). */
  inboxSample: number;
}

export type LoadCommand = ConnectCommand | LatencyCommand | ThroughputCommand | { t: "close" };

export interface Outcome {
  /** Sends started (warm-up included). */
  sent: number;
  acked: number;
  /** Sends that were rejected or timed out (after the client's own retries). */
  failed: number;
  /** Sends neither acknowledged nor failed once everything else was done. */
  unsettled: number;
  /** Acknowledged, not received within graceMs after the last send. */
  lost: number;
  /** Received, acknowledged or not. */
  received: number;
  duplicates: number;
  /** Received by a client other than the one it was sent to. */
  misdelivered: number;
  /** Messages of earlier sessions delivered again to these fresh clients (ignored). */
  stale: number;
  /** Reconnects of clients after their first connect (ImClient reconnects by itself). */
  reconnects: number;
  anomalies: number;
  /** "reason xN", the most frequent first. */
  errors: string[];
  /** Up to 5 lost messages: "sender->receiver #n (acked as messageId)". */
  lostSamples: string[];
}

export interface LatencyOutcome extends Outcome {
  /** Delivery latency of every received message sent in the measured seconds, ms. */
  latencies: number[];
  /** For each of `latencies`, the measured second its message was sent in (0 = the first). */
  latencySeconds: number[];
  /** Send-to-ack time of the measured seconds' messages, ms. */
  ackLatencies: number[];
  /** Sends in the measured seconds. */
  windowSent: number;
  /** How late the sends were against their schedule (client event-loop lag), ms: the largest. */
  maxScheduleLagMs: number;
}

export interface ThroughputOutcome extends Outcome {
  /** Acks that arrived inside the window. */
  windowAcks: number;
  /** Send-to-ack time of those, ms. */
  ackLatencies: number[];
  /** Delivery latency of messages sent inside the window and received, ms. */
  latencies: number[];
  inboxChecked: number;
  inboxMessages: number;
  /** Acknowledged messages of this session missing from the receiver's stored inbox. */
  inboxMissing: number;
  /** Inbox seqs not 1, 2, 3, ... in order. */
  inboxSeqGaps: number;
}

export interface Progress {
  sent: number;
  acked: number;
  failed: number;
  received: number;
}

export type LoadReport =
  | { t: "ready"; fdLimit: number | null }
  | { t: "connected"; connected: number; failed: number; errors: string[]; stale: number; ms: number }
  | ({ t: "progress" } & Progress)
  | ({ t: "latency-done" } & LatencyOutcome)
  | ({ t: "throughput-done" } & ThroughputOutcome)
  | { t: "closed"; open: number }
  | { t: "failed"; error: string };

/** What both kinds of client do for the benchmarks. */
interface Peer {
  readonly userId: string;
  connect(): Promise<void>;
  send(to: ConversationRef, body: string, timeoutMs: number): Promise<string>;
  onMessage(fn: (m: WireMessage) => void): void;
  /** Resolves once the client's pulls in flight are done (the relay client has none). */
  settled(): Promise<void>;
  /** Pulls the stored inbox after `after` (platform only). */
  pull(after: number, limit: number): Promise<PullResult>;
  reconnects(): number;
  anomalies(): number;
  isOpen(): boolean;
  /** Closes and resolves once the socket is closed (at most 5 s). */
  close(): Promise<void>;
}

const now = () => performance.timeOrigin + performance.now();

function platformPeer(url: string, user: { userId: string; token: string }, localAddress: string): Peer {
  // The default 30 s sync stays: a lost notification shows up as a late (or lost) message, not hidden.
  const c = new ImClient({ url, token: user.token, localAddress });
  let anomalies = 0;
  c.on("anomaly", () => anomalies++);
  return {
    userId: user.userId,
    connect: () => c.connect(),
    send: async (to, body, timeoutMs) => (await c.send(to, body, { timeoutMs })).messageId,
    onMessage: (fn) => void c.on("message", fn),
    settled: () => c.settled(),
    pull: (after, limit) => c.request<PullResult>({ t: "pull", after, limit }),
    reconnects: () => Math.max(0, c.stats.connects - 1),
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

/** A bare `ws` client of the relay: hello, send -> ack, and `msg` frames carrying the message. No retries. */
function relayPeer(url: string, user: { userId: string; token: string }, localAddress: string): Peer {
  let ws: WebSocket | null = null;
  let open = false;
  let rid = 0;
  const pending = new Map<
    string,
    { resolve: (id: string) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >();
  const listeners: Array<(m: WireMessage) => void> = [];
  const fail = (e: Error) => {
    for (const p of pending.values()) {
      clearTimeout(p.timer);
      p.reject(e);
    }
    pending.clear();
  };
  return {
    userId: user.userId,
    connect: () =>
      new Promise<void>((resolve, reject) => {
        const sock = new WebSocket(`${url}?token=${encodeURIComponent(user.token)}`, {
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
            const p = pending.get(f.rid ?? "");
            if (!p) return;
            pending.delete(f.rid ?? "");
            clearTimeout(p.timer);
            if (f.t === "ack") p.resolve(f.result.messageId);
            else p.reject(new ClientError(f.error, f.message));
          }
        });
        sock.on("error", (err) => reject(err));
        sock.on("close", () => {
          open = false;
          reject(new Error("closed before hello"));
          fail(new ClientError("disconnected", "connection closed"));
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

let kind: TargetKind = "platform";
let peers: Peer[] = [];
/** The current load's handler of received messages (set by `latency` / `throughput`). */
let onReceive: ((receiver: number, m: WireMessage) => void) | null = null;
let stale = 0;
let lastStaleAt = 0;
const progress: Progress = { sent: 0, acked: 0, failed: 0, received: 0 };

function report(r: LoadReport): void {
  process.send?.(r);
}

function fdLimit(): number | null {
  try {
    const m = /Max open files\s+(\d+)/.exec(readFileSync("/proc/self/limits", "utf8"));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

function errorKey(err: unknown): string {
  if (err instanceof ClientError) return err.code;
  return err instanceof Error ? err.message.slice(0, 80) : String(err);
}

function tally(m: Map<string, number>): string[] {
  return [...m].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} x${n}`);
}

/** Body: `<run>|<tag>|<n>|<send time, epoch ms>`: the tag and n name the send in the sender's ledger. */
function parseBody(body: string): { run: string; tag: number; n: number; sentAt: number } | null {
  const [run, tag, n, sentAt] = body.split("|");
  if (run === undefined || tag === undefined || n === undefined || sentAt === undefined) return null;
  return { run, tag: Number(tag), n: Number(n), sentAt: Number(sentAt) };
}

async function connectAll(c: ConnectCommand): Promise<void> {
  const started = now();
  kind = c.kind;
  stale = 0;
  peers = c.users.map((u, i) => {
    const src = c.sources[Math.floor(i / c.perSource) % c.sources.length] ?? "127.0.0.1";
    return c.kind === "platform" ? platformPeer(c.url, u, src) : relayPeer(c.url, u, src);
  });
  for (const [i, p] of peers.entries()) {
    p.onMessage((m) => {
      if (onReceive) onReceive(i, m);
      else {
        stale++;
        lastStaleAt = now();
      }
    });
  }
  let next = 0;
  let connected = 0;
  const errors = new Map<string, number>();
  const failed: Peer[] = [];
  const worker = async () => {
    while (next < peers.length) {
      const p = peers[next++];
      if (!p) break;
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          p.connect(),
          new Promise(
            (_, reject) => (timer = setTimeout(() => reject(new Error("no hello within the deadline")), c.timeoutMs)),
          ),
        ]);
        connected++;
      } catch (err) {
        errors.set(errorKey(err), (errors.get(errorKey(err)) ?? 0) + 1);
        failed.push(p);
      } finally {
        clearTimeout(timer);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(c.concurrency, peers.length)) }, worker));
  await Promise.all(failed.map((p) => p.close()));
  // A fresh platform client pulls its whole inbox on hello (earlier sessions' messages): wait until that is
  // over, so the load starts on a quiet platform. At most 60 s.
  const deadline = now() + 60_000;
  lastStaleAt = Math.max(lastStaleAt, now());
  while (now() < deadline && now() - lastStaleAt < 1500) await sleep(250);
  await Promise.race([Promise.all(peers.map((p) => p.settled())), sleep(Math.max(0, deadline - now()))]);
  report({ t: "connected", connected, failed: failed.length, errors: tally(errors), stale, ms: now() - started });
}

interface SendRec {
  /** Who the body names as the sender: the sender's index (latency) or the slot's (throughput). */
  tag: number;
  /** Sender and receiver, by index into `peers`. */
  sender: number;
  receiver: number;
  n: number;
  sentAt: number;
  inWindow: boolean;
  ackAt: number | null;
  messageId: string | null;
  failed: boolean;
  recvAt: number | null;
  /** Receipt time minus the send time the body carries (the same clock). */
  latencyMs: number | null;
}

/** Shared bookkeeping of one load: what was sent, acked, received. */
class Ledger {
  readonly recs = new Map<string, SendRec>();
  readonly errors = new Map<string, number>();
  duplicates = 0;
  misdelivered = 0;
  unknown = 0;

  constructor(readonly run: string) {}

  start(tag: number, sender: number, receiver: number, n: number, inWindow: boolean): { rec: SendRec; body: string } {
    const sentAt = now();
    const rec: SendRec = {
      tag,
      sender,
      receiver,
      n,
      sentAt,
      inWindow,
      ackAt: null,
      messageId: null,
      failed: false,
      recvAt: null,
      latencyMs: null,
    };
    this.recs.set(`${tag}|${n}`, rec);
    progress.sent++;
    return { rec, body: `${this.run}|${tag}|${n}|${sentAt.toFixed(3)}` };
  }

  acked(rec: SendRec, messageId: string): void {
    rec.ackAt = now();
    rec.messageId = messageId;
    progress.acked++;
  }

  failed(rec: SendRec, err: unknown): void {
    rec.failed = true;
    progress.failed++;
    this.errors.set(errorKey(err), (this.errors.get(errorKey(err)) ?? 0) + 1);
  }

  receive(receiver: number, m: WireMessage): void {
    const at = now();
    const b = parseBody(m.body);
    if (!b || b.run !== this.run) {
      stale++;
      return;
    }
    const rec = this.recs.get(`${b.tag}|${b.n}`);
    if (!rec) {
      this.unknown++;
      return;
    }
    if (rec.receiver !== receiver) {
      this.misdelivered++;
      return;
    }
    if (rec.recvAt !== null) {
      this.duplicates++;
      return;
    }
    // The body's time and `at` are on this process's clock.
    rec.recvAt = at;
    rec.latencyMs = at - b.sentAt;
    progress.received++;
  }

  /** Waits until every send settled and every acked one arrived, or graceMs after `endAt`; then for sends to settle. */
  async drain(endAt: number, graceMs: number, sendTimeoutMs: number): Promise<void> {
    const done = () => [...this.recs.values()].every((r) => r.failed || (r.ackAt !== null && r.recvAt !== null));
    while (!done() && now() < endAt + graceMs) await sleep(100);
    const settled = () => [...this.recs.values()].every((r) => r.failed || r.ackAt !== null);
    const deadline = now() + sendTimeoutMs + 1000;
    while (!settled() && now() < deadline) await sleep(100);
  }

  outcome(endAt: number, graceMs: number): Outcome {
    let acked = 0;
    let failed = 0;
    let unsettled = 0;
    let lost = 0;
    let received = 0;
    const lostSamples: string[] = [];
    for (const r of this.recs.values()) {
      if (r.recvAt !== null) received++;
      if (r.failed) failed++;
      else if (r.ackAt === null) unsettled++;
      else {
        acked++;
        if (r.recvAt === null || r.recvAt > endAt + graceMs) {
          lost++;
          if (lostSamples.length < 5)
            lostSamples.push(
              `${peers[r.sender]?.userId}->${peers[r.receiver]?.userId} #${r.n} (messageId ${r.messageId}, ${r.recvAt === null ? "never received" : `received ${((r.recvAt - endAt) / 1000).toFixed(1)} s after the end`})`,
            );
        }
      }
    }
    return {
      sent: this.recs.size,
      acked,
      failed,
      unsettled,
      lost,
      received,
      duplicates: this.duplicates,
      misdelivered: this.misdelivered + this.unknown,
      stale,
      reconnects: peers.reduce((n, p) => n + p.reconnects(), 0),
      anomalies: peers.reduce((n, p) => n + p.anomalies(), 0),
      errors: tally(this.errors),
      lostSamples,
    };
  }
}

const round2 = (x: number) => Math.round(x * 100) / 100;

function withProgress<T>(work: Promise<T>): Promise<T> {
  const timer = setInterval(() => report({ t: "progress", ...progress }), 2000);
  return work.finally(() => clearInterval(timer));
}

async function latency(c: LatencyCommand): Promise<void> {
  const ledger = new Ledger(c.run);
  onReceive = (i, m) => ledger.receive(i, m);
  Object.assign(progress, { sent: 0, acked: 0, failed: 0, received: 0 });
  // Senders in phase order; send k of sender j is due at startAt + k * 1000 + phase.
  const order = c.pairs.map((_, j) => j).sort((a, b) => (c.phases[a] ?? 0) - (c.phases[b] ?? 0));
  const total = (c.warmupSeconds + c.seconds) * order.length;
  const dueOf = (i: number) =>
    c.startAt + Math.floor(i / order.length) * 1000 + (c.phases[order[i % order.length] ?? 0] ?? 0);
  let maxLag = 0;
  const fire = (i: number) => {
    const k = Math.floor(i / order.length);
    const pair = c.pairs[order[i % order.length] ?? 0];
    if (!pair) return;
    const [s, r] = pair;
    const sender = peers[s];
    const receiver = peers[r];
    if (!sender || !receiver) return;
    const { rec, body } = ledger.start(s, s, r, k, k >= c.warmupSeconds);
    sender.send({ kind: "user", id: receiver.userId }, body, c.sendTimeoutMs).then(
      (id) => ledger.acked(rec, id),
      (err: unknown) => ledger.failed(rec, err),
    );
  };
  let endAt = 0;
  await withProgress(
    (async () => {
      await new Promise<void>((resolve) => {
        let i = 0;
        const tick = () => {
          const t = now();
          while (i < total && dueOf(i) <= t) {
            maxLag = Math.max(maxLag, t - dueOf(i));
            fire(i++);
          }
          if (i >= total) return resolve();
          setTimeout(tick, Math.max(0, dueOf(i) - now()));
        };
        setTimeout(tick, Math.max(0, c.startAt - now()));
      });
      endAt = now();
      await ledger.drain(endAt, c.graceMs, c.sendTimeoutMs);
    })(),
  );
  onReceive = null;
  const latencies: number[] = [];
  const latencySeconds: number[] = [];
  const ackLatencies: number[] = [];
  let windowSent = 0;
  for (const r of ledger.recs.values()) {
    if (!r.inWindow) continue;
    windowSent++;
    if (r.latencyMs !== null) {
      latencies.push(round2(r.latencyMs));
      latencySeconds.push(r.n - c.warmupSeconds);
    }
    if (r.ackAt !== null) ackLatencies.push(round2(r.ackAt - r.sentAt));
  }
  report({
    t: "latency-done",
    ...ledger.outcome(endAt, c.graceMs),
    latencies,
    latencySeconds,
    ackLatencies,
    windowSent,
    maxScheduleLagMs: round2(maxLag),
  });
}

async function throughput(c: ThroughputCommand): Promise<void> {
  const ledger = new Ledger(c.run);
  onReceive = (i, m) => ledger.receive(i, m);
  Object.assign(progress, { sent: 0, acked: 0, failed: 0, received: 0 });
  const windowStart = c.startAt + c.warmupMs;
  const windowEnd = windowStart + c.windowMs;
  let windowAcks = 0;
  const slot = async ([s, r]: [number, number], index: number) => {
    const sender = peers[s];
    const receiver = peers[r];
    if (!sender || !receiver) return;
    await sleep(Math.max(0, c.startAt - now()));
    for (let n = 0; now() < windowEnd; n++) {
      // Tagged by slot: a sender has several slots in flight.
      const { rec, body } = ledger.start(index, s, r, n, now() >= windowStart);
      try {
        ledger.acked(rec, await sender.send({ kind: "user", id: receiver.userId }, body, c.sendTimeoutMs));
        if (rec.ackAt !== null && rec.ackAt >= windowStart && rec.ackAt < windowEnd) windowAcks++;
      } catch (err) {
        ledger.failed(rec, err);
        await sleep(100);
      }
    }
  };
  let endAt = 0;
  await withProgress(
    (async () => {
      await Promise.all(c.slots.map(slot));
      endAt = now();
      await ledger.drain(endAt, c.graceMs, c.sendTimeoutMs);
    })(),
  );
  onReceive = null;
  const outcome = ledger.outcome(endAt, c.graceMs);
  const latencies: number[] = [];
  const ackLatencies: number[] = [];
  for (const r of ledger.recs.values()) {
    if (r.ackAt !== null && r.ackAt >= windowStart && r.ackAt < windowEnd)
      ackLatencies.push(round2(r.ackAt - r.sentAt));
    if (r.inWindow && r.latencyMs !== null) latencies.push(round2(r.latencyMs));
  }

  // The stored inbox of a sample of receivers, pulled in full from seq 0 over the receiver's own connection.
  let inboxChecked = 0;
  let inboxMessages = 0;
  let inboxMissing = 0;
  let inboxSeqGaps = 0;
  if (kind === "platform" && c.inboxSample > 0) {
    const receivers = [...new Set(c.slots.map(([, r]) => r))].slice(0, c.inboxSample);
    for (const r of receivers) {
      const p = peers[r];
      if (!p?.isOpen()) continue;
      const ids = new Set<string>();
      let after = 0;
      for (let page = 0; page < 1000; page++) {
        const res = await p.pull(after, 500);
        for (const m of res.messages) {
          if (m.seq !== after + 1) inboxSeqGaps++;
          after = m.seq;
          ids.add(m.messageId);
        }
        if (res.messages.length < 500) break;
      }
      inboxChecked++;
      inboxMessages += ids.size;
      for (const rec of ledger.recs.values()) {
        if (rec.receiver === r && rec.messageId !== null && !ids.has(rec.messageId)) inboxMissing++;
      }
    }
  }
  report({
    t: "throughput-done",
    ...outcome,
    windowAcks,
    ackLatencies,
    latencies,
    inboxChecked,
    inboxMessages,
    inboxMissing,
    inboxSeqGaps,
  });
}

async function closeAll(): Promise<void> {
  onReceive = null;
  await Promise.all(peers.map((p) => p.close()));
  const open = peers.filter((p) => p.isOpen()).length;
  peers = [];
  report({ t: "closed", open });
}

let busy = false;
process.on("message", (m: LoadCommand) => {
  if (busy && m.t !== "close")
    return report({ t: "failed", error: `busy: "${m.t}" refused while another command runs` });
  busy = true;
  const work =
    m.t === "connect"
      ? connectAll(m)
      : m.t === "latency"
        ? latency(m)
        : m.t === "throughput"
          ? throughput(m)
          : closeAll();
  work
    .catch((err: unknown) =>
      report({ t: "failed", error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
    )
    .finally(() => (busy = false));
});

process.on("disconnect", () => {
  for (const p of peers) void p.close();
  setTimeout(() => process.exit(0), 200).unref();
});

report({ t: "ready", fdLimit: fdLimit() });
