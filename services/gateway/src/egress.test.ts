import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { EgressLimiter } from "./egress.ts";

describe("egress limiter", () => {
  it("sends at once within the budget and queues, in order, beyond it", async () => {
    const lim = new EgressLimiter(10_000);
    const out: number[] = [];
    for (let i = 0; i < 5; i++) lim.submit(4000, () => out.push(i));
    assert.deepEqual(out, [0, 1], "two frames fit the first second's budget");
    assert.equal(lim.queued, 12_000);
    const t0 = Date.now();
    while (out.length < 5 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(out, [0, 1, 2, 3, 4], "the rest follow in order as the budget refills");
    assert.ok(Date.now() - t0 >= 900, "about one second later for 12 KB at 10 KB/s");
    assert.equal(lim.queued, 0);
  });

  it("drains the queue at once when the cap is raised", async () => {
    const lim = new EgressLimiter(1024);
    const out: number[] = [];
    for (let i = 0; i < 4; i++) lim.submit(1000, () => out.push(i));
    assert.equal(out.length, 1);
    lim.setCap(1024 * 1024);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(out.length, 4);
    assert.equal(lim.cap, 1024 * 1024);
  });

  it("lets a frame larger than the whole budget through once the bucket is full", async () => {
    const lim = new EgressLimiter(1024);
    let sent = false;
    lim.submit(4096, () => (sent = true));
    await new Promise((r) => setTimeout(r, 1100));
    assert.ok(sent);
  });
});
