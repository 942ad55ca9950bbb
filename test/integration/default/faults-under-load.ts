/**
 * Faults under load on the real local platform (issue 22): pushes a protocol-abiding client can take as they are,
 * session tokens kept out of URLs and logs, and a load balancer that keeps the healthy gateway when the other dies.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import WebSocket from "ws";
import { ImClient } from "../../../services/lib/client/index.ts";
import { TOKEN_IN_URL, wsProtocols } from "../../../services/lib/protocol.ts";
import { LetterClient } from "../../helpers/letter-client.ts";
import { eventually } from "../../helpers/messaging.ts";
import { makeUsers, type TestPlatform } from "../../helpers/platform.ts";

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

export function faultsUnderLoadSuite(platform: () => Promise<TestPlatform>): void {
  describe("faults under load", { timeout: 900_000 }, () => {
    before(async () => {
      p = await platform();
      users = await makeUsers(p.api, 40, "ovl");
    });

    after(async () => {
      for (const c of closers) c();
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
      // A plain GET is enough: nginx refuses on the query alone, before any upgrade or upstream.
      const res = await fetch(`${p.lbUrl}/ws?token=${encodeURIComponent(u.token)}`);
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
          await new Promise((r) => setTimeout(r, 50));
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

    it("a retry storm while the database is killed: the message tier sheds it and recovers by itself within the budget", async () => {
      const receivers = users.slice(0, 10).map((u) => u.userId);
      const storm = users.slice(10, 18).map((u, i) => new StormClient(p.wsUrl, u.token, receivers, `st${i}`));
      await Promise.all(storm.map((c) => c.start()));
      const messagePids = [p.pid("message-1"), p.pid("message-2")];
      await new Promise((r) => setTimeout(r, 5000));
      process.kill(p.pid("mariadb"), "SIGKILL");
      // The storm goes on against a dead database: every outstanding send resent twice a second on each connection.
      await new Promise((r) => setTimeout(r, 20_000));
      const refused = storm.reduce((n, c) => n + c.refusals, 0);
      const restored = await p.run("local", "up");
      assert.equal(
        restored.exitCode,
        0,
        `imctl local up after the kill: ${restored.stderr.split("\n").slice(-8).join("\n")}`,
      );
      const t0 = Date.now();
      // Recovered: both message instances ready and a fresh send acknowledged, while the storm still runs.
      const ports = [0, 1].map((i) => p.spec.local.ports.message + i);
      const probe = new ImClient({ url: p.wsUrl, token: users[39]?.token ?? "", syncIntervalMs: 0 });
      closers.push(() => probe.close());
      await probe.connect();
      const host = p.spec.local.bindAddress;
      const ready = async (port: number) =>
        (await fetch(`http://${host}:${port}/readyz`, { signal: AbortSignal.timeout(2000) }).catch(() => null))
          ?.status === 200;
      for (;;) {
        const now = await Promise.all(ports.map(ready));
        if (now.every(Boolean)) break;
        assert.ok(
          Date.now() - t0 < 30_000,
          `message instances not ready 30 s after the restore: ${JSON.stringify(now)}`,
        );
        await new Promise((r) => setTimeout(r, 200));
      }
      await probe.send({ kind: "user", id: receivers[0] ?? "" }, "after the storm", { timeoutMs: 30_000 });
      // And the storm itself is served again: every storm client has sends acknowledged after the restore.
      await eventually(
        "storm sends acknowledged after the restore",
        () => storm.every((c) => c.ackedAfter(t0)),
        Math.max(0, 30_000 - (Date.now() - t0)),
        () => `${storm.filter((c) => c.ackedAfter(t0)).length}/${storm.length} storm clients acknowledged`,
      );
      const recoverySeconds = (Date.now() - t0) / 1000;
      process.stderr.write(
        `storm: ${refused} refusals while the database was dead; recovered in ${recoverySeconds} s\n`,
      );
      for (const c of storm) c.stop();
      assert.ok(recoverySeconds <= 30, `recovered in ${recoverySeconds.toFixed(1)} s, over the database's 30 s budget`);
      assert.deepEqual([p.pid("message-1"), p.pid("message-2")], messagePids, "no message instance was restarted");
      // The storm was refused (overloaded or unavailable), not queued: the refusals came back while the database was
      // dead, and acknowledgements resumed after it came back.
      assert.ok(refused > 100, `only ${refused} refusals during the storm`);
      assert.ok(
        storm.some((c) => c.ackedAfter(t0)),
        "no storm send acknowledged after the recovery",
      );
    });
  });
}

/**
 * A client that keeps 100 sends outstanding and resends every one it holds twice a second without waiting for
 * answers: the abusive pattern that wedged the message tier (many unacknowledged sends resent on every turn).
 */
class StormClient {
  private ws: WebSocket | null = null;
  private readonly outstanding = new Map<string, string>();
  private timer: NodeJS.Timeout | null = null;
  private n = 0;
  private lastAck = 0;
  refusals = 0;
  private stopped = false;

  constructor(
    private readonly url: string,
    private readonly token: string,
    private readonly receivers: string[],
    private readonly tag: string,
  ) {}

  async start(): Promise<void> {
    while (this.outstanding.size < 100) this.outstanding.set(`${this.tag}-${this.n++}`, this.pick());
    this.dial();
    this.timer = setInterval(() => this.resendAll(), 500);
  }

  private pick(): string {
    return this.receivers[this.n % this.receivers.length] ?? "";
  }

  private dial(): void {
    if (this.stopped) return;
    const ws = new WebSocket(this.url, wsProtocols(this.token), { perMessageDeflate: false });
    this.ws = ws;
    ws.on("message", (d) => {
      const f = JSON.parse(String(d)) as { t: string; rid?: string; error?: string };
      if (f.t === "ack" && f.rid !== undefined && this.outstanding.delete(f.rid)) {
        this.lastAck = Date.now();
        this.outstanding.set(`${this.tag}-${this.n++}`, this.pick());
      } else if (f.t === "err") this.refusals++;
    });
    ws.on("error", () => undefined);
    ws.on("close", () => setTimeout(() => this.dial(), 200));
  }

  private resendAll(): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    // rid = cmid: an answer names the send it is about.
    for (const [cmid, to] of this.outstanding)
      ws.send(JSON.stringify({ t: "send", rid: cmid, cmid, to: { kind: "user", id: to }, body: `storm ${cmid}` }));
  }

  ackedAfter(t: number): boolean {
    return this.lastAck >= t;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.ws?.terminate();
  }
}
