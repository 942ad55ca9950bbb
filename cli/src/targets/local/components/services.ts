/**
 * The IM services on the local target: gateway, message and user-center instances as Node processes, with the
 * instance counts of the stack's `services`, behind nginx, registered with Prometheus.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../../../../../base/root.mjs";
import { groupsEnv } from "../../../../../infra/lib/spec-groups.ts";
import { logFile, type LocalComponent, type LocalContext } from "../context.ts";
import { kafkaBootstrap } from "./kafka.ts";
import { nginxPaths, readPool, setGatewayPool } from "./nginx.ts";
import type { Backend } from "../nginx-config.ts";
import {
  canaryInstances,
  readMessageUpstream,
  readRelease,
  type CanaryInstance,
  type Release,
} from "../canary-instances.ts";

export type ServiceName = "gateway" | "message" | "user-center";

const SERVICES: Array<{ name: ServiceName; spec: "gateway" | "message" | "userCenter" }> = [
  { name: "user-center", spec: "userCenter" },
  { name: "message", spec: "message" },
  { name: "gateway", spec: "gateway" },
];

/** The version of this checkout: what stable instances run until a rollout promotes another. */
export const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string })
  .version;

export interface ServiceInstance {
  id: string;
  service: ServiceName;
  port: number;
  /** Unique per instance across services: the id generator's node id. */
  nodeId: number;
}

export function serviceInstances(ctx: Pick<LocalContext, "spec">): ServiceInstance[] {
  const out: ServiceInstance[] = [];
  for (const [k, s] of SERVICES.entries()) {
    const n = ctx.spec.services[s.spec].replicas;
    for (let i = 0; i < n; i++)
      out.push({
        id: `${s.name}-${i + 1}`,
        service: s.name,
        port: ctx.spec.local.ports[s.spec] + i,
        nodeId: k * 100 + i,
      });
  }
  return out;
}

/**
 * The environment every service instance gets (validated by the service at start-up). `release` is the version
 * (and extra environment) it runs: by default the promoted release of the service, if a rollout recorded one.
 */
export function serviceEnv(
  ctx: LocalContext,
  inst: ServiceInstance,
  release: Release | undefined = readRelease(ctx, inst.service),
): Record<string, string> {
  const s = ctx.secrets;
  const messages = serviceInstances(ctx).filter((x) => x.service === "message");
  return {
    SERVICE_VERSION: release?.version ?? VERSION,
    INSTANCE_ID: inst.id,
    NODE_ID: String(inst.nodeId),
    HOST: ctx.host,
    PORT: String(inst.port),
    LOG_LEVEL: "info",
    INTERNAL_TOKEN: s.internalToken,
    TOKEN_KEYS: s.tokenKeys,
    TOKEN_ACTIVE_KID: s.tokenActiveKid,
    DB_HOST: ctx.host,
    DB_PORT: String(ctx.spec.local.ports.database),
    DB_USER: s.dbAppUser,
    DB_PASSWORD: s.dbAppPassword,
    DB_NAME: ctx.spec.data.database.name,
    REDIS_NODES: Array.from(
      { length: ctx.spec.data.redis.primaries * (1 + ctx.spec.data.redis.replicasPerPrimary) },
      (_, i) => `${ctx.host}:${ctx.spec.local.ports.redis + i}`,
    ).join(","),
    REDIS_NODE_TIMEOUT_MS: String(ctx.spec.local.redis.nodeTimeoutMs),
    KAFKA_BROKERS: kafkaBootstrap(ctx).join(","),
    KAFKA_TOPIC_STORED: ctx.spec.data.kafka.topics[0]?.name ?? "im.message.stored",
    MESSAGE_URLS: messages.map((m) => `http://${ctx.host}:${m.port}`).join(","),
    GROUP_WRITE_DIFFUSION_MAX: String(ctx.spec.messaging.groupWriteDiffusionMax),
    ...groupsEnv(ctx.spec.messaging.groups),
    ...gatewayEgress(ctx, inst),
    ...gatewayMessageCanary(ctx, inst),
    ...release?.env,
  };
}

/** A gateway's egress cap: the one `imctl bandwidth` set at run time wins over the stack's starting value. */
function gatewayEgress(ctx: LocalContext, inst: ServiceInstance): Record<string, string> {
  if (inst.service !== "gateway") return {};
  const cap = ctx.state.egressCaps?.[inst.id] ?? ctx.spec.services.gateway.egressBytesPerSecond;
  return cap === undefined ? {} : { EGRESS_BYTES_PER_SECOND: String(cap) };
}

