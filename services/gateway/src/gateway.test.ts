/**
 * The gateway's heartbeat with real WebSocket connections: pings go only to quiet connections, spread over the
 * interval rather than in one burst, and a client that answers nothing is closed after the idle timeout.
 * Presence is recorded in a stand-in for Redis (its own behaviour is tested against the real cluster elsewhere).
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { Cluster } from "ioredis";
import { WebSocket } from "ws";
import { createLogger } from "../../lib/log.ts";
import { createMetrics } from "../../lib/metrics.ts";
import { TOKEN_IN_URL, TOKEN_IN_URL_PATH, WS_SUBPROTOCOL, wsProtocols } from "../../lib/protocol.ts";
import { issueToken, parseKeyRing } from "../../lib/tokens.ts";
import { EgressLimiter } from "./egress.ts";
import { CLOSE, Gateway, HEARTBEAT_SLICES } from "./gateway.ts";
import { gatewayMetrics } from "./metrics.ts";
import { MessageUpstream } from "./upstream.ts";

const HEARTBEAT_MS = 600;
const IDLE_TIMEOUT_MS = 2000;

/** Presence writes that fail, by user: how many more times each user's write fails. */
const failingPresence = new Map<string, number>();

/** Enough of ioredis's cluster client for presence.ts: every command succeeds, except failingPresence's writes. */
function presenceStandIn(): Cluster {
  const multi = () => {
    const keys: string[] = [];
    const chain: Record<string, unknown> = {};
    for (const m of ["hincrby", "hset", "expire", "sadd"])
      chain[m] = (key: string) => {
        keys.push(key);
        return chain;
      };
    chain.exec = async () => {
      for (const [user, left] of failingPresence)
        if (left > 0 && keys.includes(`presence:{${user}}`)) {
          failingPresence.set(user, left - 1);
          throw new Error("CLUSTERDOWN the cluster is down");
        }
      return [];
    };
    return chain;
  };
  const ok = async () => 0;
  return {
    multi,
    hincrby: ok,
    hdel: ok,
    srem: ok,
    zadd: ok,
    zremrangebyscore: ok,
    smembers: async () => [],
  } as unknown as Cluster;
}

