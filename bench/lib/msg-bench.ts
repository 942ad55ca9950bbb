/**
 * Parent-side pieces shared by the message benchmarks (latency, throughput): the load processes
 * (bench/lib/msg-client.ts) and their IPC, the relay baseline server (bench/lib/ws-baseline-server.ts, MODE=relay),
 * users and tokens, fresh source addresses, waiting for a target to hold no connections. The services'
 * Prometheus histograms are in service-metrics.ts.
 */
import { fork, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { REPO_ROOT } from "../../base/root.mjs";
import { issueToken, parseKeyRing } from "../../services/lib/tokens.ts";
import type { TestPlatform } from "../../test/helpers/platform.ts";
import { IpcChild, stopChild } from "./ipc-child.ts";
import type { LoadCommand, LoadReport, TargetKind } from "./msg-ipc.ts";
import { sleep } from "../../base/sleep.ts";

export { stopChild };

const LOAD_SCRIPT = join(REPO_ROOT, "bench", "lib", "msg-client.ts");
const BASELINE_SCRIPT = join(REPO_ROOT, "bench", "lib", "ws-baseline-server.ts");

export function sayer(name: string): (s: string) => void {
  const t0 = Date.now();
  return (s) => process.stderr.write(`[${name} ${((Date.now() - t0) / 1000).toFixed(0)}s] ${s}\n`);
}

/** A positive integer from the environment, `fallback` when unset; anything else is refused. */
export function intFromEnv(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new Error(
      `${name}: got ${JSON.stringify(raw)}; allowed: an integer from ${min} to ${max} (unset: ${fallback})`,
    );
  return n;
}

/** Registers `n` users in batches of 50 (registration hashes passwords: slow-ish). Returns their ids. */
export async function registerUsers(
  p: TestPlatform,
  n: number,
  prefix: string,
  say: (s: string) => void,
): Promise<string[]> {
  const ids: string[] = [];
  const t0 = Date.now();
  // Registered only, not signed in: the benchmarks sign their own tokens (tokensFor), and each sign-in is a second
  // scrypt hash on the user-center (half the set-up's CPU, minutes of it for 2,000 users on a busy machine).
  const tag = `${prefix}${process.pid.toString(36)}${Date.now().toString(36)}`;
  for (let made = 0; made < n; made += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, n - made) }, (_, k) =>
        p.api.register(`${tag}-${made + k}`, "correct-horse-battery"),
      ),
    );
    ids.push(...batch.map((u) => u.userId));
    if (ids.length % 500 === 0 || ids.length === n)
      say(`${ids.length}/${n} users registered (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  }
  return ids;
}

/** Fresh tokens (one hour) for `ids`, signed with the platform's active key: no session outlives its token. */
export function tokensFor(p: TestPlatform, ids: string[]): Array<{ userId: string; token: string }> {
  const ring = parseKeyRing(p.secrets.tokenKeys, p.secrets.tokenActiveKid);
  return ids.map((userId) => ({ userId, token: issueToken(ring, userId, 3600).token }));
}

/** Fisher-Yates, in place. */
export function shuffle<T>(xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [xs[i], xs[j]] = [xs[j] as T, xs[i] as T];
  }
  return xs;
}

/**
 * Source addresses for client sockets, fresh for every session so no session meets an earlier one's TIME_WAIT.
 * `base` keeps benchmarks apart (the connections benchmark starts at 127.0.0.2).
 */
export function sourceAllocator(base: number): (n: number) => string[] {
  let next = 0;
  return (n) =>
    Array.from({ length: n }, () => {
      const i = (base + next++) % (250 * 250);
      return `127.${1 + Math.floor(i / 250)}.0.${2 + (i % 250)}`;
    });
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN;
}

/** One load process: progress reports update `progress`; a `failed` report fails every pending request. */
export class LoadChild extends IpcChild<LoadCommand, LoadReport> {
  progress = { sent: 0, acked: 0, failed: 0, received: 0 };

  constructor(readonly index: number) {
    super(LOAD_SCRIPT, `load process ${index}`);
  }

  protected onReport(m: LoadReport): boolean {
    if (m.t === "progress") {
      this.progress = { sent: m.sent, acked: m.acked, failed: m.failed, received: m.received };
      return true;
    }
    if (m.t === "failed") {
      this.failAll(new Error(`load process ${this.index}: ${m.error}`));
      return true;
    }
    return false;
  }
}

/** What readyChildren needs of a load process. */
interface ReadyingChild {
  readonly fdLimit: number | null;
  request(msg: null, reply: "ready", timeoutMs: number): Promise<unknown>;
  stop(): Promise<unknown>;
}

/**
 * Waits for each started load process to be ready (60 s at most) and to have room for `perChild` connections under
 * its descriptor limit; on any failure stops them all and throws.
 */
export async function readyChildren<C extends ReadyingChild>(children: C[], perChild: number): Promise<C[]> {
  try {
    await Promise.all(children.map((c) => c.request(null, "ready", 60_000)));
    for (const c of children) {
      if (c.fdLimit !== null && perChild + 100 > c.fdLimit)
        throw new Error(`${perChild} connections per load process exceed its descriptor limit ${c.fdLimit}`);
    }
    return children;
  } catch (err) {
    await Promise.all(children.map((c) => c.stop()));
    throw err;
  }
}

/** Starts `n` load processes and waits for each to be ready (60 s at most). */
export async function startLoadChildren(n: number, perChild: number): Promise<LoadChild[]> {
  return readyChildren(
    Array.from({ length: n }, (_, i) => new LoadChild(i)),
    perChild,
  );
}

/** Ends a child: `ask` (default SIGTERM), then SIGKILL after 5 s. */

/** The relay baseline (ws-baseline-server.ts, MODE=relay) in a child process, on an ephemeral port. */
export async function startRelay(p: TestPlatform): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(BASELINE_SCRIPT, [], {
    cwd: REPO_ROOT,
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    env: {
      ...process.env,
      MODE: "relay",
      HOST: p.spec.local.bindAddress,
      INTERNAL_TOKEN: p.secrets.internalToken,
      MAX_CONNECTIONS: "0",
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the relay ws server did not listen within 60 s")), 60_000);
    child.once("message", (m: { t: string; port: number }) => {
      clearTimeout(timer);
      resolve(m.port);
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the relay ws server exited (${code})`));
    });
  });
  return { child, port };
}

