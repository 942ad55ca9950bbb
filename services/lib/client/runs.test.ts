import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { continuing } from "./runs.ts";

describe("taking pushed messages", () => {
  const seq = (x: number) => x;
  it("takes those that continue the position without a gap, skipping the ones already had", () => {
    assert.deepEqual(continuing([3, 4, 5, 6], 4, seq), [5, 6]);
    assert.deepEqual(continuing([5, 6], 4, seq), [5, 6]);
  });
  it("takes nothing when the first new one is beyond the next position (the client pulls)", () => {
    assert.deepEqual(continuing([7, 8], 4, seq), []);
  });
  it("stops at a hole", () => {
    assert.deepEqual(continuing([5, 6, 8, 9], 4, seq), [5, 6]);
    assert.deepEqual(continuing([], 4, seq), []);
  });
});
