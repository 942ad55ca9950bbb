/**
 * Faults on the local target, for `imctl drill`: kill a process (SIGKILL, or SIGTERM for a graceful broker stop),
 * restart the database, or cut one component off the network with nftables rules on its loopback ports. Every
 * fault returns a handle whose `restore()` undoes it and is safe to call twice (from the drill's restore step and
 * from a Ctrl-C handler).
 *
 * Partitions live in an nftables table of their own (`inet imctl_drill_<id>`): removing the table removes exactly
 * the drill's rules and never touches anyone else's.
 */
import { Admin } from "@platformatic/kafka";
import { Redis } from "ioredis";
import { UserError } from "../../errors.ts";
import { isOurs, stopGroup } from "../../lib/process.ts";
import { sleep } from "../../../../base/sleep.ts";
import { requireFaultOn, seededPick, type FaultHandle, type FaultPlan, type FaultSpec } from "../faults.ts";
import type { LocalComponent, LocalContext } from "./context.ts";
import { kafkaBootstrap, kafkaComponents } from "./components/kafka.ts";
import { mariadbComponent } from "./components/mariadb.ts";
import { redisComponents } from "./components/redis.ts";
import { serviceComponents, serviceInstances } from "./components/services.ts";
import { cutOff, healLeftover } from "./partition.ts";
import { localContext, up, type Progress } from "./platform.ts";

function components(ctx: LocalContext): LocalComponent[] {
  return [...redisComponents(ctx), ...kafkaComponents(ctx), mariadbComponent(ctx), ...serviceComponents(ctx)];
}

function pidOf(ctx: LocalContext, id: string): number {
  const rec = ctx.state.components[id];
  if (rec === undefined || !isOurs(rec.pid, ctx.dir))
    throw new UserError(`--instance: ${id} is not running on this target (imctl local status)`);
  return rec.pid;
}

function requireComponent(
  ctx: LocalContext,
  id: string,
  allowed: (c: LocalComponent) => boolean,
  what: string,
): LocalComponent {
  const all = components(ctx).filter(allowed);
  const c = all.find((x) => x.id === id);
  if (c === undefined)
    throw new UserError(
      `--instance: got ${JSON.stringify(id)}; allowed for ${what}: ${all.map((x) => x.id).join(", ")}`,
    );
  return c;
}

async function redisRole(host: string, port: number): Promise<string> {
  const r = new Redis({
    host,
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 1000,
    enableOfflineQueue: false,
  });
  r.on("error", () => undefined);
  try {
    await r.connect();
    const role = (await r.call("ROLE")) as unknown[];
    return String(role[0]);
  } finally {
    r.disconnect();
  }
}

/** The Kafka broker leading the most partitions of the stored-message topic: killing it moves the most leaders. */
async function busiestBroker(ctx: LocalContext): Promise<number> {
  const admin = new Admin({
    clientId: "imctl-drill",
    bootstrapBrokers: kafkaBootstrap(ctx),
    timeout: 5000,
    retries: 2,
  });
  try {
    const topic = ctx.spec.data.kafka.topics[0]?.name ?? "im.message.stored";
    const md = await admin.metadata({ topics: [topic], forceUpdate: true });
    const leads = new Map<number, number>();
    for (const p of md.topics.get(topic)?.partitions ?? []) leads.set(p.leader, (leads.get(p.leader) ?? 0) + 1);
    return [...leads.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 1;
  } finally {
    await admin.close().catch(() => undefined);
  }
}

/** The gateway holding the most connections (its im_gateway_connections gauge): the probe's clients are on it. */
async function busiestGateway(ctx: LocalContext): Promise<string> {
  let best = { id: "gateway-1", n: -1 };
  for (const g of serviceInstances(ctx).filter((i) => i.service === "gateway")) {
    try {
      const text = await (
        await fetch(`http://${ctx.host}:${g.port}/metrics`, { signal: AbortSignal.timeout(2000) })
      ).text();
      const n = Number(/^im_gateway_connections(?:\{[^}]*\})? (\S+)$/m.exec(text)?.[1] ?? 0);
      if (n > best.n) best = { id: g.id, n };
    } catch {
      // not answering: not a candidate
    }
  }
  return best.id;
}

