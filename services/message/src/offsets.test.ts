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
  });
});
