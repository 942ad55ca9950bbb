/**
 * The local target: the whole platform as real processes on this machine, like `tiup playground` for TiDB.
 * `up` validates everything (spec, tools, ports) before it changes anything, then starts components in
 * dependency stages, in parallel within a stage, reusing healthy ones and restarting dead ones.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { loadSpec, requireLocal, SpecError } from "../../../../infra/lib/spec.ts";
import { toolPath } from "../../../../base/tools.mjs";
import { MESSAGES, UserError } from "../../errors.ts";
import { withLock } from "../../lib/lock.ts";
import { REPO_ROOT } from "../../../../base/root.mjs";
import { stateDir } from "../../lib/paths.ts";
import { checkStateDirForUp, readJson, resolveStateStack, stateFile } from "./state-dir.ts";
import { portFree } from "../../../../base/ports.ts";
import { isOurs, pidAlive, startDetached, stopGroup, groupMembers } from "../../lib/process.ts";
import { sleep } from "../../../../base/sleep.ts";
import {
  logFile,
  type ComponentGroup,
  type LocalComponent,
  type LocalContext,
  type LocalState,
  type Secrets,
} from "./context.ts";
import { exporterComponents } from "./components/exporters.ts";
import { ensureKafkaTopics, kafkaBootstrap, kafkaComponents, kafkaHealth } from "./components/kafka.ts";
import { appConnection, ensureDatabase, mariadbComponent } from "./components/mariadb.ts";
import { nginxComponent } from "./components/nginx.ts";
import { ensurePrometheusTargets, prometheusComponent, prometheusTargets } from "./components/prometheus.ts";
import { ensureRedisCluster, redisClusterHealth, redisComponents } from "./components/redis.ts";
import { registerServices, serviceComponents, serviceInstances } from "./components/services.ts";

import type {
  ComponentState,
  ComponentStatus,
  DownResult,
  Endpoints,
  LogsResult,
  PlatformCheck,
  Progress,
  ResetResult,
  StatusResult,
  UpResult,
} from "../lifecycle.ts";

// The lifecycle's result types, where the local target's callers (and tests) have always found them.
export type {
  ComponentState,
  ComponentStatus,
  DownResult,
  Endpoints,
  LogsResult,
  PlatformCheck,
  Progress,
  ResetResult,
  StatusResult,
  UpResult,
};

/**
 * Stages of `up`, in order. Prometheus starts with the data tier: it has found every target (the services' too, see
 * writeServiceTargets) by the time they are up, so the wait for its first scrapes is at most one interval, not its
 * discovery's start-up too.
 */
const STAGES: ComponentGroup[][] = [
  ["redis", "kafka", "database", "gateway-lb", "prometheus"],
  ["services", "exporter"],
];
// Gateways drain before nginx stops; the services stop before the data tier they write to.
const STOP_ORDER: ComponentGroup[] = ["prometheus", "exporter", "services", "gateway-lb", "kafka", "redis", "database"];

interface Opened {
  ctx: LocalContext;
  stackFile: string;
  components: LocalComponent[];
}

const secretsFile = (dir: string) => join(dir, "secrets.json");
export const lockFile = (dir: string) => join(dir, "lock");

export function saveState(ctx: LocalContext): void {
  mkdirSync(ctx.dir, { recursive: true });
  writeFileSync(stateFile(ctx.dir), JSON.stringify(ctx.state, null, 2));
}

const newSecret = () => randomBytes(18).toString("base64url");

