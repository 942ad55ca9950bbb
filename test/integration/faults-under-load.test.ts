/**
 * Faults under load on the real local platform (issue 22): pushes a protocol-abiding client can take as they are,
 * session tokens kept out of URLs and logs, and a load balancer that keeps the healthy gateway when the other dies.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import WebSocket from "ws";
import { ImClient } from "../../services/lib/client/index.ts";
import { TOKEN_IN_URL, wsProtocols } from "../../services/lib/protocol.ts";
import { LetterClient } from "../helpers/letter-client.ts";
import { eventually } from "../helpers/messaging.ts";
import { makeUsers, startPlatform, type TestPlatform } from "../helpers/platform.ts";

type User = { userId: string; token: string };

let p: TestPlatform;
let users: User[];
const closers: Array<() => void> = [];

/** `n` senders, each sending one message at a time (acknowledged before the next) to `to()` for `ms`. */
async function sendLoad(senders: User[], to: () => string, ms: number): Promise<{ acked: number; failed: number }> {
  let acked = 0;
  let failed = 0;
  const until = Date.now() + ms;
  await Promise.all(
    senders.map(async (u, i) => {
      const c = new ImClient({ url: p.wsUrl, token: u.token, syncIntervalMs: 0 });
      closers.push(() => c.close());
      await c.connect();
      for (let n = 0; Date.now() < until; n++) {
        try {
          await c.send({ kind: "user", id: to() }, `s${i}-${n}`, { timeoutMs: 20_000 });
          acked++;
        } catch {
          failed++;
        }
      }
    }),
  );
  return { acked, failed };
}

/** One WebSocket handshake through the load balancer: its HTTP status (101 when upgraded). */
function handshake(token: string): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(p.wsUrl, wsProtocols(token), { perMessageDeflate: false, handshakeTimeout: 10_000 });
    ws.once("upgrade", () => {
      resolve(101);
      ws.terminate();
    });
    ws.once("unexpected-response", (_q, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once("error", () => resolve(0));
  });
}

describe("faults under load", { timeout: 900_000 }, () => {
  before(async () => {
    p = await startPlatform(12000);
    users = await makeUsers(p.api, 40, "ovl");
  });

  after(async () => {
    for (const c of closers) c();
    await p?.down();
  });

  it("pushes are consecutive runs: a client that takes them as the protocol says never steps over a seq", async () => {
    const receivers = users.slice(0, 3);
    const letter = await Promise.all(
      receivers.map(async (u) => {
        const c = new LetterClient(p.wsUrl, u.token);
        closers.push(() => c.close());
        await c.connect();
        return c;
      }),
    );
    let k = 0;
    // Many senders to few receivers: one receiver's seqs are stored in different batches, whose events reach
    // different partitions and so both message instances' fan-outs.
    const load = await sendLoad(users.slice(3, 27), () => receivers[k++ % receivers.length]?.userId ?? "", 20_000);
    assert.ok(load.acked > 500, `only ${load.acked} sends acknowledged (${load.failed} failed)`);
    const heads = await Promise.all(letter.map((c) => c.head()));
    for (const c of letter) c.pull();
    await eventually(
      "every receiver at its inbox head",
      () => letter.every((c, i) => c.last === heads[i]),
      30_000,
      () => letter.map((c, i) => `${c.last}/${heads[i]}`).join(" "),
    );
    for (const [i, c] of letter.entries()) {
      assert.deepEqual(c.liveGaps, [], `receiver ${i} took a push with a hole`);
      assert.deepEqual(
        c.taken,
        Array.from({ length: heads[i] ?? 0 }, (_, j) => j + 1),
        `receiver ${i}: every seq once, in order`,
      );
    }
    // Not vacuous: most messages came with their pushes, and the rule was applied many times.
    const pushes = letter.reduce((n, c) => n + c.pushesTaken, 0);
    assert.ok(pushes > 100, `only ${pushes} pushes were taken as they were`);
  });

  it("refuses a token in the URL at the load balancer, and no token reaches any component's log", async () => {
    const u = users[30];
    assert.ok(u);
    const res = await fetch(`${p.lbUrl}/ws?token=${encodeURIComponent(u.token)}`, {
      headers: {
        connection: "Upgrade",
        upgrade: "websocket",
        "sec-websocket-version": "13",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      },
    });
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), { error: "token_in_url", message: TOKEN_IN_URL });
    assert.equal(await handshake(u.token), 101);
    const dir = join(p.stateDir, "logs");
    const logs = readdirSync(dir).map((f) => [f, readFileSync(join(dir, f), "utf8")] as const);
    assert.ok(logs.some(([f]) => f.startsWith("gateway")) && logs.some(([f]) => f.startsWith("nginx")));
    // The signature part is what makes a token usable; none of the 40 sessions' signatures is in any log.
    for (const { token } of users) {
      const sig = token.split(".")[3] ?? token;
      for (const [f, text] of logs) assert.ok(!text.includes(sig), `a session token is in logs/${f}`);
    }
  });

  it("one gateway killed under load: no 502 from the load balancer while the other is up, every client back", async () => {
    const conns = await Promise.all(
      users.slice(0, 30).map(async (u) => {
        const c = new ImClient({ url: p.wsUrl, token: u.token, syncIntervalMs: 0 });
        closers.push(() => c.close());
        await c.connect();
        return c;
      }),
    );
    const statuses = new Map<number, number>();
    let dialing = true;
    // Eight dialers open and drop connections through the load balancer all along, as new sessions would.
    const dialers = Array.from({ length: 8 }, async (_, i) => {
      const u = users[31 + i];
      assert.ok(u);
      while (dialing) {
        const s = await handshake(u.token);
        statuses.set(s, (statuses.get(s) ?? 0) + 1);
      }
    });
    const sending = sendLoad(users.slice(31, 39), () => users[Math.floor(Math.random() * 30)]?.userId ?? "", 15_000);
    await new Promise((r) => setTimeout(r, 3000));
    process.kill(p.pid("gateway-1"), "SIGKILL");
    await eventually(
      "every client reconnected",
      () => conns.every((c) => c.isOpen),
      20_000,
      () => `${conns.filter((c) => c.isOpen).length}/${conns.length} open`,
    );
    const load = await sending;
    // Keep dialing a while with gateway-1 still dead: each new session must land on gateway-2.
    await new Promise((r) => setTimeout(r, 4000));
    dialing = false;
    await Promise.all(dialers);
    const seen = Object.fromEntries(statuses);
    assert.equal(statuses.get(502) ?? 0, 0, `502s from the load balancer: ${JSON.stringify(seen)}`);
    assert.deepEqual([...statuses.keys()], [101], `every handshake upgraded: ${JSON.stringify(seen)}`);
    assert.ok((statuses.get(101) ?? 0) > 50, JSON.stringify(seen));
    assert.ok(load.acked > 0 && load.failed === 0, `sends across the kill: ${JSON.stringify(load)}`);
    const restored = await p.run("local", "up");
    assert.equal(restored.exitCode, 0, restored.stderr);
  });
});
