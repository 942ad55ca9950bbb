import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { baseConfig, intFrom, list, loadConfig, redisConfig, tokenConfig } from "../../lib/config.ts";
import { ApiError } from "../../lib/errors.ts";
import { createHttp, onShutdown, requireInternal } from "../../lib/http.ts";
import { createLogger, type Logger } from "../../lib/log.ts";
import { createMetrics } from "../../lib/metrics.ts";
import { notifyRequest } from "../../lib/protocol.ts";
import { redisAuth } from "../../lib/data-auth.ts";
import { createRedisCluster } from "../../lib/redis.ts";
import { tlsOptions } from "../../lib/tls.ts";
import { runService } from "../../lib/service.ts";
import { parseKeyRing } from "../../lib/tokens.ts";
import { EgressLimiter } from "./egress.ts";
import { Gateway } from "./gateway.ts";
import { openFileLimit } from "../../lib/open-files.ts";
import { gatewayMetrics } from "./metrics.ts";
import { FaultyUpstream } from "./faults.ts";
import { MessageUpstream, SEND_INTERVAL_MS } from "./upstream.ts";

// Descriptors kept free for the listener, Redis, the message-service pool, logs and notifications.
const RESERVED_FDS = 150;

const schema = baseConfig
  .extend(redisConfig.shape)
  .extend(tokenConfig.shape)
  .extend({
    MESSAGE_URLS: list,
    /** A rollout's canary instances of the message service and their share of requests (percent); see upstream.ts. */
    MESSAGE_CANARY_URLS: list.optional(),
    MESSAGE_CANARY_WEIGHT: intFrom(0, 100).default(0),
    /** Least time between two batches of sends to the message service (upstream.ts); 0 sends every turn. */
    GATEWAY_SEND_INTERVAL_MS: intFrom(0, 1000).default(SEND_INTERVAL_MS),
    /** URL the fan-out uses to reach this instance; defaults to http://HOST:PORT. */
    INTERNAL_URL: z.string().url().optional(),
    HEARTBEAT_MS: intFrom(1000, 300_000).default(20_000),
    IDLE_TIMEOUT_MS: intFrom(2000, 3_600_000).default(70_000),
    SEND_BUFFER_LIMIT_BYTES: intFrom(1024, 64 * 1024 * 1024).default(1024 * 1024),
    /** 0: the descriptor limit minus a reserve. */
    MAX_CONNECTIONS: intFrom(0, 10_000_000).default(0),
    DRAIN_SECONDS: intFrom(1, 3600).default(10),
    /** Egress cap of this instance in bytes per second (the bandwidth workflow raises it). */
    EGRESS_BYTES_PER_SECOND: intFrom(1024, 100 * 1024 * 1024 * 1024).default(100 * 1024 * 1024),
    /** Fault knobs for canary tests (faults.ts): extra latency and a failure rate on sends. Off by default. */
    GATEWAY_FAULT_LATENCY_MS: intFrom(0, 60_000).default(0),
    GATEWAY_FAULT_FAIL_RATE: z.coerce.number().min(0).max(1).default(0),
  });

const messageCanaryBody = z
  .object({ urls: z.array(z.string().url()).max(50), weight: z.number().int().min(0).max(100) })
  .strict();
const egressBody = z
  .object({
    bytesPerSecond: z
      .number()
      .int()
      .min(1024)
      .max(100 * 1024 ** 3),
  })
  .strict();

interface InternalRoutesDeps {
  gateway: Gateway;
  upstream: MessageUpstream;
  log: Logger;
  internalToken: string;
  maxConnections: number;
}

