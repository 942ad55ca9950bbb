/**
 * connections: idle authenticated WebSocket connections one gateway process holds, and its memory per connection.
 * The target is the gateway's own limit (its open-file limit minus a reserve: 19,850 with the 20,000-descriptor
 * limit here), held without the process failing, with the next attempt refused (503) and /readyz still 200.
 *
 * A real platform (offset 5000) is brought up once. Each run connects straight to gateway-1 (not nginx) from
 * three client processes (bench/lib/conn-client.ts: raw sockets, the handshake by hand, pongs to pings), spread
 * over source addresses 127.0.0.x, until the gateway refuses or its limit is reached, with tokens of 200 real
 * users (many connections each). The value is the count the gateway reports at /internal/v1/connections; the
 * memory is its VmRSS after a settle minus before, per connection (extra RESULT line connection-kb), in a process
 * started afresh for each run.
 * Baseline, in the same run: the same clients against a bare `ws` WebSocketServer in a child process
 * (bench/lib/ws-baseline-server.ts) that verifies the token and keeps the connection, under the same limit rule.
 *
 * BENCH_CONNECTIONS_MAX caps the connections of every run (a short check; the gateway is then not at its limit,
 * so its refusal is not exercised, while the baseline server takes the cap as its limit and is).
 */
import { fork, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pidAlive } from "../cli/src/lib/process.ts";
import { REPO_ROOT } from "../base/root.mjs";
import { issueToken, parseKeyRing } from "../services/lib/tokens.ts";
import { makeUsers, startPlatform, type TestPlatform } from "../test/helpers/platform.ts";
import { median, type Benchmark } from "./harness.ts";
import { IpcChild, stopChild, type Reply } from "./lib/ipc-child.ts";
import type { ClientCommand, ClientReport, Counts, OpenCommand } from "./lib/conn-client.ts";
import { sleep } from "../base/sleep.ts";

const OFFSET = 5000;
const USERS = 200;
/** Client processes: each holds a share, under its own 20,000-descriptor limit. */
const CLIENTS = 3;
/** Connections per source address (each address has about 28,000 ephemeral ports). */
const PER_SOURCE = 1000;
/** Handshakes in flight per client process: well under the gateway's reserve of descriptors. */
const CONCURRENCY = 24;
/** Attempts beyond the limit, which must be refused. */
const EXTRA_ATTEMPTS = 5;
const SETTLE_MS = 5000;
const HANDSHAKE_TIMEOUT_MS = 15_000;
const MAX_FAILURES = 50;
/** Bounds: the whole opening phase, and the wait for the server to report 0 after the clients close. */
const OPEN_DEADLINE_MS = 15 * 60_000;
const DRAIN_DEADLINE_MS = 90_000;
const CLIENT_SCRIPT = join(REPO_ROOT, "bench", "lib", "conn-client.ts");
const BASELINE_SCRIPT = join(REPO_ROOT, "bench", "lib", "ws-baseline-server.ts");

function capFromEnv(): number {
  const raw = process.env.BENCH_CONNECTIONS_MAX;
  if (raw === undefined || raw === "") return Infinity;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`BENCH_CONNECTIONS_MAX: got ${JSON.stringify(raw)}; allowed: a positive integer (unset: no cap)`);
  return n;
}

const CAP = capFromEnv();
const t0 = Date.now();
const say = (s: string) => process.stderr.write(`[connections ${((Date.now() - t0) / 1000).toFixed(0)}s] ${s}\n`);

/** A server measured the same way: the gateway or the baseline. */
interface Target {
  label: string;
  host: string;
  port: number;
  pid: number;
  internalToken: string;
}

interface ConnectionsStatus {
  connections: number;
  maxConnections: number;
  draining: boolean;
}

interface SessionResult {
  held: number;
  kbPerConnection: number;
  refused: number;
}

let platform: TestPlatform | undefined;
let baselineServer: { child: ChildProcess; port: number } | undefined;
let userIds: string[] = [];
const kbGateway: number[] = [];
const kbBaseline: number[] = [];