function replicasOf(ctx: LocalContext, service: string): number {
  return serviceInstances(ctx).filter((i) => i.service === service).length;
}

/** Instances of services that have somewhere to fail over to (2 replicas or more). */
function failoverCandidates(ctx: LocalContext): string[] {
  return serviceInstances(ctx)
    .filter((i) => replicasOf(ctx, i.service) >= 2)
    .map((i) => i.id);
}

/** True for the numbered instances of service `name` (message-1, message-2; not message-canary-1). */
const instanceOf = (name: string) => (c: LocalComponent) =>
  c.group === "services" &&
  c.id.startsWith(`${name}-`) &&
  /-\d+$/.test(c.id) &&
  c.id.slice(0, c.id.lastIndexOf("-")) === name;

async function planRedisPrimary(ctx: LocalContext, spec: FaultSpec): Promise<FaultPlan> {
  let id = spec.instance;
  if (id === undefined) {
    for (const c of redisComponents(ctx)) {
      const port = Number(c.endpoint.split(":").pop());
      if ((await redisRole(ctx.host, port).catch(() => "")) === "master") {
        id = c.id;
        break;
      }
    }
  }
  if (id === undefined)
    throw new UserError("redis-primary: no Redis primary answers on this target (imctl local status)");
  const c = requireComponent(ctx, id, (x) => x.group === "redis", "redis-primary");
  const role = await redisRole(ctx.host, Number(c.endpoint.split(":").pop())).catch(() => "unreachable");
  if (role !== "master")
    throw new UserError(`--instance: ${id} is a Redis ${role}, not a primary; allowed: a primary (imctl local status)`);
  return { fault: spec.fault, component: id, action: "kill", detail: `SIGKILL Redis primary ${id}` };
}

async function planKafkaBroker(ctx: LocalContext, spec: FaultSpec): Promise<FaultPlan> {
  const id = spec.instance ?? `kafka-${await busiestBroker(ctx)}`;
  requireComponent(ctx, id, (x) => x.group === "kafka", "kafka-broker");
  return spec.kafkaMode === "hard"
    ? { fault: spec.fault, component: id, action: "kill", detail: `SIGKILL Kafka broker ${id}` }
    : {
        fault: spec.fault,
        component: id,
        action: "terminate",
        detail: `SIGTERM Kafka broker ${id} (controlled shutdown)`,
      };
}

function planDb(spec: FaultSpec): FaultPlan {
  if (spec.instance !== undefined && spec.instance !== "mariadb")
    throw new UserError(`--instance: got ${JSON.stringify(spec.instance)}; allowed for db: mariadb`);
  return {
    fault: spec.fault,
    component: "mariadb",
    action: "restart",
    detail: "restart the database (SIGTERM, then start again)",
  };
}

/** gateway-instance, message-instance, user-center-instance: one instance of a service with a replica to spare. */
async function planServiceInstance(ctx: LocalContext, spec: FaultSpec): Promise<FaultPlan> {
  const name = spec.fault.replace(/-instance$/, "");
  const field = name === "user-center" ? "userCenter" : name;
  if (replicasOf(ctx, name) < 2)
    throw new UserError(
      `${name} has 1 replica on this stack: killing it is an outage, not a failover; ` +
        `set services.${field}.replicas to 2 or more in the stack file`,
    );
  const id = spec.instance ?? (name === "gateway" ? await busiestGateway(ctx) : `${name}-1`);
  requireComponent(ctx, id, instanceOf(name), spec.fault);
  return { fault: spec.fault, component: id, action: "kill", detail: `SIGKILL ${id}` };
}

function planRandomInstance(ctx: LocalContext, spec: FaultSpec): FaultPlan {
  const pool = failoverCandidates(ctx);
  if (pool.length === 0)
    throw new UserError(
      "random-instance: no service has 2 replicas or more on this stack, so any kill is an outage, not a failover",
    );
  const id = seededPick(pool, spec.seed);
  return {
    fault: spec.fault,
    component: id,
    action: "kill",
    detail: `SIGKILL ${id} (picked with seed ${spec.seed} from ${pool.join(", ")})`,
  };
}