/** The internal and admin endpoints: notifications from the fan-out, connection counts, the egress cap, the canary. */
function internalRoutes(app: FastifyInstance, d: InternalRoutesDeps): void {
  const { gateway, upstream, log, internalToken, maxConnections } = d;
  const guard = { preHandler: requireInternal(internalToken) };
  app.post("/internal/v1/notify", guard, async (req) => {
    const r = notifyRequest.safeParse(req.body);
    if (!r.success) throw new ApiError("bad_request", r.error.issues[0]?.message ?? "invalid notify");
    return { pushed: gateway.notify(r.data.items) };
  });
  app.get("/internal/v1/connections", guard, async () => ({
    connections: gateway.connections,
    maxConnections,
    draining: gateway.isDraining,
  }));
  app.put("/admin/v1/egress-cap", guard, async (req) => {
    const r = egressBody.safeParse(req.body);
    if (!r.success) throw new ApiError("bad_request", `bytesPerSecond: ${r.error.issues[0]?.message ?? "invalid"}`);
    gateway.setEgressCap(r.data.bytesPerSecond);
    return { bytesPerSecond: r.data.bytesPerSecond };
  });
  // The message service's canary track (imctl rollout of the message service on the local target).
  app.get("/admin/v1/message-upstream", guard, async () => upstream.canary);
  app.put("/admin/v1/message-upstream", guard, async (req) => {
    const r = messageCanaryBody.safeParse(req.body);
    if (!r.success)
      throw new ApiError(
        "bad_request",
        `${r.error.issues[0]?.path.join(".") || "body"}: ${r.error.issues[0]?.message ?? "invalid"}`,
      );
    upstream.setCanary(r.data);
    log.info(r.data, "message canary set");
    return upstream.canary;
  });
}

runService("gateway", async () => {
  const cfg = loadConfig(schema);
  const log = createLogger("gateway", cfg);
  const metrics = createMetrics("gateway", cfg);
  const gm = gatewayMetrics(metrics);
  const redis = createRedisCluster(cfg.REDIS_NODES, {
    nodeTimeoutMs: cfg.REDIS_NODE_TIMEOUT_MS,
    tls: tlsOptions("REDIS", cfg.REDIS_TLS, cfg.REDIS_TLS_CA_FILE),
    auth: redisAuth(cfg),
  });
  redis.on("error", (err: Error) => log.warn({ err: err.message }, "redis"));
  const faults = { latencyMs: cfg.GATEWAY_FAULT_LATENCY_MS, failRate: cfg.GATEWAY_FAULT_FAIL_RATE };
  const canary = { urls: cfg.MESSAGE_CANARY_URLS ?? [], weight: cfg.MESSAGE_CANARY_WEIGHT };
  const upstream =
    faults.latencyMs > 0 || faults.failRate > 0
      ? new FaultyUpstream(cfg.MESSAGE_URLS, cfg.INTERNAL_TOKEN, faults, canary, cfg.GATEWAY_SEND_INTERVAL_MS)
      : new MessageUpstream(cfg.MESSAGE_URLS, cfg.INTERNAL_TOKEN, canary, cfg.GATEWAY_SEND_INTERVAL_MS);
  const limit = openFileLimit();
  const maxConnections =
    cfg.MAX_CONNECTIONS > 0 ? cfg.MAX_CONNECTIONS : Math.max(100, (limit ?? 20_000) - RESERVED_FDS);
  const gateway = new Gateway({
    instanceId: cfg.INSTANCE_ID,
    version: cfg.SERVICE_VERSION,
    internalUrl: cfg.INTERNAL_URL ?? `http://${cfg.HOST}:${cfg.PORT}`,
    keys: parseKeyRing(cfg.TOKEN_KEYS, cfg.TOKEN_ACTIVE_KID),
    upstream,
    redis,
    log,
    metrics: gm,
    egress: new EgressLimiter(cfg.EGRESS_BYTES_PER_SECOND),
    heartbeatMs: cfg.HEARTBEAT_MS,
    idleTimeoutMs: cfg.IDLE_TIMEOUT_MS,
    sendBufferLimit: cfg.SEND_BUFFER_LIMIT_BYTES,
    maxConnections,
    drainSeconds: cfg.DRAIN_SECONDS,
  });
  const app = createHttp({
    version: cfg.SERVICE_VERSION,
    log,
    metrics,
    internalToken: cfg.INTERNAL_TOKEN,
    ready: async () => (gateway.isDraining ? "draining" : redis.status === "ready" ? null : `redis ${redis.status}`),
  });
  internalRoutes(app, { gateway, upstream, log, internalToken: cfg.INTERNAL_TOKEN, maxConnections });
  gateway.attach(app.server);
  await app.listen({ host: cfg.HOST, port: cfg.PORT, backlog: 4096 });
  log.info({ port: cfg.PORT, maxConnections }, "gateway listening");
  onShutdown(log, async () => {
    // Stop accepting first so the load balancer moves new connections elsewhere, then drain.
    app.server.close();
    await gateway.drain();
    await app.close().catch(() => undefined);
    await upstream.close();
    redis.disconnect();
  });
});
