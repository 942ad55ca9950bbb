import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { Redis } from "ioredis";
import { redisNodeCount } from "../../../../../infra/lib/spec.ts";
import { waitFor } from "../../../lib/wait.ts";
import { logFile, type LocalComponent, type LocalContext } from "../context.ts";

export const REDIS_SLOTS = 16384;

const NEVER_RECOVERS =
  "; a cluster formed with other ports (e.g. before a change of local.ports.redisBus) never recovers: " +
  'run "imctl local reset --yes"';

function nodePorts(ctx: Pick<LocalContext, "spec">): number[] {
  return Array.from({ length: redisNodeCount(ctx.spec) }, (_, i) => ctx.spec.local.ports.redis + i);
}

export function redisComponents(ctx: LocalContext): LocalComponent[] {
  return nodePorts(ctx).map((port, i) => ({
    id: `redis-${i + 1}`,
    group: "redis",
    tools: ["redis-server", "redis-cli"],
    ports: [
      { port, field: "local.ports.redis" },
      { port: ctx.spec.local.ports.redisBus + i, field: "local.ports.redisBus" },
    ],
    endpoint: `${ctx.host}:${port}`,
    startTimeoutMs: 20_000,
    stop: { signal: "SIGTERM", graceMs: 10_000 },
    async prepare(c) {
      const dir = join(c.dir, "redis", String(port));
      mkdirSync(dir, { recursive: true });
      const conf = join(dir, "redis.conf");
      writeFileSync(
        conf,
        [
          `port ${port}`,
          `bind ${c.host}`,
          "protected-mode no",
          "daemonize no",
          `dir ${dir}`,
          'logfile ""',
          "cluster-enabled yes",
          `cluster-port ${c.spec.local.ports.redisBus + i}`,
          "cluster-config-file nodes.conf",
          `cluster-node-timeout ${c.spec.local.redis.nodeTimeoutMs}`,
          // AOF every second: presence and caches survive a restart; sequence numbers never rely on Redis alone.
          "appendonly yes",
          "appendfsync everysec",
          'save ""',
          "repl-diskless-sync yes",
          "repl-diskless-sync-delay 0",
          // The config path in the process title lets imctl recognise its own nodes after a restart.
          'proc-title-template "{title} {listen-addr} {server-mode} {config-file}"',
          "",
        ].join("\n"),
      );
      return { bin: c.tool("redis-server"), args: [conf], cwd: dir, logFile: logFile(c, `redis-${i + 1}`) };
    },
    async probe(c) {
      return withNode(c.host, port, async (r) => {
        const role = (await r.call("ROLE")) as unknown[];
        if (role[0] === "master") return "primary";
        return `replica of :${String(role[2])} (${String(role[3])})`;
      });
    },
  }));
}

async function withNode<T>(host: string, port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
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
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\r\n")) {
    const i = line.indexOf(":");
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

export interface RedisClusterHealth {
  ok: boolean;
  state: string;
  primaries: number;
  replicas: number;
  /** Replicas whose link to their primary is up (finished the first sync). */
  replicasInSync: number;
  /** Primaries with at least `replicasPerPrimary` replicas. */
  coveredPrimaries: number;
  detail: string;
}

/** The cluster as seen from every node: state ok everywhere, expected topology, every replica in sync. */
export async function redisClusterHealth(ctx: Pick<LocalContext, "spec" | "host">): Promise<RedisClusterHealth> {
  const ports = nodePorts(ctx);
  const states: string[] = [];
  let primaries = 0;
  let replicas = 0;
  let inSync = 0;
  const replicasOf = new Map<string, number>();
  for (const port of ports) {
    await withNode(ctx.host, port, async (r) => {
      const info = parseInfo(String(await r.call("CLUSTER", "INFO")));
      states.push(info.cluster_state ?? "unknown");
      const myself = String(await r.call("CLUSTER", "MYID"));
      const repl = parseInfo(String(await r.call("INFO", "replication")));
      if (repl.role === "master") {
        primaries++;
        replicasOf.set(myself, replicasOf.get(myself) ?? 0);
      } else {
        replicas++;
        if (repl.master_link_status === "up") inSync++;
        const nodes = String(await r.call("CLUSTER", "NODES"));
        const me = nodes.split("\n").find((l) => l.includes("myself"));
        const primaryId = me?.split(" ")[3];
        if (primaryId && primaryId !== "-") replicasOf.set(primaryId, (replicasOf.get(primaryId) ?? 0) + 1);
      }
    });
  }
  const want = ctx.spec.data.redis;
  const covered = [...replicasOf.values()].filter((n) => n >= want.replicasPerPrimary).length;
  const allOk = states.every((s) => s === "ok");
  const ok =
    allOk &&
    primaries === want.primaries &&
    covered === want.primaries &&
    inSync === replicas &&
    replicas === want.primaries * want.replicasPerPrimary;
  const detail = `cluster_state ${allOk ? "ok" : states.join(",")}, ${primaries} primaries, ${replicas} replicas (${inSync} in sync)`;
  return {
    ok,
    state: allOk ? "ok" : "fail",
    primaries,
    replicas,
    replicasInSync: inSync,
    coveredPrimaries: covered,
    detail,
  };
}

/**
 * Forms the cluster on first start (3 primaries, one replica each by default) and waits until every node says
 * cluster_state:ok and every replica has finished its first sync: a replica that has not never takes over.
 */
export async function ensureRedisCluster(ctx: LocalContext, note: (msg: string) => void): Promise<RedisClusterHealth> {
  const ports = nodePorts(ctx);
  const known = await withNode(ctx.host, ports[0] ?? 0, async (r) =>
    parseInfo(String(await r.call("CLUSTER", "INFO"))),
  );
  const slotsAssigned = Number(known.cluster_slots_assigned ?? 0);
  if (slotsAssigned === 0 && Number(known.cluster_known_nodes ?? 1) === 1) {
    note(
      `creating the Redis Cluster: ${ctx.spec.data.redis.primaries} primaries, ${ctx.spec.data.redis.replicasPerPrimary} replica(s) each`,
    );
    await execa(ctx.tool("redis-cli"), [
      "--cluster",
      "create",
      ...ports.map((p) => `${ctx.host}:${p}`),
      "--cluster-replicas",
      String(ctx.spec.data.redis.replicasPerPrimary),
      "--cluster-yes",
    ]);
  } else if (slotsAssigned !== REDIS_SLOTS) {
    throw new Error(
      `the Redis Cluster is partly formed (${slotsAssigned} of ${REDIS_SLOTS} slots assigned): run "imctl local reset --yes" to start it afresh`,
    );
  }
  let last: RedisClusterHealth | undefined;
  return waitFor(
    "the Redis Cluster (cluster_state:ok on every node, every replica in sync)",
    async () => {
      last = await redisClusterHealth(ctx);
      return last.ok ? last : undefined;
    },
    {
      timeoutMs: 60_000,
      intervalMs: 300,
      lastError: () =>
        last === undefined ? undefined : `${last.detail}${last.state === "fail" ? NEVER_RECOVERS : ""}`,
    },
  );
}
