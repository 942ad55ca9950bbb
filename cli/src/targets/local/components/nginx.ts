import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { InternalError, UserError } from "../../../errors.ts";
import { isOurs } from "../../../lib/process.ts";
import { logFile, type LocalComponent, type LocalContext } from "../context.ts";
import { EMPTY_POOL, renderNginxConf, serverWeights, type GatewayPool } from "../nginx-config.ts";

export const nginxPaths = (ctx: Pick<LocalContext, "dir">) => {
  const prefix = join(ctx.dir, "nginx");
  return {
    prefix,
    conf: join(prefix, "nginx.conf"),
    pool: join(prefix, "pool.json"),
    apiPool: join(prefix, "api-pool.json"),
  };
};

function settings(ctx: LocalContext) {
  const n = ctx.spec.local.nginx;
  return {
    prefix: nginxPaths(ctx).prefix,
    host: ctx.host,
    listenPort: ctx.spec.local.ports.gatewayLb,
    statusPort: ctx.spec.local.ports.nginxStatus,
    workerProcesses: n.workerProcesses,
    workerConnections: n.workerConnections,
    workerShutdownTimeoutSeconds: n.workerShutdownTimeoutSeconds,
    runAsRoot: process.getuid?.() === 0,
  };
}

export function readPool(ctx: Pick<LocalContext, "dir">): GatewayPool {
  const file = nginxPaths(ctx).pool;
  if (!existsSync(file)) return EMPTY_POOL;
  return JSON.parse(readFileSync(file, "utf8")) as GatewayPool;
}

/** The user-center instances of the stack: nginx serves the account API (/v1/) from them. */
function apiBackends(ctx: LocalContext) {
  return Array.from({ length: ctx.spec.services.userCenter.replicas }, (_, i) => ({
    id: `user-center-${i + 1}`,
    address: `${ctx.host}:${ctx.spec.local.ports.userCenter + i}`,
  }));
}

/**
 * The account API's upstream: the stack's user-center instances, plus a canary while a user-center rollout
 * runs (`api-pool.json`, written by setApiPool). Without a canary the stack decides, so a changed replica count
 * is picked up.
 */
export function readApiPool(ctx: LocalContext): GatewayPool {
  const file = nginxPaths(ctx).apiPool;
  const saved = existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as GatewayPool) : undefined;
  return saved && saved.canary.length > 0 ? saved : { stable: apiBackends(ctx), canary: [], canaryWeight: 0 };
}

function writeConf(ctx: LocalContext, pool: GatewayPool, api: GatewayPool = readApiPool(ctx)): void {
  const p = nginxPaths(ctx);
  for (const d of ["tmp/client_body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi", "logs"])
    mkdirSync(join(p.prefix, d), { recursive: true });
  writeFileSync(p.conf, renderNginxConf(settings(ctx), pool, api));
}

async function testConf(ctx: LocalContext): Promise<void> {
  const p = nginxPaths(ctx);
  const res = await execa(ctx.tool("nginx"), ["-t", "-q", "-p", `${p.prefix}/`, "-c", p.conf], { reject: false });
  if (res.exitCode !== 0)
    throw new InternalError(`nginx rejected the rendered configuration: ${res.stderr.trim().split("\n")[0] ?? ""}`);
}

export function nginxComponent(ctx: LocalContext): LocalComponent {
  const lb = ctx.spec.local.ports.gatewayLb;
  return {
    id: "nginx",
    group: "gateway-lb",
    tools: ["nginx"],
    ports: [
      { port: lb, field: "local.ports.gatewayLb" },
      { port: ctx.spec.local.ports.nginxStatus, field: "local.ports.nginxStatus" },
    ],
    endpoint: `http://${ctx.host}:${lb}`,
    startTimeoutMs: 15_000,
    // SIGQUIT is nginx's graceful shutdown: workers finish their requests first.
    stop: { signal: "SIGQUIT", graceMs: 10_000 },
    async prepare(c) {
      writeConf(c, readPool(c));
      await testConf(c);
      const p = nginxPaths(c);
      return {
        bin: c.tool("nginx"),
        args: ["-p", `${p.prefix}/`, "-c", p.conf],
        cwd: p.prefix,
        logFile: logFile(c, "nginx"),
      };
    },
    async probe(c) {
      const res = await fetch(`http://${c.host}:${lb}/lb/healthz`, { signal: AbortSignal.timeout(2000) });
      if (res.status !== 200) throw new Error(`/lb/healthz answered ${res.status}`);
      const pool = readPool(c);
      return `${pool.stable.length} stable + ${pool.canary.length} canary gateway(s), canary weight ${pool.canaryWeight}%`;
    },
  };
}

/**
 * Points the gateway tier at a new pool: renders, checks with `nginx -t`, then SIGHUP. nginx starts new workers
 * with the new upstreams and lets the old ones finish their established connections (up to
 * worker_shutdown_timeout), so no WebSocket is dropped by a weight change.
 */
export async function setGatewayPool(
  ctx: LocalContext,
  pool: GatewayPool,
): Promise<{ changed: boolean; weights: Array<{ id: string; weight: number }> }> {
  return applyPools(ctx, pool, readApiPool(ctx), "gateway");
}

/** Like setGatewayPool, for the account API's upstream (/v1/, user-center): a user-center canary's weight. */
export async function setApiPool(
  ctx: LocalContext,
  api: GatewayPool,
): Promise<{ changed: boolean; weights: Array<{ id: string; weight: number }> }> {
  return applyPools(ctx, readPool(ctx), api, "api");
}

async function applyPools(
  ctx: LocalContext,
  pool: GatewayPool,
  api: GatewayPool,
  which: "gateway" | "api",
): Promise<{ changed: boolean; weights: Array<{ id: string; weight: number }> }> {
  const weights = serverWeights(which === "gateway" ? pool : api).map((x) => ({ id: x.backend.id, weight: x.weight })); // validates first
  const record = ctx.state.components.nginx;
  if (record === undefined || !isOurs(record.pid, ctx.dir)) {
    throw new UserError('nginx of the local target is not running: run "imctl local up" first');
  }
  const p = nginxPaths(ctx);
  const before = existsSync(p.conf) ? readFileSync(p.conf, "utf8") : "";
  writeConf(ctx, pool, api);
  try {
    await testConf(ctx);
  } catch (err) {
    writeFileSync(p.conf, before);
    throw err;
  }
  writeFileSync(which === "gateway" ? p.pool : p.apiPool, JSON.stringify(which === "gateway" ? pool : api, null, 2));
  const changed = readFileSync(p.conf, "utf8") !== before;
  if (changed) process.kill(record.pid, "SIGHUP");
  return { changed, weights };
}
