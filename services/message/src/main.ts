import { z } from "zod";
import { baseConfig, dbConfig, intFrom, kafkaConfig, loadConfig, redisConfig } from "../../lib/config.ts";
import { createDbPool } from "../../lib/db.ts";
import { Admission } from "../../lib/admission.ts";
import { createHttp, dataTierReady, onShutdown } from "../../lib/http.ts";
import { IdGenerator } from "../../lib/ids.ts";
import { nodeIdFor } from "../../lib/node-id.ts";
import { createProducer, EventPublisher } from "../../lib/kafka.ts";
import { createLogger } from "../../lib/log.ts";
import { createMetrics } from "../../lib/metrics.ts";
import { kafkaSasl, redisAuth } from "../../lib/data-auth.ts";
import { createRedisCluster } from "../../lib/redis.ts";
import { subGroupConfig, subGroupSettings } from "../../lib/sub-groups.ts";
import { tlsOptions } from "../../lib/tls.ts";
import { runService } from "../../lib/service.ts";
import { routes } from "./app.ts";
import { FANOUT_INTERVAL_MS, startFanout } from "./fanout.ts";
import { SUB_GROUP_LANES } from "./fanout-loop.ts";
import { MEMBER_CACHE_ROWS, MemberCache } from "./member-cache.ts";
import { moveRoutes } from "./routes-moves.ts";
import { AutoGrow, autoGrowConfig, autoGrowSettings } from "./auto-grow.ts";
import { messageMetrics } from "./metrics.ts";
import { FETCH_MAX_WAIT_MS } from "./consumer-supervisor.ts";
import {
  MAX_SENDS_IN_PROGRESS,
  OVERLOAD_RETRY_AFTER_MS,
  SEND_BATCH_INTERVAL_MS,
  SEND_QUEUE_MAX_WAIT_MS,
} from "./send-batch.ts";

const schema = baseConfig
  .extend(dbConfig.shape)
  .extend(redisConfig.shape)
  .extend(kafkaConfig.shape)
  .extend(subGroupConfig.shape)
  .extend(autoGrowConfig.shape)
  .extend({
    /** Least time between two batches of 1:1 sends stored by this instance (send-batch.ts); 0: every turn. */
    SEND_BATCH_INTERVAL_MS: intFrom(0, 1000).default(SEND_BATCH_INTERVAL_MS),
    /** Least time between two fan-out batches (fanout.ts); 0 starts one as soon as events arrive. */
    FANOUT_INTERVAL_MS: intFrom(0, 1000).default(FANOUT_INTERVAL_MS),
    /** Fan-out queues for sub-group records beside the one for everything else (fanout-loop.ts); 0: none. */
    FANOUT_SUB_GROUP_LANES: intFrom(0, 64).default(SUB_GROUP_LANES),
    /** Member rows the fan-out keeps in memory between batches, over every group (member-cache.ts); 0: none. */
    FANOUT_MEMBER_CACHE_ROWS: intFrom(0, 10_000_000).default(MEMBER_CACHE_ROWS),
    /** Longest a fan-out fetch waits at a broker for new events, ms; no latency cost (consumer-supervisor.ts). */
    FANOUT_FETCH_MAX_WAIT_MS: intFrom(10, 5000).default(FETCH_MAX_WAIT_MS),
    /** Most sends in progress on one instance; beyond, a send is refused `overloaded` (admission.ts). */
    MESSAGE_MAX_SENDS_IN_PROGRESS: intFrom(1, 1_000_000).default(MAX_SENDS_IN_PROGRESS),
    /** A 1:1 send still queued for its batch after this long is refused `overloaded`, not stored late, ms. */
    SEND_QUEUE_MAX_WAIT_MS: intFrom(100, 60_000).default(SEND_QUEUE_MAX_WAIT_MS),
    /** What an `overloaded` refusal tells the client to wait before retrying, ms (clients add jitter). */
    OVERLOAD_RETRY_AFTER_MS: intFrom(10, 60_000).default(OVERLOAD_RETRY_AFTER_MS),
    /** Fault injection for canary tests: share of sends that fail with 503 (0 in production). */
    MESSAGE_FAULT_FAIL_RATE: z.coerce.number().min(0).max(1).default(0),
    /** Fault injection for canary tests: latency added to every send in ms (0 in production). */
    MESSAGE_FAULT_LATENCY_MS: z.coerce.number().int().min(0).max(60000).default(0),
  });

