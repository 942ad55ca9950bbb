/**
 * The gateway's calls to the message service: the canary's share (a rollout of the message service) and the
 * fallback to stable instances when the picked one is gone. Two small HTTP servers on loopback stand in for the
 * instances and count what they get.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { MessageUpstream } from "./upstream.ts";

function instance(): { server: Server; hits: () => number; url: () => string } {
  let n = 0;
  const server = createServer((req, res) => {
    n++;
    req.resume();
    req.on("end", () => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ ok: true }));
    });
  });
  return { server, hits: () => n, url: () => `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe("MessageUpstream", () => {
  const stable = instance();
  const canary = instance();
  before(async () => {
    await Promise.all(
      [stable, canary].map((i) => new Promise<void>((r) => i.server.listen(0, "127.0.0.1", () => r()))),
    );
  });
  after(() => {
    for (const i of [stable, canary]) i.server.close();
  });

  it("sends the canary its share of the requests, and none once it is removed", async () => {
    const up = new MessageUpstream([stable.url()], "t", { urls: [canary.url()], weight: 100 });
    const call = () => up.call("u1", "GET", "/internal/v1/inbox");
    for (let i = 0; i < 20; i++) await call();
    assert.equal(canary.hits(), 20, "weight 100: every request on the canary");
    up.setCanary({ urls: [canary.url()], weight: 50 });
    const [s0, c0] = [stable.hits(), canary.hits()];
    for (let i = 0; i < 200; i++) await call();
    const [s, c] = [stable.hits() - s0, canary.hits() - c0];
    assert.equal(s + c, 200);
    assert.ok(s > 60 && c > 60, `weight 50 splits about evenly: stable ${s}, canary ${c}`);
    up.setCanary({ urls: [], weight: 0 });
    assert.deepEqual(up.canary, { urls: [], weight: 0 });
    const c1 = canary.hits();
    for (let i = 0; i < 20; i++) await call();
    assert.equal(canary.hits(), c1, "no canary: nothing reaches it");
    await up.close();
  });

  it("falls back to a stable instance when the canary is unreachable, and refuses a weight outside 0-100", async () => {
    const up = new MessageUpstream([stable.url()], "t", { urls: ["http://127.0.0.1:1"], weight: 100 });
    const s0 = stable.hits();
    await up.call("u1", "GET", "/internal/v1/inbox");
    assert.equal(stable.hits(), s0 + 1);
    assert.throws(
      () => up.setCanary({ urls: [canary.url()], weight: 130 }),
      /weight: got 130; allowed: a whole number from 0 to 100/,
    );
    assert.deepEqual(up.canary, { urls: ["http://127.0.0.1:1"], weight: 100 }, "a refused change changes nothing");
    await up.close();
  });
});
