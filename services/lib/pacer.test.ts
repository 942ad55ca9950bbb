import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Pacer, type PacerClock } from "./pacer.ts";

/**
 * Virtual time: whenever the event loop turns, the earliest pending timer fires and the clock jumps to its time, so
 * the tests assert the pacer's schedule rather than how busy the machine is. `early` fires every timer that much
 * before its time, as the event loop's millisecond timers may.
 */
class VirtualClock implements PacerClock {
  private t = 0;
  private order = 0;
  private readonly timers: Array<{ at: number; order: number; fn: () => void }> = [];

  constructor(private readonly early = 0) {}

  now(): number {
    return this.t;
  }

  schedule(fn: () => void, ms: number): void {
    const at = ms <= 0 ? this.t : this.t + ms - this.early;
    this.timers.push({ at, order: this.order++, fn });
    setImmediate(() => this.fireEarliest());
  }

  sleep(ms: number): Promise<void> {
    return new Promise((r) => this.schedule(r, ms));
  }

  private fireEarliest(): void {
    this.timers.sort((a, b) => a.at - b.at || a.order - b.order);
    const next = this.timers.shift();
    if (!next) return;
    this.t = Math.max(this.t, next.at);
    next.fn();
  }
}

describe("Pacer", () => {
  it("runs a lone flush on the next turn, without waiting for the interval", async () => {
    const clock = new VirtualClock();
    const runs: number[] = [];
    const p = new Pacer(1000, () => runs.push(clock.now()), clock);
    const t0 = clock.now();
    p.request();
    assert.equal(runs.length, 0, "not synchronously: the rest of this turn joins the flush");
    await new Promise((r) => setImmediate(r));
    assert.equal(runs.length, 1);
    assert.ok((runs[0] ?? Infinity) - t0 < 100);
  });

  it("coalesces requests made before the flush runs into one flush", async () => {
    // On the event loop's clock, a 5 ms timer can come before the flush's next turn when the machine is busy.
    const clock = new VirtualClock();
    let runs = 0;
    const p = new Pacer(0, () => runs++, clock);
    for (let i = 0; i < 50; i++) p.request();
    await clock.sleep(5);
    assert.equal(runs, 1);
  });

  it("runs by the event loop's clock by default: the flush comes on the next turn", async () => {
    let runs = 0;
    const p = new Pacer(1000, () => runs++);
    p.request();
    p.request();
    assert.equal(runs, 0);
    await new Promise((r) => setImmediate(r));
    assert.equal(runs, 1);
  });

  it("starts flushes at least one interval apart under a steady stream of requests", async () => {
    // Timers that come early must not let a flush start before its interval has passed.
    const clock = new VirtualClock(0.4);
    const starts: number[] = [];
    const p = new Pacer(20, () => starts.push(clock.now()), clock);
    const until = clock.now() + 200;
    while (clock.now() < until) {
      p.request();
      await clock.sleep(1);
    }
    await clock.sleep(30);
    // 200 ms of requests, plus the last one answered after the loop: at most 12, and more than one.
    assert.ok(starts.length >= 3 && starts.length <= 12, `flushes in 200 ms at one per 20 ms: got ${starts.length}`);
    for (let i = 1; i < starts.length; i++) {
      const gap = (starts[i] ?? 0) - (starts[i - 1] ?? 0);
      assert.ok(gap >= 20, `flush ${i} came ${gap.toFixed(1)} ms after the one before`);
    }
  });

  it("tells a loop that drives it itself how long to wait", async () => {
    const clock = new VirtualClock();
    const p = new Pacer(50, () => undefined, clock);
    assert.ok(p.wait() <= 0, "never started: no wait");
    p.started();
    const w = p.wait();
    assert.ok(w > 40 && w <= 50, `just started: about the whole interval (${w})`);
    await clock.sleep(55);
    assert.ok(p.wait() <= 0);
  });

  it("lets a loop await its turn: next() starts at once the first time, then one interval after the last start", async () => {
    const clock = new VirtualClock(0.4);
    const p = new Pacer(30, undefined, clock);
    const t0 = clock.now();
    await p.next();
    assert.ok(clock.now() - t0 < 20, "the first turn does not wait");
    const starts: number[] = [];
    for (let i = 0; i < 4; i++) {
      await p.next();
      starts.push(clock.now());
    }
    for (let i = 1; i < starts.length; i++) {
      const gap = (starts[i] ?? 0) - (starts[i - 1] ?? 0);
      assert.ok(gap >= 30, `turn ${i} came ${gap.toFixed(1)} ms after the one before`);
    }
  });
});