runService("message", async () => {
  const cfg = loadConfig(schema);
  const log = createLogger("message", cfg);
  const metrics = createMetrics("message", cfg);
  const mm = messageMetrics(metrics);
  // The bar of the SubGroupWarn alert: the rule compares each sub-group's members with it.
  mm.subGroupWarnMembers.set(Math.floor(cfg.GROUP_SUB_GROUP_CAPACITY * cfg.GROUP_WARN_RATIO));
  const db = createDbPool(cfg, { multipleStatements: true });
  const kafkaTls = tlsOptions("KAFKA", cfg.KAFKA_TLS, cfg.KAFKA_TLS_CA_FILE);
  const sasl = kafkaSasl(cfg);
  const redis = createRedisCluster(cfg.REDIS_NODES, {
    nodeTimeoutMs: cfg.REDIS_NODE_TIMEOUT_MS,
    tls: tlsOptions("REDIS", cfg.REDIS_TLS, cfg.REDIS_TLS_CA_FILE),
    auth: redisAuth(cfg),
  });
  redis.on("error", (err: Error) => log.warn({ err: err.message }, "redis"));
  const nodeId = await nodeIdFor(cfg.NODE_ID, redis, cfg.INSTANCE_ID, log);
  const publisher = new EventPublisher(createProducer(`message-${cfg.INSTANCE_ID}`, cfg.KAFKA_BROKERS, kafkaTls, sasl));
  const admission = new Admission("sends in progress", cfg.MESSAGE_MAX_SENDS_IN_PROGRESS, cfg.OVERLOAD_RETRY_AFTER_MS);
  const app = createHttp({
    version: cfg.SERVICE_VERSION,
    log,
    metrics,
    internalToken: cfg.INTERNAL_TOKEN,
    // Overloaded while this instance refuses sends, and ready again on its own a second after the last refusal.
    ready: async () => admission.overloaded() ?? (await dataTierReady(db, redis)),
  });
  routes(app, {
    db,
    publisher,
    timings: mm,
    topic: cfg.KAFKA_TOPIC_STORED,
    sendBatchIntervalMs: cfg.SEND_BATCH_INTERVAL_MS,
    ids: new IdGenerator(nodeId.id),
    metrics: mm,
    internalToken: cfg.INTERNAL_TOKEN,
    failRate: cfg.MESSAGE_FAULT_FAIL_RATE,
    extraLatencyMs: cfg.MESSAGE_FAULT_LATENCY_MS,
    admission,
    sendQueueMaxWaitMs: cfg.SEND_QUEUE_MAX_WAIT_MS,
    retryAfterMs: cfg.OVERLOAD_RETRY_AFTER_MS,
  });
  moveRoutes(app, { db, redis, log, metrics: mm, internalToken: cfg.INTERNAL_TOKEN });
  const fanout = await startFanout({
    db,
    redis,
    log,
    metrics: mm,
    internalToken: cfg.INTERNAL_TOKEN,
    brokers: cfg.KAFKA_BROKERS,
    tls: kafkaTls,
    sasl,
    topic: cfg.KAFKA_TOPIC_STORED,
    clientId: `fanout-${cfg.INSTANCE_ID}`,
    intervalMs: cfg.FANOUT_INTERVAL_MS,
    fetchMaxWaitMs: cfg.FANOUT_FETCH_MAX_WAIT_MS,
    subGroupLanes: cfg.FANOUT_SUB_GROUP_LANES,
    memberCache: new MemberCache(cfg.FANOUT_MEMBER_CACHE_ROWS, (result, n) => mm.memberCache.inc({ result }, n)),
    publisher,
  });
  // The automatic trigger of group growth (docs/groups.md): every instance competes for its lease, the holder acts.
  const autoGrow = cfg.GROUP_AUTO_GROW
    ? new AutoGrow(
        { db, redis, log, metrics: mm, internalToken: cfg.INTERNAL_TOKEN },
        autoGrowSettings(cfg, subGroupSettings(cfg)),
        cfg.INSTANCE_ID,
      )
    : undefined;
  await app.listen({ host: cfg.HOST, port: cfg.PORT });
  log.info({ port: cfg.PORT }, "message listening");
  autoGrow?.start();
  onShutdown(log, async () => {
    await autoGrow?.close();
    await app.close();
    await fanout.close();
    await publisher.close().catch(() => undefined);
    await nodeId.release();
    await db.end();
    redis.disconnect();
  });
});
