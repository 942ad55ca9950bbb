/**
 * The gateway's calls to the message service: the canary's share (a rollout of the message service) and the
 * fallback to stable instances when the picked one is gone. Two small HTTP servers on loopback stand in for the
 * instances and count what they get.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import type { ApiError } from "../../lib/errors.ts";
import { GATEWAY_RETRY_AFTER_MS, MessageUpstream } from "./upstream.ts";

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

  it("holds at most maxPendingSends sends; beyond, refuses at once with overloaded and a retry-after", async () => {
    const held: Array<() => void> = [];
    const slow = createServer((req, res) => {
      let body = "";
      req.on("data", (d: Buffer) => (body += d.toString()));
      req.on("end", () =>
        held.push(() => {
          const n = (JSON.parse(body) as { sends: unknown[] }).sends.length;
          res.setHeader("content-type", "application/json");
          res.end(
            JSON.stringify({ results: Array.from({ length: n }, () => ({ ok: true, result: { messageId: "1" } })) }),
          );
        }),
      );
    });
    await new Promise<void>((r) => slow.listen(0, "127.0.0.1", () => r()));
    const up = new MessageUpstream([`http://127.0.0.1:${(slow.address() as AddressInfo).port}`], "t", undefined, 0, 3);
    const send = () =>
      up.call("u1", "POST", "/internal/v1/messages", { cmid: "c", to: { kind: "user", id: "2" }, body: "b" });
    const first = [send(), send(), send()];
    await assert.rejects(send(), (e: unknown) => {
      assert.equal((e as ApiError).code, "overloaded");
      assert.equal((e as ApiError).retryAfterMs, GATEWAY_RETRY_AFTER_MS);
      return true;
    });
    assert.equal(up.shed, 1);
    while (held.length === 0) await new Promise((r) => setTimeout(r, 10));
    for (const h of held.splice(0)) h();
    await Promise.all(first);
    // Room again once they are answered.
    const again = send();
    while (held.length === 0) await new Promise((r) => setTimeout(r, 10));
    for (const h of held.splice(0)) h();
    await again;
    await up.close();
    slow.close();
  });

  it("passes the message service's overloaded refusal of a send on with its retry-after", async () => {
    const refusing = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ results: [{ ok: false, error: "overloaded", message: "busy", retryAfterMs: 700 }] }));
      });
    });
    await new Promise<void>((r) => refusing.listen(0, "127.0.0.1", () => r()));
    const up = new MessageUpstream([`http://127.0.0.1:${(refusing.address() as AddressInfo).port}`], "t");
    await assert.rejects(
      up.call("u1", "POST", "/internal/v1/messages", { cmid: "c", to: { kind: "user", id: "2" }, body: "b" }),
      (e: unknown) => (e as ApiError).code === "overloaded" && (e as ApiError).retryAfterMs === 700,
    );
    await up.close();
    refusing.close();
  });
});