async function status(t: Target): Promise<ConnectionsStatus> {
  const res = await fetch(`http://${t.host}:${t.port}/internal/v1/connections`, {
    headers: { "x-im-internal": t.internalToken },
    signal: AbortSignal.timeout(10_000),
  });
  if (res.status !== 200) throw new Error(`${t.label}: GET /internal/v1/connections answered ${res.status}`);
  return (await res.json()) as ConnectionsStatus;
}

function rssKb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitForConnections(t: Target, want: number, deadlineMs: number): Promise<ConnectionsStatus> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const s = await status(t);
    if (s.connections === want) return s;
    if (Date.now() >= end)
      throw new Error(`${t.label}: still ${s.connections} connections after ${deadlineMs / 1000} s (want ${want})`);
    await sleep(250);
  }
}

/** Source addresses 127.0.0.2, 127.0.0.3, ...: fresh ones for every session, so no run meets an earlier one's TIME_WAIT. */
let nextSource = 2;
function takeSources(n: number): string[] {
  return Array.from({ length: n }, () => {
    const i = (nextSource++ - 2) % (253 * 256);
    return `127.0.${Math.floor(i / 253)}.${2 + (i % 253)}`;
  });
}

/** One client process: every report carries its counts. */
class ClientProc extends IpcChild<ClientCommand, ClientReport> {
  progress: Counts = { opened: 0, refused: 0, failed: 0, held: 0, closedByServer: 0 };

  constructor(readonly index: number) {
    super(CLIENT_SCRIPT, `connection client ${index}`);
  }

  protected onReport(m: ClientReport): boolean {
    if (m.t !== "ready")
      this.progress = {
        opened: m.opened,
        refused: m.refused,
        failed: m.failed,
        held: m.held,
        closedByServer: m.closedByServer,
      };
    return false;
  }
}

async function startClients(): Promise<ClientProc[]> {
  const clients = Array.from({ length: CLIENTS }, (_, i) => new ClientProc(i));
  try {
    await Promise.all(clients.map((c) => c.request(null, "ready", 60_000)));
    return clients;
  } catch (err) {
    await Promise.all(clients.map((c) => c.stop()));
    throw err;
  }
}

