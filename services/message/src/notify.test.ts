import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MAX_PUSHED_MESSAGES } from "../../lib/protocol.ts";
import { coalesce } from "./notify.ts";

describe("notification coalescing", () => {
  it("keeps the newest seq per user and the newest group seq per user and group", () => {
    const out = coalesce([
      { userId: "1", seq: 3 },
      { userId: "1", seq: 5 },
      { userId: "1", seq: 4 },
      { userId: "2", seq: 1 },
      { userId: "1", group: "9", groupSeq: 7 },
      { userId: "1", group: "9", groupSeq: 6 },
    ]);
    assert.deepEqual(out, [
      { userId: "1", seq: 5 },
      { userId: "2", seq: 1 },
      { userId: "1", group: "9", groupSeq: 7 },
    ]);
  });

  it("merges the messages that ride along in seq order, once each", () => {
    const m = (seq: number) => ({ seq, messageId: String(100 + seq), from: "7", body: `b${seq}`, ts: 1 });
    const out = coalesce([
      { userId: "1", seq: 2, msgs: [m(2)] },
      { userId: "1", seq: 1, msgs: [m(1)] },
      { userId: "1", seq: 2, msgs: [m(2)] },
    ]);
    assert.deepEqual(out, [{ userId: "1", seq: 2, msgs: [m(1), m(2)] }]);
  });

  it("carries only the consecutive run ending at the newest seq: a seq the batch lacks ends it", () => {
    const m = (seq: number) => ({ seq, messageId: String(100 + seq), from: "7", body: "b", ts: 1 });
    // Seq 2's event carried no message (an older event): only 3 rides along.
    assert.deepEqual(
      coalesce([
        { userId: "1", seq: 1, msgs: [m(1)] },
        { userId: "1", seq: 2 },
        { userId: "1", seq: 3, msgs: [m(3)] },
      ]),
      [{ userId: "1", seq: 3, msgs: [m(3)] }],
    );
    // Seq 12 went to another instance's batch (another partition): the hole ends the run.
    assert.deepEqual(coalesce([10, 11, 13, 14].map((s) => ({ userId: "1", seq: s, msgs: [m(s)] }))), [
      { userId: "1", seq: 14, msgs: [m(13), m(14)] },
    ]);
    // The newest seq's own message is missing: nothing rides along, the client pulls.
    assert.deepEqual(
      coalesce([
        { userId: "1", seq: 4, msgs: [m(4)] },
        { userId: "1", seq: 5 },
      ]),
      [{ userId: "1", seq: 5 }],
    );
    // More than a push may carry: the newest MAX_PUSHED_MESSAGES, still consecutive and ending at the newest seq.
    const many = Array.from({ length: 40 }, (_, i) => ({ userId: "1", seq: i + 1, msgs: [m(i + 1)] }));
    const [one] = coalesce(many);
    assert.ok(one && "seq" in one);
    assert.deepEqual(
      one.msgs?.map((x) => x.seq),
      Array.from({ length: MAX_PUSHED_MESSAGES }, (_, i) => 40 - MAX_PUSHED_MESSAGES + 1 + i),
    );
  });

  it("never carries a run with a hole, whatever the batch holds (random batches)", () => {
    const m = (seq: number) => ({ seq, messageId: String(100 + seq), from: "7", body: "b", ts: 1 });
    let state = 42;
    const rand = () => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 500; round++) {
      const items = Array.from({ length: 1 + Math.floor(rand() * 50) }, () => {
        const seq = 1 + Math.floor(rand() * 60);
        return rand() < 0.1 ? { userId: "1", seq } : { userId: "1", seq, msgs: [m(seq)] };
      });
      const [one] = coalesce(items);
      assert.ok(one && "seq" in one);
      assert.equal(one.seq, Math.max(...items.map((i) => i.seq)));
      const seqs = one.msgs?.map((x) => x.seq) ?? [];
      seqs.forEach((s, i) => assert.equal(s, one.seq - seqs.length + 1 + i, `round ${round}: ${seqs.join(",")}`));
    }
  });
});
