/** The bookkeeping of one message load: what was sent, acked and received, and the outcome it adds up to. */
import { setTimeout as sleep } from "node:timers/promises";
import { ClientError } from "../../services/lib/client/index.ts";
import type { WireMessage } from "../../services/lib/protocol.ts";
import type { Outcome, Progress } from "./msg-ipc.ts";
import type { Peer } from "./msg-peers.ts";

/** This process's clock, in epoch milliseconds with sub-millisecond resolution: sends and receipts are timed on it. */
export const now = () => performance.timeOrigin + performance.now();

/** The load process's clients and counters, shared by its commands and the ledger of the load under way. */
export interface LoadSession {
  peers: Peer[];
  /** Messages received that belong to no load under way (an earlier run's, or before a load began). */
  stale: number;
  progress: Progress;
}

export function errorKey(err: unknown): string {
  if (err instanceof ClientError) return err.code;
  return err instanceof Error ? err.message.slice(0, 80) : String(err);
}

export function tally(m: Map<string, number>): string[] {
  return [...m].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} x${n}`);
}

/** Body: `<run>|<tag>|<n>|<send time, epoch ms>`: the tag and n name the send in the sender's ledger. */
function parseBody(body: string): { run: string; tag: number; n: number; sentAt: number } | null {
  const [run, tag, n, sentAt] = body.split("|");
  if (run === undefined || tag === undefined || n === undefined || sentAt === undefined) return null;
  return { run, tag: Number(tag), n: Number(n), sentAt: Number(sentAt) };
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
export class Ledger {
  readonly recs = new Map<string, SendRec>();
  readonly errors = new Map<string, number>();
  duplicates = 0;
  misdelivered = 0;
  unknown = 0;

  constructor(
    readonly run: string,
    private readonly session: LoadSession,
  ) {}

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
    this.session.progress.sent++;
    return { rec, body: `${this.run}|${tag}|${n}|${sentAt.toFixed(3)}` };
  }

  acked(rec: SendRec, messageId: string): void {
    rec.ackAt = now();
    rec.messageId = messageId;
    this.session.progress.acked++;
  }

  failed(rec: SendRec, err: unknown): void {
    rec.failed = true;
    this.session.progress.failed++;
    this.errors.set(errorKey(err), (this.errors.get(errorKey(err)) ?? 0) + 1);
  }

  receive(receiver: number, m: WireMessage): void {
    const at = now();
    const b = parseBody(m.body);
    if (!b || b.run !== this.run) {
      this.session.stale++;
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
    this.session.progress.received++;
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
          if (lostSamples.length < 5) lostSamples.push(this.describeLost(r, endAt));
        }
      }
    }
    return {
      sent: this.recs.size,
      acked,
      failed,
      unsettled,
      lost,
      late: 0,
      received,
      duplicates: this.duplicates,
      misdelivered: this.misdelivered + this.unknown,
      stale: this.session.stale,
      reconnects: this.session.peers.reduce((n, p) => n + p.reconnects(), 0),
      anomalies: this.session.peers.reduce((n, p) => n + p.anomalies(), 0),
      errors: tally(this.errors),
      lostSamples,
    };
  }

  /** "sender->receiver #n (messageId ..., when it came)" of a message lost in the window. */
  private describeLost(r: SendRec, endAt: number): string {
    const { peers } = this.session;
    const when =
      r.recvAt === null ? "never received" : `received ${((r.recvAt - endAt) / 1000).toFixed(1)} s after the end`;
    return `${peers[r.sender]?.userId}->${peers[r.receiver]?.userId} #${r.n} (messageId ${r.messageId}, ${when})`;
  }
}

/**
 * The outcome of a platform session: acknowledged sends whose receiver's client did not get them within the grace
 * are checked against the receiver's stored inbox (pulled in full from seq 0 over its own connection); stored ones
 * came late (the push lagged behind the load), missing ones are lost. Without this a fan-out backlog would read as
 * loss. Nothing is pulled when every acknowledged send arrived in time.
 */
export async function storedCheck(
  ledger: Ledger,
  session: LoadSession,
  endAt: number,
  graceMs: number,
): Promise<Outcome> {
  const outcome = ledger.outcome(endAt, graceMs);
  if (outcome.lost === 0) return outcome;
  const pending = [...ledger.recs.values()].filter(
    (r) => !r.failed && r.ackAt !== null && (r.recvAt === null || r.recvAt > endAt + graceMs),
  );
  const byReceiver = new Map<number, typeof pending>();
  for (const r of pending) byReceiver.set(r.receiver, [...(byReceiver.get(r.receiver) ?? []), r]);
  let late = 0;
  let missing = 0;
  const samples: string[] = [];
  for (const [receiver, recs] of byReceiver) {
    const p = session.peers[receiver];
    const ids = p?.isOpen() ? await storedIds(p) : new Set<string>();
    for (const r of recs) {
      if (r.messageId !== null && ids.has(r.messageId)) late++;
      else {
        missing++;
        if (samples.length < 5)
          samples.push(
            `${session.peers[r.sender]?.userId}->${p?.userId} #${r.n} (messageId ${r.messageId}, not in the stored` +
              ` inbox${p?.isOpen() ? "" : ": the receiver's connection was closed, nothing pulled"})`,
          );
      }
    }
  }
  return { ...outcome, lost: missing, late, lostSamples: samples };
}

/** The message ids of a receiver's whole stored inbox. */
async function storedIds(p: Peer): Promise<Set<string>> {
  const ids = new Set<string>();
  let after = 0;
  for (let page = 0; page < 10_000; page++) {
    const res = await p.pull(after, 500);
    for (const m of res.messages) {
      after = m.seq;
      ids.add(m.messageId);
    }
    if (res.messages.length < 500) break;
  }
  return ids;
}
