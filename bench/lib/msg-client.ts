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
 * second) or `throughput` (closed-loop slots: each awaits its ack and sends again, to its own receiver), or
 * `overload` (an open-loop rate, msg-overload.ts), then `close`. Reports: `ready`, `connected`, `progress` (every
 * 2 s while loading), `latency-done`, `throughput-done`, `overload-done`, `closed`, or `failed` with the error of a
 * command that threw. Every wait is bounded.
 */
import { sleep } from "../../base/sleep.ts";
import type { WireMessage } from "../../services/lib/protocol.ts";
import type {
  ConnectCommand,
  LatencyCommand,
  LoadCommand,
  LoadReport,
  Outcome,
  TargetKind,
  ThroughputCommand,
} from "./msg-ipc.ts";
import { errorKey, Ledger, now, storedCheck, tally, type LoadSession } from "./msg-ledger.ts";
import { overload } from "./msg-overload.ts";
import { platformPeer, relayPeer, type Peer } from "./msg-peers.ts";
import { openFileLimit } from "../../services/lib/open-files.ts";
import { toParent } from "./ipc-child.ts";

let kind: TargetKind = "platform";
const session: LoadSession = { peers: [], stale: 0, progress: { sent: 0, acked: 0, failed: 0, received: 0 } };
/** The current load's handler of received messages (set by `latency` / `throughput`). */
let onReceive: ((receiver: number, m: WireMessage) => void) | null = null;
let lastStaleAt = 0;

function report(r: LoadReport): void {
  toParent(r);
}

async function connectAll(c: ConnectCommand): Promise<void> {
  const started = now();
  kind = c.kind;
  session.stale = 0;
  session.peers = c.users.map((u, i) => {
    const src = c.sources[Math.floor(i / c.perSource) % c.sources.length] ?? "127.0.0.1";
    return c.kind === "platform" ? platformPeer(c.url, u, src) : relayPeer(c.url, u, src);
  });
  for (const [i, p] of session.peers.entries()) {
    p.onMessage((m) => {
      if (onReceive) onReceive(i, m);
      else {
        session.stale++;
        lastStaleAt = now();
      }
    });
  }
  let next = 0;
  let connected = 0;
  const errors = new Map<string, number>();
  const failed: Peer[] = [];
  const worker = async () => {
    while (next < session.peers.length) {
      const p = session.peers[next++];
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
  await Promise.all(Array.from({ length: Math.max(1, Math.min(c.concurrency, session.peers.length)) }, worker));
  await Promise.all(failed.map((p) => p.close()));
  // A fresh platform client pulls its whole inbox on hello (earlier sessions' messages): wait until that is
  // over, so the load starts on a quiet platform. At most 60 s.
  const deadline = now() + 60_000;
  lastStaleAt = Math.max(lastStaleAt, now());
  while (now() < deadline && now() - lastStaleAt < 1500) await sleep(250);
  await Promise.race([Promise.all(session.peers.map((p) => p.settled())), sleep(Math.max(0, deadline - now()))]);
  report({
    t: "connected",
    connected,
    failed: failed.length,
    errors: tally(errors),
    stale: session.stale,
    ms: now() - started,
  });
}

const round2 = (x: number) => Math.round(x * 100) / 100;

function withProgress<T>(work: Promise<T>): Promise<T> {
  const timer = setInterval(() => report({ t: "progress", ...session.progress }), 2000);
  return work.finally(() => clearInterval(timer));
}

/** A session's outcome; on the platform a push later than the grace is told from a loss by the stored inbox. */
function outcomeOf(ledger: Ledger, endAt: number, graceMs: number): Promise<Outcome> {
  return kind === "platform"
    ? storedCheck(ledger, session, endAt, graceMs)
    : Promise.resolve(ledger.outcome(endAt, graceMs));
}

async function latency(c: LatencyCommand): Promise<void> {
  const ledger = new Ledger(c.run, session);
  onReceive = (i, m) => ledger.receive(i, m);
  Object.assign(session.progress, { sent: 0, acked: 0, failed: 0, received: 0 });
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
    const sender = session.peers[s];
    const receiver = session.peers[r];
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
    ...(await outcomeOf(ledger, endAt, c.graceMs)),
    latencies,
    latencySeconds,
    ackLatencies,
    windowSent,
    maxScheduleLagMs: round2(maxLag),
  });
}

async function throughput(c: ThroughputCommand): Promise<void> {
  const ledger = new Ledger(c.run, session);
  onReceive = (i, m) => ledger.receive(i, m);
  Object.assign(session.progress, { sent: 0, acked: 0, failed: 0, received: 0 });
  const windowStart = c.startAt + c.warmupMs;
  const windowEnd = windowStart + c.windowMs;
  let windowAcks = 0;
  const slot = async ([s, r]: [number, number], index: number) => {
    const sender = session.peers[s];
    const receiver = session.peers[r];
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
  const outcome = await outcomeOf(ledger, endAt, c.graceMs);
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
      const p = session.peers[r];
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
  await Promise.all(session.peers.map((p) => p.close()));
  const open = session.peers.filter((p) => p.isOpen()).length;
  session.peers = [];
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
          : m.t === "overload"
            ? withProgress(overload(m, session, (fn) => (onReceive = fn))).then((o) =>
                report({ t: "overload-done", ...o }),
              )
            : closeAll();
  work
    .catch((err: unknown) =>
      report({ t: "failed", error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
    )
    .finally(() => (busy = false));
});

process.on("disconnect", () => {
  for (const p of session.peers) void p.close();
  setTimeout(() => process.exit(0), 200).unref();
});

report({ t: "ready", fdLimit: openFileLimit() });
