import assert from "node:assert/strict";
import { describe, it } from "node:test";
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

  it("sends a bare notification when one item has no message or there are too many", () => {
    const m = (seq: number) => ({ seq, messageId: String(100 + seq), from: "7", body: "b", ts: 1 });
    assert.deepEqual(
      coalesce([
        { userId: "1", seq: 1, msgs: [m(1)] },
        { userId: "1", seq: 2 },
        { userId: "1", seq: 3, msgs: [m(3)] },
      ]),
      [{ userId: "1", seq: 3 }],
    );
    const many = Array.from({ length: 40 }, (_, i) => ({ userId: "1", seq: i + 1, msgs: [m(i + 1)] }));
    assert.deepEqual(coalesce(many), [{ userId: "1", seq: 40 }]);
  });
});
