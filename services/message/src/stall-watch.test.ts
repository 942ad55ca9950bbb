import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { StallWatch } from "./stall-watch.ts";

const T = "im.message.stored";
const lag = (...parts: number[]) => new Map([[T, parts.map(BigInt)]]);
const committed = (...offsets: number[]) => new Map(offsets.map((o, i) => [`${T}:${i}`, BigInt(o)]));

describe("fan-out stall watch", () => {
  it("calls a partition stalled once its events have waited stallMs at every reading with nothing delivered", () => {
    const w = new StallWatch(6000, 6000, 0);
    assert.deepEqual(w.reading(lag(0, 3), committed(10, 20), 0), []);
    assert.deepEqual(w.reading(lag(0, 5), committed(10, 20), 2000), []);
    assert.deepEqual(w.reading(lag(0, 5), committed(10, 20), 4000), []);
    assert.deepEqual(w.reading(lag(0, 6), committed(10, 20), 6000), [`${T}:1`]);
  });

  it("does not count a partition that delivered meanwhile, nor events delivered and still being processed", () => {
    const w = new StallWatch(6000, 6000, 0);
    w.reading(lag(4), committed(10), 0);
    // Delivered 10..13: the lag (latest 14, committed 10) is all in the fan-out's hands, not the stream's.
    for (let o = 10; o < 14; o++) w.delivered(T, 0, BigInt(o));
    for (const t of [2000, 4000, 6000, 8000, 60_000]) assert.deepEqual(w.reading(lag(4), committed(10), t), []);
    // A new event the stream does not deliver: counted from the reading that first finds it.
    assert.deepEqual(w.reading(lag(5), committed(10), 61_000), []);
    assert.deepEqual(w.reading(lag(5), committed(10), 66_999), []);
    assert.deepEqual(w.reading(lag(5), committed(10), 67_000), [`${T}:0`]);
    // Delivered at last: starts over.
    w.delivered(T, 0, 14n);
    assert.deepEqual(w.reading(lag(5), committed(10), 70_000), []);
  });

  it("forgets waiting that ends (lag back to 0), partitions not assigned (negative lag), and waiting before a reset", () => {
    const w = new StallWatch(6000, 6000, 0);
    w.reading(lag(2, -1), committed(10), 0);
    assert.deepEqual(w.reading(lag(0, -1), committed(12), 3000), []);
    assert.deepEqual(w.reading(lag(1, -1), committed(12), 5000), []);
    assert.deepEqual(w.reading(lag(1, -1), committed(12), 10_000), []);
    w.reset(11_000);
    assert.deepEqual(w.reading(lag(1, -1), committed(12), 12_000), []);
    assert.deepEqual(w.reading(lag(1, -1), committed(12), 18_000), [`${T}:0`]);
  });

  it("calls a stream with partitions assigned stalled when no fetch was answered for silentMs, traffic or not", () => {
    const w = new StallWatch(6000, 6000, 0);
    w.fetchAnswered(1000);
    assert.equal(w.silence(6999, true), undefined);
    assert.equal(w.silence(7000, true), 6000);
    assert.equal(w.silence(60_000, false), undefined, "no partitions: nothing to fetch");
    w.fetchAnswered(60_000);
    assert.equal(w.silence(61_000, true), undefined);
    // A rebalance or a pause starts the count over.
    w.reset(70_000);
    assert.equal(w.silence(75_000, true), undefined);
    assert.equal(w.silence(76_000, true), 6000);
  });

  it("judges only the partitions assigned now: a lag left by a late commit of an earlier assignment is not a stall", () => {
    const w = new StallWatch(6000, 6000, 0);
    const held = new Set([`${T}:0`]);
    for (const t of [0, 2000, 4000, 6000, 8000]) assert.deepEqual(w.reading(lag(0, 7), committed(10, 20), t, held), []);
    assert.deepEqual(w.reading(lag(3, 7), committed(10, 20), 9000, held), []);
    assert.deepEqual(w.reading(lag(3, 7), committed(10, 20), 15_000, held), [`${T}:0`]);
  });
});