/** Loads spec, state and secrets without writing anything. */
function open(stackFile: string): Opened {
  let spec;
  try {
    spec = requireLocal(loadSpec(stackFile), stackFile);
  } catch (err) {
    if (err instanceof SpecError) throw new UserError(err.message);
    throw err;
  }
  const dir = stateDir();
  const state = readJson<LocalState>(stateFile(dir)) ?? { version: 1, stack: stackFile, components: {} };
  const fresh: Secrets = {
    dbRootPassword: newSecret(),
    dbAppUser: "im",
    dbAppPassword: newSecret(),
    dbExporterPassword: newSecret(),
    internalToken: newSecret(),
    tokenKeys: `k1:${newSecret()}${newSecret()}`,
    tokenActiveKid: "k1",
  };
  // Secrets added by a newer imctl are generated; the ones already in use are kept.
  const secrets: Secrets = { ...fresh, ...readJson<Partial<Secrets>>(secretsFile(dir)) };
  const ctx: LocalContext = { spec, dir, host: spec.local.bindAddress, tool: toolPath, secrets, state };
  const components = [
    ...redisComponents(ctx),
    ...kafkaComponents(ctx),
    mariadbComponent(ctx),
    nginxComponent(ctx),
    ...serviceComponents(ctx),
    ...exporterComponents(ctx),
    prometheusComponent(ctx),
  ];
  return { ctx, stackFile, components };
}

/** The local target's context (spec, state, secrets) for code that drives it directly, such as workflows. */
export function localContext(stackFile: string): LocalContext {
  return open(stateStack(stackFile)).ctx;
}

/** Component ids of a stack, for `logs` and for messages. */
export function componentIds(stackFile: string): string[] {
  return open(stackFile).components.map((c) => c.id);
}

function running(ctx: LocalContext, id: string): number | null {
  const rec = ctx.state.components[id];
  return rec !== undefined && isOurs(rec.pid, ctx.dir) ? rec.pid : null;
}

function tail(file: string, lines: number): string[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8").split("\n").filter(Boolean).slice(-lines);
}

/**
 * The last error its log shows near its end (a Node crash's "Error: ...", a pino line at level error or fatal, a
 * log4j ERROR line), for saying why a component that should run does not. Null when the end of the log is quiet.
 */
export function lastLoggedError(lines: string[]): string | null {
  const isError = (l: string) =>
    /^\s*(Uncaught )?[A-Za-z]*(Error|Exception)\b.*:/.test(l) ||
    /"level":(50|60)\b/.test(l) ||
    /\] (ERROR|FATAL) /.test(l);
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i] ?? "";
    if (isError(l)) return l.trim().slice(0, 300);
  }
  return null;
}