describe("gateway heartbeat", () => {
  const ring = parseKeyRing(`k1:${"s".repeat(40)}`, "k1");
  const cfg = { SERVICE_VERSION: "test", INSTANCE_ID: "gw-test", LOG_LEVEL: "silent" };
  let server: Server;
  let gateway: Gateway;
  let url: string;
  const sockets: WebSocket[] = [];

  before(async () => {
    gateway = new Gateway({
      instanceId: "gw-test",
      version: "test",
      internalUrl: "http://127.0.0.1:1",
      keys: ring,
      upstream: new MessageUpstream(["http://127.0.0.1:1"], "internal"),
      redis: presenceStandIn(),
      log: createLogger("gateway", cfg),
      metrics: gatewayMetrics(createMetrics("gateway", cfg)),
      egress: new EgressLimiter(100 * 1024 * 1024),
      heartbeatMs: HEARTBEAT_MS,
      idleTimeoutMs: IDLE_TIMEOUT_MS,
      sendBufferLimit: 1024 * 1024,
      maxConnections: 1000,
      drainSeconds: 1,
    });
    server = createServer();
    gateway.attach(server);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`;
  });

  after(async () => {
    for (const ws of sockets) ws.terminate();
    await gateway.drain().catch(() => undefined);
    await new Promise((r) => server.close(r));
  });

  async function connect(user: string, opts: { autoPong?: boolean } = {}): Promise<WebSocket> {
    const ws = new WebSocket(url, wsProtocols(issueToken(ring, user, 600).token), { autoPong: opts.autoPong ?? true });
    sockets.push(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once("message", () => resolve());
      ws.once("error", reject);
    });
    return ws;
  }

  it("pings quiet connections, in slices over the interval, and keeps them open", async () => {
    const n = 2 * HEARTBEAT_SLICES;
    const quiet = await Promise.all(Array.from({ length: n }, (_, i) => connect(`100${i}`)));
    const pings: number[][] = quiet.map(() => []);
    quiet.forEach((ws, i) => ws.on("ping", () => pings[i]?.push(Date.now())));
    // A connection is first pinged once it has been quiet for about an interval, at its slice's next turn (up to
    // two intervals after connecting), then once per interval.
    await sleep(4 * HEARTBEAT_MS);
    for (const [i, times] of pings.entries()) {
      assert.ok(times.length >= 2, `connection ${i} was pinged ${times.length} times in 4 intervals`);
      assert.equal(quiet[i]?.readyState, WebSocket.OPEN);
    }
    // Spread: the pings of one round are not all in one instant. Grouped by the slice tick they left in, no tick
    // carries much more than its share (n / HEARTBEAT_SLICES).
    const first = pings.map((t) => t[0] ?? 0).sort((a, b) => a - b);
    const spreadMs = (first.at(-1) ?? 0) - (first[0] ?? 0);
    assert.ok(
      spreadMs >= HEARTBEAT_MS / 2,
      `the first pings of ${n} connections came within ${spreadMs} ms of each other`,
    );
  });

  it("does not ping a connection that keeps talking", async () => {
    const talker = await connect("2001");
    let pinged = 0;
    talker.on("ping", () => pinged++);
    const chatter = setInterval(() => talker.send(JSON.stringify({ t: "ping" })), HEARTBEAT_MS / 6);
    try {
      await sleep(3 * HEARTBEAT_MS);
    } finally {
      clearInterval(chatter);
    }
    assert.equal(pinged, 0);
    assert.equal(talker.readyState, WebSocket.OPEN);
  });

  it("takes the token from the subprotocol, selects only im.v1, and refuses a token in the URL", async () => {
    const ws = await connect("4001");
    assert.equal(ws.protocol, WS_SUBPROTOCOL, "the token's subprotocol is never echoed back");
    const token = issueToken(ring, "4002", 600).token;
    const refused = (target: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const bad = new WebSocket(target, wsProtocols(token));
        sockets.push(bad);
        bad.on("open", () => reject(new Error(`${target.replace(token, "<token>")} was accepted`)));
        bad.on("error", () => undefined);
        bad.on("unexpected-response", (_req, res) => {
          let body = "";
          res.on("data", (d: Buffer) => (body += d.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        });
      });
    // Straight, and as the Kubernetes edge forwards it (path rewritten, query kept).
    for (const target of [`${url}?token=${token}`, url.replace(/\/ws$/, `${TOKEN_IN_URL_PATH}?token=${token}`)]) {
      const refusal = await refused(target);
      assert.equal(refusal.status, 400, target.replace(token, "<token>"));
      assert.deepEqual(JSON.parse(refusal.body), { error: "token_in_url", message: TOKEN_IN_URL });
    }
  });

  it("greets a connection once its presence is written, trying the write again; closes it (1013) if it never is", async () => {
    failingPresence.set("5001", 2);
    const late = await connect("5001");
    assert.equal(late.readyState, WebSocket.OPEN, "greeted after two failed writes");
    assert.equal(failingPresence.get("5001"), 0);

    failingPresence.set("5002", Number.POSITIVE_INFINITY);
    const ws = new WebSocket(url, wsProtocols(issueToken(ring, "5002", 600).token));
    sockets.push(ws);
    const frames: string[] = [];
    ws.on("message", (d: Buffer) => frames.push(d.toString()));
    const code = await new Promise<number>((r) => ws.once("close", (c) => r(c)));
    assert.equal(code, CLOSE.tryAgain);
    assert.deepEqual(frames, [], "no hello for a client nobody can find");
  });

  it("closes a connection that answers nothing after the idle timeout", async () => {
    const mute = await connect("3001", { autoPong: false });
    const t0 = Date.now();
    const code = await new Promise<number>((r) => mute.once("close", (c) => r(c)));
    const after = Date.now() - t0;
    assert.equal(code, CLOSE.idle);
    // The gateway last heard from it just before the hello this test waited for; it is looked at once per interval.
    assert.ok(after >= IDLE_TIMEOUT_MS - 50 && after <= IDLE_TIMEOUT_MS + 4 * HEARTBEAT_MS, `closed after ${after} ms`);
  });
});