/** Opens connections to `t` until it refuses or its limit (or the cap) is reached, measures, checks, closes. */
async function session(t: Target, run: number): Promise<SessionResult> {
  const tag = `${t.label} run ${run}`;
  const before = await waitForConnections(t, 0, DRAIN_DEADLINE_MS);
  const target = Math.min(before.maxConnections, CAP);
  const atLimit = target >= before.maxConnections;
  const ring = parseKeyRing(platform?.secrets.tokenKeys ?? "", platform?.secrets.tokenActiveKid ?? "");
  const tokens = userIds.map((id) => issueToken(ring, id, 3600).token);
  const clients = await startClients();
  try {
    const shares = clients.map((c) => Math.floor(target / CLIENTS) + (c.index < target % CLIENTS ? 1 : 0));
    for (const [i, c] of clients.entries()) {
      if (c.fdLimit !== null && (shares[i] ?? 0) + EXTRA_ATTEMPTS + 100 > c.fdLimit)
        throw new Error(`client share ${shares[i]} exceeds its descriptor limit ${c.fdLimit}`);
    }
    const rssBefore = rssKb(t.pid);
    say(
      `${tag}: opening ${target} connections to ${t.host}:${t.port} (limit` +
        ` ${before.maxConnections}${atLimit ? "" : `, capped by BENCH_CONNECTIONS_MAX=${CAP}`}); VmRSS` +
        ` ${rssBefore} KB`,
    );
    const started = Date.now();
    const opening = clients.map((c, i) => {
      const share = shares[i] ?? 0;
      const cmd: OpenCommand = {
        t: "open",
        host: t.host,
        port: t.port,
        tokens,
        sources: takeSources(Math.max(1, Math.ceil((share + EXTRA_ATTEMPTS) / PER_SOURCE))),
        perSource: PER_SOURCE,
        count: share,
        concurrency: CONCURRENCY,
        stopOnRefuse: true,
        timeoutMs: HANDSHAKE_TIMEOUT_MS,
        maxFailures: MAX_FAILURES,
      };
      return c.request(cmd, "opened", OPEN_DEADLINE_MS);
    });
    const ticker = setInterval(() => {
      const sum = (k: keyof Counts) => clients.reduce((n, c) => n + c.progress[k], 0);
      say(
        `${tag}: opened ${sum("opened")}/${target}, refused ${sum("refused")}, failed ${sum("failed")}, ${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
    }, 2000);
    let opened: Array<Reply<ClientReport, "opened">>;
    try {
      opened = await Promise.all(opening);
    } finally {
      clearInterval(ticker);
    }
    const total = (k: keyof Counts) => opened.reduce((n, r) => n + r[k], 0);
    const openSeconds = (Date.now() - started) / 1000;
    const errors = opened.flatMap((r) => r.errors);
    say(
      `${tag}: opened ${total("opened")}/${target} in ${openSeconds.toFixed(1)} s, refused` +
        ` ${total("refused")}, failed ${total("failed")}${errors.length ? ` (${errors.join(", ")})` : ""}`,
    );
    if (total("failed") > 0 && total("opened") < target && total("refused") === 0) {
      throw new Error(
        `${tag}: ${total("failed")} connection attempts failed before the target or a refusal: ${errors.join(", ")}`,
      );
    }

    await sleep(SETTLE_MS);
    const held = (await status(t)).connections;
    const rssAfter = rssKb(t.pid);
    const clientHeld = clients.reduce((n, c) => n + c.progress.held, 0);
    const kbPerConnection = held > 0 ? (rssAfter - rssBefore) / held : NaN;
    say(
      `${tag}: ${t.label} holds ${held} (clients hold ${clientHeld}); VmRSS ${rssBefore} -> ${rssAfter} KB: ${kbPerConnection.toFixed(2)} KB per connection`,
    );
    if (held === 0) throw new Error(`${tag}: the server holds no connections`);

    // At the limit, the next attempts must be refused (503) while the process stays up and ready.
    let refused = total("refused");
    if (atLimit) {
      const extra = await clients[0]?.request(
        {
          t: "open",
          host: t.host,
          port: t.port,
          tokens,
          sources: takeSources(1),
          perSource: PER_SOURCE,
          count: EXTRA_ATTEMPTS,
          concurrency: 1,
          stopOnRefuse: false,
          timeoutMs: HANDSHAKE_TIMEOUT_MS,
          maxFailures: EXTRA_ATTEMPTS,
        },
        "opened",
        60_000,
      );
      refused += extra?.refused ?? 0;
      say(
        `${tag}: ${EXTRA_ATTEMPTS} attempts beyond the limit: ${extra?.refused ?? 0} refused (503), ${extra?.opened ?? 0} opened, ${extra?.failed ?? 0} failed`,
      );
      if (refused < 1)
        throw new Error(
          `${tag}: no attempt was refused with 503 at the limit (${held} held, limit ${before.maxConnections})`,
        );
    } else {
      say(`${tag}: capped below the limit (${target} of ${before.maxConnections}): refusal at the limit not exercised`);
    }
    if (!alive(t.pid)) throw new Error(`${tag}: ${t.label} (pid ${t.pid}) is gone`);
    const ready = await fetch(`http://${t.host}:${t.port}/readyz`, { signal: AbortSignal.timeout(10_000) });
    if (ready.status !== 200)
      throw new Error(`${tag}: GET /readyz answered ${ready.status} with ${held} connections held`);
    say(
      `${tag}: pid ${t.pid} alive, /readyz 200; refused ${refused}; server-side closes seen by clients` +
        ` ${clients.reduce((n, c) => n + c.progress.closedByServer, 0)}`,
    );

    await Promise.all(clients.map((c) => c.request({ t: "close" }, "closed", 30_000)));
    const drainStart = Date.now();
    await waitForConnections(t, 0, DRAIN_DEADLINE_MS);
    say(`${tag}: closed; ${t.label} reports 0 after ${((Date.now() - drainStart) / 1000).toFixed(1)} s`);
    return { held, kbPerConnection, refused };
  } finally {
    await Promise.all(clients.map((c) => c.stop()));
  }
}

async function startBaselineServer(p: TestPlatform): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(BASELINE_SCRIPT, [], {
    cwd: REPO_ROOT,
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    env: {
      ...process.env,
      HOST: p.spec.local.bindAddress,
      TOKEN_KEYS: p.secrets.tokenKeys,
      TOKEN_ACTIVE_KID: p.secrets.tokenActiveKid,
      INTERNAL_TOKEN: p.secrets.internalToken,
      MAX_CONNECTIONS: Number.isFinite(CAP) ? String(CAP) : "0",
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the baseline ws server did not listen within 60 s")), 60_000);
    child.once("message", (m: { t: string; port: number }) => {
      clearTimeout(timer);
      resolve(m.port);
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the baseline ws server exited (${code})`));
    });
  });
  return { child, port };
}

function gatewayTarget(p: TestPlatform): Target {
  return {
    label: "gateway-1",
    host: p.spec.local.bindAddress,
    port: p.spec.local.ports.gateway,
    pid: p.pid("gateway-1"),
    internalToken: p.secrets.internalToken,
  };
}

function baselineTarget(p: TestPlatform): Target {
  if (!baselineServer?.child.pid) throw new Error("the baseline ws server is not running");
  return {
    label: "ws baseline",
    host: p.spec.local.bindAddress,
    port: baselineServer.port,
    pid: baselineServer.child.pid,
    internalToken: p.secrets.internalToken,
  };
}

const bench: Benchmark = {
  name: "connections",
  unit: "connections",
  better: "higher",
  description:
    "Idle authenticated WebSocket connections one gateway process holds (straight to gateway-1, tokens" +
    " of 200 users, clients in 3 processes over source addresses 127.0.0.x, answering pings), as the" +
    " gateway reports them; memory per connection (VmRSS after a 5 s settle minus before, in a freshly" +
    " started process each run) is the extra RESULT line connection-kb. Target: the gateway's own limit" +
    " (open-file limit minus 150: 19,850 with the 20,000-descriptor limit here), the next attempt refused" +
    " with 503 and /readyz still 200. Baseline: a bare `ws` WebSocketServer in a child process that" +
    " verifies the token and keeps the connection, under the same limit rule.",
  async setup() {
    say(`bringing up a platform (offset ${OFFSET})${Number.isFinite(CAP) ? `; BENCH_CONNECTIONS_MAX=${CAP}` : ""}`);
    platform = await startPlatform(OFFSET);
    try {
      for (let made = 0; made < USERS; made += 25) {
        const batch = await makeUsers(platform.api, Math.min(25, USERS - made), "conn");
        userIds.push(...batch.map((u) => u.userId));
      }
      say(`${userIds.length} users registered; starting the baseline ws server`);
      baselineServer = await startBaselineServer(platform);
    } catch (err) {
      await platform.down();
      platform = undefined;
      throw err;
    }
  },
  async teardown() {
    if (baselineServer) await stopChild(baselineServer.child);
    baselineServer = undefined;
    if (platform) {
      await platform.down(); // also deletes its state directory (about 120 MB)
    }
    platform = undefined;
    userIds = [];
  },
  async measure(run) {
    if (!platform) throw new Error("no platform");
    // A fresh process each run: garbage left by an earlier run would be collected during this one's measurement
    // and make the memory per connection meaningless (even negative).
    const old = platform.pid("gateway-1");
    process.kill(old, "SIGTERM");
    for (let i = 0; i < 300 && pidAlive(old); i++) await sleep(100);
    const up = await platform.run("local", "up");
    if (up.exitCode !== 0) throw new Error(`imctl local up could not restart gateway-1: ${up.stderr.slice(-300)}`);
    const r = await session(gatewayTarget(platform), run);
    kbGateway.push(r.kbPerConnection);
    return r.held;
  },
  async baseline(run) {
    if (!platform) throw new Error("no platform");
    if (baselineServer) await stopChild(baselineServer.child); // a fresh process each run, as for the gateway
    baselineServer = await startBaselineServer(platform);
    const r = await session(baselineTarget(platform), run);
    kbBaseline.push(r.kbPerConnection);
    return r.held;
  },
  extra() {
    return [
      {
        name: "connection-kb",
        value: median(kbGateway),
        unit: "KB",
        baseline: kbBaseline.length ? median(kbBaseline) : null,
      },
    ];
  },
};

export default bench;
