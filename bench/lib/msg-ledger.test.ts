import assert from "node:assert/strict";
import { test } from "node:test";
import type { PullResult, WireMessage } from "../../services/lib/protocol.ts";
import { Ledger, storedCheck, type LoadSession } from "./msg-ledger.ts";
import type { Peer } from "./msg-peers.ts";

/** A peer whose stored inbox holds `stored` (message ids, seq 1..n) and whose pulls are counted. */
function peer(userId: string, stored: string[], open = true): Peer & { pulls: number } {
  const p = {
    userId,
    pulls: 0,
    pull: async (after: number, limit: number): Promise<PullResult> => {
      p.pulls++;
      const messages = stored
        .map((messageId, i) => ({ seq: i + 1, messageId }) as unknown as WireMessage)
        .filter((m) => m.seq > after)
        .slice(0, limit);
      return { messages } as unknown as PullResult;
    },
    isOpen: () => open,
    reconnects: () => 0,
    anomalies: () => 0,
  };
  return p as unknown as Peer & { pulls: number };
}

function session(peers: Peer[]): LoadSession {
  return { peers, stale: 0, progress: { sent: 0, acked: 0, failed: 0, received: 0 } } as LoadSession;
}

const msg = (run: string, tag: number, n: number) => ({ body: `${run}|${tag}|${n}|${Date.now()}` }) as WireMessage;

test("storedCheck: an acknowledged send pushed late but stored is late, one missing from the inbox is lost", async () => {
  const receiver = peer("r", ["m-late"]);
  const s = session([peer("s", []), receiver]);
  const ledger = new Ledger("run1", s);
  const onTime = ledger.start(0, 0, 1, 0, true).rec;
  ledger.acked(onTime, "m-ok");
  ledger.receive(1, msg("run1", 0, 0));
  ledger.acked(ledger.start(0, 0, 1, 1, true).rec, "m-late");
  ledger.acked(ledger.start(0, 0, 1, 2, true).rec, "m-gone");
  const o = await storedCheck(ledger, s, Date.now(), 10_000);
  assert.equal(o.acked, 3);
  assert.equal(o.late, 1);
  assert.equal(o.lost, 1);
  assert.match(o.lostSamples.join(), /m-gone, not in the stored inbox/);
});

test("storedCheck: nothing is pulled when every acknowledged send arrived in time", async () => {
  const receiver = peer("r", []);
  const s = session([peer("s", []), receiver]);
  const ledger = new Ledger("run2", s);
  ledger.acked(ledger.start(0, 0, 1, 0, true).rec, "m1");
  ledger.receive(1, msg("run2", 0, 0));
  const o = await storedCheck(ledger, s, Date.now(), 10_000);
  assert.deepEqual([o.lost, o.late, receiver.pulls], [0, 0, 0]);
});

test("storedCheck: a receiver whose connection closed cannot be checked, so its missing sends stay lost", async () => {
  const receiver = peer("r", ["m1"], false);
  const s = session([peer("s", []), receiver]);
  const ledger = new Ledger("run3", s);
  ledger.acked(ledger.start(0, 0, 1, 0, true).rec, "m1");
  const o = await storedCheck(ledger, s, Date.now(), 10_000);
  assert.deepEqual([o.lost, o.late, receiver.pulls], [1, 0, 0]);
  assert.match(o.lostSamples.join(), /connection was closed/);
});

test("storedCheck: an inbox longer than one page is pulled page by page", async () => {
  const ids = Array.from({ length: 1200 }, (_, i) => `m${i}`);
  const receiver = peer("r", ids);
  const s = session([peer("s", []), receiver]);
  const ledger = new Ledger("run4", s);
  ledger.acked(ledger.start(0, 0, 1, 0, true).rec, "m1150");
  const o = await storedCheck(ledger, s, Date.now(), 10_000);
  assert.deepEqual([o.lost, o.late, receiver.pulls], [0, 1, 3]);
});