/** A gateway started during a rollout of the message service sends the canary its share from the start. */
function gatewayMessageCanary(ctx: LocalContext, inst: ServiceInstance): Record<string, string> {
  const c = inst.service === "gateway" ? readMessageUpstream(ctx) : undefined;
  return c && c.urls.length > 0
    ? { MESSAGE_CANARY_URLS: c.urls.join(","), MESSAGE_CANARY_WEIGHT: String(c.weight) }
    : {};
}

/** Stable instances, then the canary instances of a rollout in progress (so up, status and down see them). */
export function serviceComponents(ctx: LocalContext): LocalComponent[] {
  return [...serviceInstances(ctx), ...canaryInstances(ctx)].map((inst) => instanceComponent(ctx, inst));
}

/** One service instance as a local component; a canary instance runs its canary release. */
export function instanceComponent(ctx: LocalContext, inst: ServiceInstance | CanaryInstance): LocalComponent {
  return {
    id: inst.id,
    group: "services" as const,
    tools: [],
    ports: [
      { port: inst.port, field: `local.ports.${SERVICES.find((s) => s.name === inst.service)?.spec ?? inst.service}` },
    ],
    endpoint: `http://${ctx.host}:${inst.port}`,
    startTimeoutMs: 60_000,
    // A gateway drains its connections (DRAIN_SECONDS, 10 s by default) before it exits.
    stop: { signal: "SIGTERM" as const, graceMs: 20_000 },
    async prepare(c) {
      return {
        bin: process.execPath,
        // IMCTL_SERVICE_NODE_ARGS: extra Node flags for every service process, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
        // to profile a benchmark (Node refuses --cpu-prof in NODE_OPTIONS).
        args: [
          ...(process.env.IMCTL_SERVICE_NODE_ARGS ?? "").split(" ").filter(Boolean),
          "--import",
          "tsx",
          join(REPO_ROOT, "services", inst.service, "src", "main.ts"),
        ],
        cwd: REPO_ROOT,
        env: serviceEnv(c, inst, "release" in inst ? inst.release : undefined),
        logFile: logFile(c, inst.id),
      };
    },
    async probe(c) {
      const res = await fetch(`http://${c.host}:${inst.port}/readyz`, { signal: AbortSignal.timeout(2000) });
      const body = (await res.json()) as { status?: string; version?: string; reason?: string };
      if (res.status !== 200) throw new Error(`/readyz answered ${res.status}: ${body.reason ?? ""}`);
      return `ready, version ${body.version ?? "?"}`;
    },
  };
}

/**
 * After the services are up: puts the gateways behind nginx (unless a rollout owns the pool) and lists every
 * instance for Prometheus (file-based discovery, picked up without a reload).
 */
export async function registerServices(ctx: LocalContext): Promise<{ gateways: number; targets: number }> {
  const all = serviceInstances(ctx);
  const gateways: Backend[] = all
    .filter((s) => s.service === "gateway")
    .map((s) => ({ id: s.id, address: `${ctx.host}:${s.port}` }));
  const current = readPool(ctx);
  if (!existsSync(nginxPaths(ctx).pool) || current.canary.length === 0) {
    await setGatewayPool(ctx, { stable: gateways, canary: [], canaryWeight: 0 });
  }
  return { gateways: gateways.length, targets: writeServiceTargets(ctx) };
}

/**
 * The services' scrape targets (file_sd), stable and canary instances. Written when Prometheus is prepared too, so it
 * has found them before they start and scrapes each within one interval of its start.
 */
export function writeServiceTargets(ctx: LocalContext): number {
  const dir = join(ctx.dir, "prometheus", "targets");
  mkdirSync(dir, { recursive: true });
  const all = serviceInstances(ctx);
  const groups = [
    ...all.map((s) => ({
      targets: [`${ctx.host}:${s.port}`],
      labels: { service: s.service, component: s.id, track: "stable" },
    })),
    ...canaryInstances(ctx).map((s) => ({
      targets: [`${ctx.host}:${s.port}`],
      labels: { service: s.service, component: s.id, track: "canary" },
    })),
  ];
  writeFileSync(join(dir, "services.json"), JSON.stringify(groups, null, 2));
  return groups.length;
}