/** Waits until the component's probe passes; fails at once if its process has died. */
async function waitHealthy(ctx: LocalContext, c: LocalComponent, pid: number): Promise<string> {
  const deadline = Date.now() + c.startTimeoutMs;
  let last = "";
  for (;;) {
    try {
      return await c.probe(ctx);
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (!pidAlive(pid)) {
      const why = tail(logFile(ctx, c.id), 3).join(" | ");
      throw new Error(
        `${c.id} exited during start-up${why ? `: ${why}` : ""} (log: ${relative(REPO_ROOT, logFile(ctx, c.id))})`,
      );
    }
    if (Date.now() > deadline)
      throw new Error(
        `${c.id} not healthy after ${c.startTimeoutMs / 1000} s: ${last} (log: ${relative(REPO_ROOT, logFile(ctx, c.id))})`,
      );
    await sleep(200);
  }
}

export interface UpOptions {
  stackFile: string;
  progress: Progress;
}

export async function up(opts: UpOptions): Promise<UpResult> {
  const t0 = Date.now();
  checkStateDirForUp();
  const { ctx, components } = open(opts.stackFile);
  const say = (msg: string) => opts.progress(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${msg}`);

  // 1. Validate before changing anything: tools, then the ports of everything that must start.
  for (const tool of new Set(components.flatMap((c) => c.tools))) {
    const path = toolPath(tool);
    if (!existsSync(path)) throw new UserError(MESSAGES.missingTool(tool, path));
  }
  const toStart = components.filter((c) => running(ctx, c.id) === null);
  for (const c of toStart) {
    for (const claim of c.ports) {
      if (!(await portFree(ctx.host, claim.port)))
        throw new UserError(MESSAGES.portInUse(claim.port, c.id, claim.field));
    }
  }

  return withLock(lockFile(ctx.dir), "imctl local up", async () => {
    ctx.state.stack = opts.stackFile;
    mkdirSync(ctx.dir, { recursive: true });
    writeFileSync(secretsFile(ctx.dir), JSON.stringify(ctx.secrets, null, 2), { mode: 0o600 });
    saveState(ctx);
    const started: string[] = [];
    const reused: string[] = [];

    const bring = async (c: LocalComponent): Promise<void> => {
      let pid = running(ctx, c.id);
      if (pid !== null) {
        reused.push(c.id);
      } else {
        const proc = await c.prepare(ctx);
        pid = startDetached(proc, ctx.dir);
        ctx.state.components[c.id] = { pid, startedAt: new Date().toISOString() };
        saveState(ctx);
        started.push(c.id);
        say(`${c.id}: started (pid ${pid})`);
      }
      const detail = await waitHealthy(ctx, c, pid);
      say(`${c.id}: healthy (${detail})`);
    };

    for (const [i, groups] of STAGES.entries()) {
      const stage = components.filter((c) => groups.includes(c.group));
      say(
        `stage ${i + 1}/${STAGES.length}: ${groups.join(", ")} (${stage.length} component${stage.length === 1 ? "" : "s"})`,
      );
      await Promise.all(stage.map(bring));
      if (groups.includes("services")) {
        const reg = await registerServices(ctx);
        say(
          `gateway tier: ${reg.gateways} gateway(s) behind nginx; ${reg.targets} service targets registered with Prometheus`,
        );
      }
      if (i === 0) {
        // Data-tier set-up needs the processes of stage 1 and is needed by the exporters of stage 2.
        const [redis, kafka, db] = await Promise.all([
          ensureRedisCluster(ctx, say),
          ensureKafkaTopics(ctx, say),
          ensureDatabase(ctx, say),
        ]);
        say(`redis cluster: ${redis.detail}`);
        say(`kafka: ${kafka.detail}`);
        say(`database: schema at ${db.current ?? "no migrations"}`);
      }
    }
    const targets = await ensurePrometheusTargets(ctx, serviceInstances(ctx).length);
    say(`prometheus: all ${targets.length} scrape targets up`);
    const s = await statusOf(ctx, components);
    return { ...s, started, reused, elapsedSeconds: (Date.now() - t0) / 1000 };
  });
}

function endpoints(ctx: LocalContext): Endpoints {
  const p = ctx.spec.local.ports;
  return {
    gatewayLb: `http://${ctx.host}:${p.gatewayLb}`,
    redisNodes: redisComponents(ctx).map((c) => c.endpoint),
    kafkaBootstrap: kafkaBootstrap(ctx),
    database: `mysql://${ctx.secrets.dbAppUser}@${ctx.host}:${p.database}/${ctx.spec.data.database.name} (password in ${relative(REPO_ROOT, secretsFile(ctx.dir))})`,
    prometheus: `http://${ctx.host}:${p.prometheus}`,
    logs: join(ctx.dir, "logs"),
  };
}

async function check(name: string, fn: () => Promise<{ ok: boolean; detail: string }>): Promise<PlatformCheck> {
  try {
    const r = await fn();
    return { name, ok: r.ok, detail: r.detail };
  } catch (err) {
    return { name, ok: false, detail: err instanceof Error ? err.message : String(err) };
  }
}

async function statusOf(ctx: LocalContext, components: LocalComponent[]): Promise<StatusResult> {
  const rows = await Promise.all(
    components.map(async (c): Promise<ComponentStatus> => {
      const pid = running(ctx, c.id);
      const base = { id: c.id, group: c.group, pid, endpoint: c.endpoint };
      if (pid === null) {
        // A component that died says why, when the end of its log does: the operator need not go looking.
        const why = ctx.state.components[c.id] ? lastLoggedError(tail(logFile(ctx, c.id), 40)) : null;
        return { ...base, state: "stopped", detail: why ? `not running; its log ends with: ${why}` : "not running" };
      }
      try {
        return { ...base, state: "healthy", detail: await c.probe(ctx) };
      } catch (err) {
        return { ...base, state: "unhealthy", detail: err instanceof Error ? err.message : String(err) };
      }
    }),
  );
  const up = (g: ComponentGroup) => rows.filter((r) => r.group === g).every((r) => r.state !== "stopped");
  const checks: PlatformCheck[] = [];
  if (up("redis")) checks.push(await check("redis-cluster", () => redisClusterHealth(ctx)));
  if (up("kafka")) checks.push(await check("kafka-topics", () => kafkaHealth(ctx)));
  if (up("database")) {
    checks.push(
      await check("database-schema", async () => {
        const conn = await appConnection(ctx);
        try {
          const [r] = await conn.query("SELECT MAX(version) AS v, COUNT(*) AS n FROM schema_migrations");
          const row = (r as Array<{ v: string | null; n: number }>)[0];
          return { ok: (row?.n ?? 0) > 0, detail: `${row?.n ?? 0} migration(s) applied, latest ${row?.v ?? "none"}` };
        } finally {
          await conn.end();
        }
      }),
    );
  }
  if (up("prometheus")) {
    checks.push(
      await check("prometheus-targets", async () => {
        const targets = await prometheusTargets(ctx);
        const down = targets.filter((t) => t.health !== "up");
        return {
          ok: targets.length > 0 && down.length === 0,
          detail:
            `${targets.length - down.length}/${targets.length} scrape targets up` +
            (down.length ? ` (not up: ${down.map((t) => `${t.job}/${t.instance} ${t.health}`).join(", ")})` : ""),
        };
      }),
    );
  }
  const healthy = rows.every((r) => r.state === "healthy") && checks.every((c) => c.ok);
  return { stack: ctx.state.stack, dir: ctx.dir, healthy, components: rows, checks, endpoints: endpoints(ctx) };
}

export async function status(opts: { stackFile: string }): Promise<StatusResult> {
  const { ctx, components } = open(stateStack(opts.stackFile));
  return statusOf(ctx, components);
}

/**
 * The local target's database as a loopback TCP client reaches it, with its admin credential: what an
 * existing-cluster stack whose external data tier is this local target (stacks/embedded-cluster.yaml) signs its
 * migrations in with. Undefined when no local platform was brought up here.
 */
export function localDatabaseAdmin(): { host: string; port: number; user: string; password: string } | undefined {
  const dir = stateDir();
  const st = readJson<LocalState>(stateFile(dir));
  const secrets = readJson<Partial<Secrets>>(secretsFile(dir));
  if (!st?.stack || !existsSync(st.stack) || !secrets?.dbRootPassword) return undefined;
  const spec = loadSpec(st.stack);
  if (spec.target !== "local" || !spec.local) return undefined;
  return {
    host: spec.local.bindAddress,
    port: spec.local.ports.database,
    user: "root",
    password: secrets.dbRootPassword,
  };
}

/** The stack the recorded platform was brought up from (see resolveStateStack); a bad --stack gets its own error. */
function stateStack(given: string): string {
  return resolveStateStack(given, (file) => void open(file));
}

async function stopAll(
  ctx: LocalContext,
  components: LocalComponent[],
  progress: Progress,
): Promise<DownResult["stopped"]> {
  const stopped: DownResult["stopped"] = [];
  const byId = new Map(components.map((c) => [c.id, c]));
  const recorded = Object.entries(ctx.state.components);
  const groupOf = (id: string): ComponentGroup | undefined => byId.get(id)?.group;
  const stopOne = async ([id, rec]: [string, { pid: number }], last: boolean): Promise<void> => {
    if (!isOurs(rec.pid, ctx.dir)) {
      // Gone, or the pid now belongs to someone else: never signal it.
      stopped.push({ id, pid: rec.pid, outcome: pidAlive(rec.pid) ? "not ours" : "not running" });
    } else {
      const stop = byId.get(id)?.stop ?? { signal: "SIGTERM" as const, graceMs: 15_000 };
      const graceMs = last && stop.inTurn ? stop.inTurn.lastGraceMs : stop.graceMs;
      const outcome = await stopGroup(rec.pid, stop.signal, graceMs);
      stopped.push({ id, pid: rec.pid, outcome });
      const why = outcome === "killed" && graceMs < stop.graceMs ? ", the last of its quorum" : "";
      progress(`${id}: ${outcome}${why} (pid ${rec.pid})`);
    }
    delete ctx.state.components[id];
    saveState(ctx);
  };
  for (const g of [...STOP_ORDER, undefined]) {
    const batch = recorded.filter(([id]) => groupOf(id) === g);
    if (batch.some(([id]) => byId.get(id)?.stop.inTurn)) {
      // Quorum members in turn; the last one still running is the one that cannot be approved.
      const live = batch.filter(([, rec]) => isOurs(rec.pid, ctx.dir));
      for (const entry of batch) await stopOne(entry, entry === live[live.length - 1]);
    } else await Promise.all(batch.map((entry) => stopOne(entry, false)));
  }
  return stopped;
}

export async function down(opts: { stackFile: string; progress: Progress }): Promise<DownResult> {
  const t0 = Date.now();
  const { ctx, components } = open(stateStack(opts.stackFile));
  if (!existsSync(stateFile(ctx.dir))) return { dir: ctx.dir, stopped: [], elapsedSeconds: 0 };
  return withLock(lockFile(ctx.dir), "imctl local down", async () => {
    const stopped = await stopAll(ctx, components, opts.progress);
    return { dir: ctx.dir, stopped, elapsedSeconds: (Date.now() - t0) / 1000 };
  });
}

/** Stops everything and deletes every data directory: the next `up` starts from nothing. */
export async function reset(opts: { stackFile: string; yes: boolean; progress: Progress }): Promise<ResetResult> {
  // The stack and the state directory are checked first: a bad one is named as such, not as a missing --yes.
  const { ctx, components } = open(stateStack(opts.stackFile));
  if (!opts.yes) throw new UserError(MESSAGES.confirmReset);
  const t0 = Date.now();
  if (!existsSync(ctx.dir)) return { dir: ctx.dir, stopped: [], removed: [], elapsedSeconds: 0 };
  return withLock(lockFile(ctx.dir), "imctl local reset", async () => {
    const stopped = await stopAll(ctx, components, opts.progress);
    const removed: string[] = [];
    for (const entry of readdirSync(ctx.dir)) {
      if (entry === "lock") continue;
      rmSync(join(ctx.dir, entry), { recursive: true, force: true });
      removed.push(entry);
    }
    // An empty state.json keeps the directory recognisably imctl's (status then says "stopped", not "not ours").
    ctx.state = { version: 1, stack: ctx.state.stack, components: {} };
    saveState(ctx);
    return { dir: ctx.dir, stopped, removed, elapsedSeconds: (Date.now() - t0) / 1000 };
  });
}

export function logs(opts: { stackFile: string; component: string; lines: number }): LogsResult {
  const { ctx, components } = open(stateStack(opts.stackFile));
  const ids = components.map((c) => c.id);
  if (!ids.includes(opts.component)) throw new UserError(MESSAGES.unknownComponent(opts.component, ids));
  const file = logFile(ctx, opts.component);
  return { component: opts.component, file, lines: tail(file, opts.lines) };
}

/** Every live process of the local target (leaders and their groups), for tests and leak checks. */
export function livePids(dir: string = stateDir()): number[] {
  const st = readJson<LocalState>(stateFile(dir));
  if (!st) return [];
  return Object.values(st.components).flatMap((r) => (isOurs(r.pid, dir) ? [r.pid, ...groupMembers(r.pid)] : []));
}
