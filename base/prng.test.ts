import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { rng } from "./prng.ts";

// The three copies this module replaced, verbatim in their arithmetic: the same seed must give the same sequence.
function oldPropertyRng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function oldFuzzU32(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}
function oldSeededPick<T>(items: readonly T[], seed: number): T {
  let t = (seed + 0x6d2b79f5) >>> 0;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  const r = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  return items[Math.floor(r * items.length)] as T;
}

describe("rng (mulberry32)", () => {
  for (const seed of [0, 1, 42, 20240601, 2 ** 31 - 1, 2 ** 32 - 1, -5]) {
    it(`gives the sequences of the copies it replaced for seed ${seed}`, () => {
      const a = rng(seed);
      const b = rng(seed);
      const prop = oldPropertyRng(seed);
      const fuzz = oldFuzzU32(seed);
      for (let i = 0; i < 50; i++) {
        assert.equal(a.next(), prop());
        assert.equal(b.u32(), fuzz());
      }
      const items = ["gateway-1", "gateway-2", "gateway-3", "message-1", "message-2"];
      assert.equal(rng(seed).pick(items), oldSeededPick(items, seed));
    });
  }

  it("keeps int within its bounds and refuses to pick from nothing", () => {
    const r = rng(7);
    for (let i = 0; i < 200; i++) {
      const n = r.int(-3, 3);
      assert.ok(Number.isInteger(n) && n >= -3 && n <= 3);
    }
    assert.throws(() => r.pick([]), RangeError);
  });
});
