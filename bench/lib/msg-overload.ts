/**
 * The overload benchmark's load, in a load process (msg-client.ts): an open-loop offered rate, not a closed loop,
 * so the platform meets more sends than it can store and must refuse some (retryable `overloaded`) instead of
 * queueing them all. Load senders hold at most `maxUnacked` sends at the platform, as the client library does by
 * default; the sends beyond wait in the client in order, and those still waiting when the load ends are dropped
 * (counted as withheld: never offered to the platform). Probe senders, apart from the load's, send a few messages a
 * second from before the load until after it: their send-to-ack times tell the latency before, during and after.
 */
import type { WireMessage } from "../../services/lib/protocol.ts";
import type { OverloadCommand, OverloadOutcome } from "./msg-ipc.ts";
import { Ledger, now, storedCheck, type LoadSession } from "./msg-ledger.ts";

/** Probe tags start here (load tags are the load pair's index). */
const PROBE_TAG = 1_000_000;

/** Calls `fire(i)` for i = 0, 1, ... at `first + i * 1000 / rate` until `end` (open loop: never waits on a send). */
function schedule(first: number, end: number, rate: number, fire: (i: number) => void): Promise<void> {
  const total = rate > 0 ? Math.max(0, Math.floor(((end - first) * rate) / 1000)) : 0;
  const dueOf = (i: number) => first + (i * 1000) / rate;
  return new Promise<void>((resolve) => {
    let i = 0;
    const tick = () => {
      const t = now();
      while (i < total && dueOf(i) <= t) fire(i++);
      if (i >= total) return resolve();
      setTimeout(tick, Math.max(0, dueOf(i) - now()));
    };
    setTimeout(tick, Math.max(0, first - now()));
  });
}

export async function overload(
  c: OverloadCommand,
  session: LoadSession,
  setReceiver: (fn: ((receiver: number, m: WireMessage) => void) | null) => void,
): Promise<OverloadOutcome> {
  const ledger = new Ledger(c.run, session);
  setReceiver((i, m) => ledger.receive(i, m));
  Object.assign(session.progress, { sent: 0, acked: 0, failed: 0, received: 0 });
  let windowAcks = 0;
  const counted = (ackAt: number | null) => {
    if (ackAt !== null && ackAt >= c.loadStart && ackAt < c.loadEnd) windowAcks++;
  };
  const probe: Array<[number, number]> = [];
  const nextN = new Map<number, number>();
  const submit = (tag: number, [s, r]: [number, number], inWindow: boolean, settled?: () => void) => {
    const sender = session.peers[s];
    const receiver = session.peers[r];
    if (!sender || !receiver) return;
    const n = nextN.get(tag) ?? 0;
    nextN.set(tag, n + 1);
    const { rec, body } = ledger.start(tag, s, r, n, inWindow);
    sender.send({ kind: "user", id: receiver.userId }, body, c.sendTimeoutMs).then(
      (id) => {
        ledger.acked(rec, id);
        counted(rec.ackAt);
        if (tag >= PROBE_TAG && rec.ackAt !== null)
          probe.push([Math.round(rec.sentAt - c.startAt), Math.round((rec.ackAt - rec.sentAt) * 100) / 100]);
        settled?.();
      },
      (err: unknown) => {
        ledger.failed(rec, err);
        settled?.();
      },
    );
  };

  // Load: per sender, at most maxUnacked at the platform; the rest wait here in order until the load ends.
  const inFlight = new Map<number, number>();
  const waiting = new Map<number, Array<() => void>>();
  let offered = 0;
  let submitted = 0;
  const offer = (pairIndex: number) => {
    const pair = c.loadPairs[pairIndex];
    if (!pair) return;
    const s = pair[0];
    const go = () => {
      inFlight.set(s, (inFlight.get(s) ?? 0) + 1);
      submitted++;
      submit(pairIndex, pair, true, () => {
        inFlight.set(s, (inFlight.get(s) ?? 1) - 1);
        if (now() < c.loadEnd) waiting.get(s)?.shift()?.();
      });
    };
    offered++;
    if ((inFlight.get(s) ?? 0) < c.maxUnacked) go();
    else {
      const q = waiting.get(s) ?? [];
      q.push(go);
      waiting.set(s, q);
    }
  };
  const load = schedule(c.loadStart, c.loadEnd, c.rate, (i) => offer(i % c.loadPairs.length)).then(() => {
    const withheld = [...waiting.values()].reduce((n, q) => n + q.length, 0);
    waiting.clear();
    return withheld;
  });
  const probes = schedule(c.startAt, c.endAt, c.probeRate, (i) => {
    const k = i % c.probePairs.length;
    const pair = c.probePairs[k];
    if (pair) submit(PROBE_TAG + k, pair, false);
  });
  const [withheld] = await Promise.all([load, probes]);
  const endAt = now();
  await ledger.drain(endAt, c.graceMs, c.sendTimeoutMs);
  setReceiver(null);
  const retries: Record<string, number> = {};
  for (const p of session.peers) for (const [code, n] of p.retries()) retries[code] = (retries[code] ?? 0) + n;
  return {
    ...(await storedCheck(ledger, session, endAt, c.graceMs)),
    windowAcks,
    offered,
    submitted,
    withheld,
    retries,
    failures: Object.fromEntries(ledger.errors),
    probe,
  };
}
