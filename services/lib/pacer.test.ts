import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Pacer } from "./pacer.ts";
import { sleep } from "../../base/sleep.ts";

describe("Pacer", () => {
  it("runs a lone flush on the next turn, without waiting for the interval", async () => {
    const runs: number[] = [];
    const p = new Pacer(1000, () => runs.push(performance.now()));
    const t0 = performance.now();
    p.request();
    assert.equal(runs.length, 0, "not synchronously: the rest of this turn joins the flush");
    await new Promise((r) => setImmediate(r));
    assert.equal(runs.length, 1);
    assert.ok((runs[0] ?? Infinity) - t0 < 100);
  });

  it("coalesces requests made before the flush runs into one flush", async () => {
    let runs = 0;
    const p = new Pacer(0, () => runs++);
    for (let i = 0; i < 50; i++) p.request();
    await sleep(5);
    assert.equal(runs, 1);
  });

  it("starts flushes at least one interval apart under a steady stream of requests", async () => {
    const starts: number[] = [];
    const p = new Pacer(20, () => starts.push(performance.now()));
    const until = performance.now() + 200;
    while (performance.now() < until) {
      p.request();
      await sleep(1);
    }
    await sleep(30);
    // 200 ms of requests, plus the last one answered after the loop: at most 12, and more than one.
    assert.ok(starts.length >= 3 && starts.length <= 12, `flushes in 200 ms at one per 20 ms: got ${starts.length}`);
    for (let i = 1; i < starts.length; i++) {
      const gap = (starts[i] ?? 0) - (starts[i - 1] ?? 0);
      // Each time is read inside the flush, a moment after the pacer read its own: allow that moment.
      assert.ok(gap >= 19.5, `flush ${i} came ${gap.toFixed(1)} ms after the one before`);
    }
  });

  it("tells a loop that drives it itself how long to wait", async () => {
    const p = new Pacer(50, () => undefined);
    assert.ok(p.wait() <= 0, "never started: no wait");
    p.started();
    const w = p.wait();
    assert.ok(w > 40 && w <= 50, `just started: about the whole interval (${w})`);
    await sleep(55);
    assert.ok(p.wait() <= 0);
  });

  it("lets a loop await its turn: next() starts at once the first time, then one interval after the last start", async () => {
    const p = new Pacer(30);
    const t0 = performance.now();
    await p.next();
    assert.ok(performance.now() - t0 < 20, "the first turn does not wait");
    const starts: number[] = [];
    for (let i = 0; i < 4; i++) {
      await p.next();
      starts.push(performance.now());
    }
    for (let i = 1; i < starts.length; i++) {
      const gap = (starts[i] ?? 0) - (starts[i - 1] ?? 0);
      assert.ok(gap >= 29, `turn ${i} came ${gap.toFixed(1)} ms after the one before`);
    }
  });
});
