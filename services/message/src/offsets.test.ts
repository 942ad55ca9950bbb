import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { OffsetCommits, partitionKey, type CommittableMessage } from "./offsets.ts";

/** A message whose commit() is recorded in `log` and settles when the test says so. */
function message(log: string[], partition: number, offset: bigint, fail?: Error) {
  let settle: (() => void) | undefined;
  const m: CommittableMessage & { settle(): void } = {
    topic: "t",
    partition,
    offset,
    commit() {
      log.push(`${partition}@${offset}`);
      return new Promise<void>((resolve, reject) => (settle = () => (fail ? reject(fail) : resolve())));
    },
    settle: () => settle?.(),
  };
  return m;
}

describe("offset commits", () => {
  it("commits the newest processed offset of each partition, once", async () => {
    const log: string[] = [];
    const book = new OffsetCommits();
    const a = message(log, 0, 5n);
    const b = message(log, 0, 7n);
    const c = message(log, 1, 3n);
    for (const m of [a, b, c]) book.processed(m);
    const round = book.commit(1, () => assert.fail("no commit fails"));
    assert.deepEqual(log, ["0@7", "1@3"]);
    b.settle();
    c.settle();
    await round;
    await book.commit(1, () => assert.fail("nothing is left to commit"));
    assert.deepEqual(log, ["0@7", "1@3"]);
  });

  it("keeps one round in flight per consumer: offsets that come meanwhile wait for the next round", async () => {
    const log: string[] = [];
    const book = new OffsetCommits();
    const first = message(log, 0, 1n);
    book.processed(first);
    const round = book.commit(1, () => undefined);
    book.processed(message(log, 0, 2n));
    assert.equal(
      book.commit(1, () => undefined),
      round,
      "the round in flight, not a second one",
    );
    assert.deepEqual(log, ["0@1"]);
    first.settle();
    await round;
    void book.commit(1, () => undefined);
    assert.deepEqual(log, ["0@1", "0@2"]);
  });

  it("does not wait for a replaced consumer's round, and commits nothing without a consumer", async () => {
    const log: string[] = [];
    const book = new OffsetCommits();
    book.processed(message(log, 0, 1n));
    void book.commit(1, () => undefined);
    book.processed(message(log, 0, 2n));
    void book.commit(2, () => undefined);
    assert.deepEqual(log, ["0@1", "0@2"]);
    book.processed(message(log, 0, 3n));
    void book.commit(undefined, () => undefined);
    assert.deepEqual(log, ["0@1", "0@2"]);
  });

  it("reports each failed commit with its message and consumer generation", async () => {
    const log: string[] = [];
    const book = new OffsetCommits();
    const m = message(log, 2, 9n, new Error("coordinator gone"));
    book.processed(m);
    const failed: string[] = [];
    const round = book.commit(4, (err, msg, gen) => failed.push(`${err.message} ${msg.partition} ${gen}`));
    m.settle();
    await round;
    assert.deepEqual(failed, ["coordinator gone 2 4"]);
  });

  it("forgets what was processed: the next consumer replays it", async () => {
    const log: string[] = [];
    const book = new OffsetCommits();
    book.processed(message(log, 0, 1n));
    book.forget();
    await book.commit(1, () => undefined);
    assert.deepEqual(log, []);
  });

  it("takes what was processed and not yet committed off the lag", () => {
    const book = new OffsetCommits();
    book.processed(message([], 0, 9n)); // processed up to 10
    book.processed(message([], 1, 4n)); // processed up to 5, committed further than that
    const committed = new Map([
      [partitionKey("t", 0), 6n],
      [partitionKey("t", 1), 8n],
    ]);
    // Partition 0: lag 10 of which 4 processed; partition 1: lag 2, nothing ahead; partition 2: no lag.
    assert.equal(book.pendingLag(new Map([["t", [10n, 2n, 0n]]]), committed), 8n);
    assert.equal(book.pendingLag(new Map([["t", [3n]]]), committed), 0n, "never below zero per partition");
    assert.equal(book.pendingLag(new Map([["t", [3n]]]), new Map()), 3n, "nothing committed: the whole lag");
    assert.equal(
      book.pendingLag(new Map([["t", [10n, 2n, 5n]]]), committed, new Set(["t:1", "t:2"])),
      7n,
      "a partition given away in a rebalance is not this consumer's lag",
    );
    assert.equal(book.pendingLag(new Map([["t", [10n, 2n]]]), committed, new Set()), 0n, "nothing held: no lag");
  });
  it("commits a partition only up to its oldest unfinished message when messages finish out of order", async () => {
    const log: string[] = [];
    const book = new OffsetCommits();
    const [a, b, c] = [1n, 2n, 3n].map((o) => message(log, 0, o));
    for (const m of [a!, b!, c!]) book.fetched(m, 1);
    book.processed(c!, 1);
    book.processed(b!, 1);
    await book.commit(1, () => undefined);
    assert.deepEqual(log, [], "1 is unfinished: neither 2 nor 3 may be committed");
    book.processed(a!, 1);
    void book.commit(1, () => undefined);
    assert.deepEqual(log, ["0@3"], "1, 2 and 3 finished: the newest is committed");
  });

  it("ignores what another consumer generation fetched, and starts a partition afresh for a newer one", async () => {
    const log: string[] = [];
    const book = new OffsetCommits();
    const old = message(log, 0, 5n);
    book.fetched(old, 1);
    book.forget();
    book.processed(old, 1);
    await book.commit(1, () => undefined);
    assert.deepEqual(log, [], "forgotten: replayed by the next consumer, not committed");
    const stale = message(log, 0, 6n);
    book.fetched(stale, 1);
    const fresh = message(log, 0, 4n);
    book.fetched(fresh, 2);
    book.processed(stale, 1);
    book.processed(fresh, 2);
    void book.commit(2, () => undefined);
    assert.deepEqual(log, ["0@4"], "the older generation's unfinished message does not hold the newer one back");
  });
});