function planPartition(ctx: LocalContext, spec: FaultSpec): FaultPlan {
  const id = spec.instance ?? "message-1";
  const c = requireComponent(
    ctx,
    id,
    (x) => x.group !== "services" || replicasOf(ctx, x.id.slice(0, x.id.lastIndexOf("-"))) >= 2,
    "partition",
  );
  const ports = c.ports.map((p) => p.port);
  return {
    fault: spec.fault,
    component: id,
    action: "partition",
    seconds: spec.partitionSeconds,
    ports,
    detail: `cut ${id} off the network for ${spec.partitionSeconds} s (ports ${ports.join(", ")} and its own connections)`,
  };
}

/**
 * What can be said of a fault from the stack alone, before `--yes` is even looked at: the instance named by
 * `--instance` exists on this stack and fits the fault, and the fault has something to fail over to. Touches nothing;
 * planLocalFault repeats the checks with the live state (which Redis node is a primary now).
 */
export function checkLocalFault(stack: string, spec: FaultSpec): void {
  const ctx = localContext(stack);
  const id = spec.instance;
  switch (spec.fault) {
    case "redis-primary":
      if (id !== undefined) requireComponent(ctx, id, (x) => x.group === "redis", "redis-primary");
      return;
    case "kafka-broker":
      if (id !== undefined) requireComponent(ctx, id, (x) => x.group === "kafka", "kafka-broker");
      return;
    case "db":
      planDb(spec);
      return;
    case "gateway-instance":
    case "message-instance":
    case "user-center-instance": {
      const name = spec.fault.replace(/-instance$/, "");
      const field = name === "user-center" ? "userCenter" : name;
      if (replicasOf(ctx, name) < 2)
        throw new UserError(
          `${name} has 1 replica on this stack: killing it is an outage, not a failover; ` +
            `set services.${field}.replicas to 2 or more in the stack file`,
        );
      if (id !== undefined) requireComponent(ctx, id, instanceOf(name), spec.fault);
      return;
    }
    case "random-instance":
      planRandomInstance(ctx, spec);
      return;
    case "partition":
      planPartition(ctx, spec);
      return;
  }
}

/** What a fault hits on the local target; validated and resolved before anything is touched. */
export async function planLocalFault(stack: string, spec: FaultSpec): Promise<FaultPlan> {
  const ctx = localContext(stack);
  switch (spec.fault) {
    case "redis-primary":
      return planRedisPrimary(ctx, spec);
    case "kafka-broker":
      return planKafkaBroker(ctx, spec);
    case "db":
      return planDb(spec);
    case "gateway-instance":
    case "message-instance":
    case "user-center-instance":
      return planServiceInstance(ctx, spec);
    case "random-instance":
      return planRandomInstance(ctx, spec);
    case "partition":
      return planPartition(ctx, spec);
    default:
      // The cluster's own faults (pod-kill, node-drain, zone-loss); the drill command refuses them before this.
      requireFaultOn("local", spec);
      throw new Error(`unreachable: ${spec.fault} on the local target`);
  }
}

/**
 * Watches the faulted component the way the platform would notice it: its own health probe failing, and for a
 * Redis primary its replica promoting itself. Notes land in `notes` with their time.
 */
function watch(
  ctx: LocalContext,
  plan: FaultPlan,
  notes: FaultHandle["notes"],
  onFailover: (atMs: number) => void,
): () => void {
  let stopped = false;
  const c = components(ctx).find((x) => x.id === plan.component);
  const replicas = c?.group === "redis" ? redisComponents(ctx).filter((x) => x.id !== plan.component) : [];
  const replicaRoles = new Map<string, string>();
  void (async () => {
    for (const r of replicas)
      replicaRoles.set(
        r.id,
        (await withTimeout(redisRole(ctx.host, Number(r.endpoint.split(":").pop())), 1500).catch(() => "?")) ?? "?",
      );
    let down = false;
    while (!stopped) {
      try {
        // A probe into a partition hangs (its packets are dropped): bound it, or the watch would stall with it.
        await withTimeout(c?.probe(ctx), 1500);
        if (down) notes.push({ atMs: Date.now(), what: `${plan.component} answers its health probe again` });
        down = false;
      } catch {
        if (!down) notes.push({ atMs: Date.now(), what: `${plan.component} fails its health probe`, detects: true });
        down = true;
      }
      for (const r of replicas) {
        if (replicaRoles.get(r.id) !== "slave") continue;
        const role = await withTimeout(redisRole(ctx.host, Number(r.endpoint.split(":").pop())), 1500).catch(() => "?");
        if (role === "master") {
          replicaRoles.set(r.id, role);
          notes.push({ atMs: Date.now(), what: `failover: replica ${r.id} promoted to primary`, detects: true });
          onFailover(Date.now());
        }
      }
      await sleep(250);
    }
  })();
  return () => {
    stopped = true;
  };
}