/** What a session connects to: the platform (through nginx) or the relay. */
export interface Target {
  label: string;
  kind: TargetKind;
  url: string;
  /** Servers that report their connections at /internal/v1/connections (every gateway, or the relay). */
  servers: string[];
  internalToken: string;
}

export function platformTarget(p: TestPlatform): Target {
  const host = p.spec.local.bindAddress;
  const gateways = Array.from(
    { length: p.spec.services.gateway.replicas },
    (_, i) => `http://${host}:${p.spec.local.ports.gateway + i}`,
  );
  return {
    label: "platform",
    kind: "platform",
    url: p.wsUrl,
    servers: gateways,
    internalToken: p.secrets.internalToken,
  };
}

export function relayTarget(p: TestPlatform, port: number): Target {
  const host = p.spec.local.bindAddress;
  return {
    label: "ws relay",
    kind: "relay",
    url: `ws://${host}:${port}/ws`,
    servers: [`http://${host}:${port}`],
    internalToken: p.secrets.internalToken,
  };
}

/** Waits until every server of `t` holds no connection (an earlier session's closes have landed). */
export async function waitIdle(t: Target, deadlineMs = 90_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const counts = await Promise.all(
      t.servers.map(async (s) => {
        const res = await fetch(`${s}/internal/v1/connections`, {
          headers: { "x-im-internal": t.internalToken },
          signal: AbortSignal.timeout(10_000),
        });
        if (res.status !== 200) throw new Error(`${s}: GET /internal/v1/connections answered ${res.status}`);
        return ((await res.json()) as { connections: number }).connections;
      }),
    );
    const total = counts.reduce((a, b) => a + b, 0);
    if (total === 0) return;
    if (Date.now() >= end) throw new Error(`${t.label}: still ${total} connections after ${deadlineMs / 1000} s`);
    await sleep(250);
  }
}

/** Connects `users` spread over `children` (contiguous shares), each process from its own fresh sources. */
export async function connectShares(
  children: LoadChild[],
  t: Target,
  shares: Array<Array<{ userId: string; token: string }>>,
  sources: (n: number) => string[],
  say: (s: string) => void,
): Promise<void> {
  const perSource = 1000;
  const started = Date.now();
  const replies = await Promise.all(
    children.map((c, i) => {
      const users = shares[i] ?? [];
      return c.request(
        {
          t: "connect",
          kind: t.kind,
          url: t.url,
          users,
          sources: sources(Math.max(1, Math.ceil(users.length / perSource))),
          perSource,
          concurrency: 32,
          timeoutMs: 20_000,
        },
        "connected",
        10 * 60_000,
      );
    }),
  );
  const connected = replies.reduce((n, r) => n + r.connected, 0);
  const failed = replies.reduce((n, r) => n + r.failed, 0);
  const stale = replies.reduce((n, r) => n + r.stale, 0);
  say(
    `${t.label}: ${connected} clients connected in ${((Date.now() - started) / 1000).toFixed(1)}` +
      ` s${stale ? ` (${stale} messages of earlier sessions pulled again and ignored)` : ""}`,
  );
  if (failed > 0)
    throw new Error(`${t.label}: ${failed} clients did not connect: ${replies.flatMap((r) => r.errors).join(", ")}`);
}

/** Every load process's progress, summed, for the log. */
export function progressLine(children: LoadChild[]): string {
  const sum = (k: keyof LoadChild["progress"]) => children.reduce((n, c) => n + c.progress[k], 0);
  return `sent ${sum("sent")}, acked ${sum("acked")}, failed ${sum("failed")}, received ${sum("received")}`;
}
