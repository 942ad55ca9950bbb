import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { coalesce } from "./fanout.ts";

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
});
