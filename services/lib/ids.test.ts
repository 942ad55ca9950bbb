import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { IdGenerator } from "./ids.ts";

describe("id generator", () => {
  it("hands out strictly increasing, unique ids, even 20,000 within a few milliseconds", () => {
    const g = new IdGenerator(5);
    const ids = Array.from({ length: 20_000 }, () => BigInt(g.next()));
    for (let i = 1; i < ids.length; i++) assert.ok((ids[i] ?? 0n) > (ids[i - 1] ?? 0n));
  });

  it("keeps two nodes' ids apart and within 63 bits", () => {
    const a = new Set(Array.from({ length: 5000 }, () => new IdGenerator(1).next()));
    const b = Array.from({ length: 5000 }, () => new IdGenerator(2).next());
    assert.ok(b.every((id) => !a.has(id)));
    assert.ok(b.every((id) => BigInt(id) < 2n ** 63n));
    assert.throws(() => new IdGenerator(1024), /NODE_ID: got 1024; allowed: 0 to 1023/);
  });
});