function withTimeout<T>(p: Promise<T> | undefined, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p ?? Promise.resolve(undefined),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Heals a partition left by a drill whose imctl is gone (its rules and its cgroup); nothing left is fine. */
export async function healPartition(stack: string, drillId: string): Promise<void> {
  await healLeftover(localContext(stack), drillId);
}

export async function injectLocalFault(
  stack: string,
  plan: FaultPlan,
  drillId: string,
  progress: Progress,
): Promise<FaultHandle> {
  const ctx = localContext(stack);
  const notes: FaultHandle["notes"] = [];
  // A killed (or cut off) Redis primary is recovered only once a replica has taken over its slots.
  const victim = components(ctx).find((c) => c.id === plan.component);
  const redisPrimary =
    plan.fault === "redis-primary" ||
    (plan.action === "partition" &&
      victim?.group === "redis" &&
      (await redisRole(ctx.host, Number(victim.endpoint.split(":").pop())).catch(() => "")) === "master");
  let failoverAt: number | null = null;
  const stopWatch = watch(ctx, plan, notes, (t) => (failoverAt ??= t));
  let restored = false;
  const repairAll = async () => {
    await up({ stackFile: stack, progress });
  };
  let healTimer: NodeJS.Timeout | undefined;
  let healing: Promise<void> | undefined;
  let heal: () => Promise<void> = async () => undefined;
  switch (plan.action) {
    case "kill": {
      const pid = pidOf(ctx, plan.component);
      // The whole process group: no orphan (a JVM's or node's helpers) may keep a port.
      process.kill(-pid, "SIGKILL");
      break;
    }
    case "terminate":
      void stopGroup(pidOf(ctx, plan.component), "SIGTERM", 30_000);
      break;
    case "restart": {
      const pid = pidOf(ctx, plan.component);
      await stopGroup(pid, "SIGTERM", 30_000);
      notes.push({ atMs: Date.now(), what: `${plan.component} stopped; starting it again` });
      await repairAll();
      notes.push({ atMs: Date.now(), what: `${plan.component} started and healthy` });
      break;
    }
    case "partition": {
      const cut = await cutOff(ctx, drillId, pidOf(ctx, plan.component), plan.ports ?? []);
      heal = cut.heal;
      notes.push({
        atMs: Date.now(),
        what: cut.twoWay
          ? `${plan.component} cut off both ways`
          : `${plan.component}: only connections to it are cut (no cgroup v2 here to cut its own)`,
      });
      healTimer = setTimeout(
        () => {
          healing = heal()
            .then(() => void notes.push({ atMs: Date.now(), what: `partition of ${plan.component} healed` }))
            .catch(
              (err: unknown) =>
                void notes.push({ atMs: Date.now(), what: `could not heal the partition: ${String(err)}` }),
            );
        },
        (plan.seconds ?? 0) * 1000,
      );
      break;
    }
  }
  return {
    plan,
    notes,
    platformRecoveredAt: () => (redisPrimary ? failoverAt : undefined),
    async restore() {
      if (restored) return;
      restored = true;
      stopWatch();
      if (healTimer !== undefined) clearTimeout(healTimer);
      // A heal already under way (the timer fired) finishes first; healing twice is harmless.
      await healing;
      await heal();
      // Restart whatever the fault stopped (up reuses every healthy component) and wait for replicas to sync.
      await repairAll();
    },
  };
}
