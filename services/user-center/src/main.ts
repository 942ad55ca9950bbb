import { baseConfig, dbConfig, intFrom, loadConfig, redisConfig, tokenConfig } from "../../lib/config.ts";
import { createDbPool } from "../../lib/db.ts";
import { createHttp, dataTierReady, onShutdown } from "../../lib/http.ts";
import { IdGenerator } from "../../lib/ids.ts";
import { nodeIdFor } from "../../lib/node-id.ts";
import { createLogger } from "../../lib/log.ts";
import { createMetrics } from "../../lib/metrics.ts";
import { redisAuth } from "../../lib/data-auth.ts";
import { createRedisCluster } from "../../lib/redis.ts";
import { tlsOptions } from "../../lib/tls.ts";
import { parseKeyRing } from "../../lib/tokens.ts";
import { runService } from "../../lib/service.ts";
import { subGroupConfig, subGroupSettings } from "../../lib/sub-groups.ts";
import { routes } from "./app.ts";

const schema = baseConfig
  .extend(dbConfig.shape)
  .extend(redisConfig.shape)
  .extend(tokenConfig.shape)
  .extend(subGroupConfig.shape)
  .extend({
    TOKEN_TTL_SECONDS: intFrom(60, 30 * 24 * 3600).default(24 * 3600),
    /** Groups larger than this use read diffusion (one timeline copy instead of an inbox row per member). */
    GROUP_WRITE_DIFFUSION_MAX: intFrom(1, 100000).default(500),
  });

runService("user-center", async () => {
  const cfg = loadConfig(schema);
  const log = createLogger("user-center", cfg);
  const metrics = createMetrics("user-center", cfg);
  const db = createDbPool(cfg);
  const redis = createRedisCluster(cfg.REDIS_NODES, {
    nodeTimeoutMs: cfg.REDIS_NODE_TIMEOUT_MS,
    tls: tlsOptions("REDIS", cfg.REDIS_TLS, cfg.REDIS_TLS_CA_FILE),
    auth: redisAuth(cfg),
  });
  redis.on("error", (err: Error) => log.warn({ err: err.message }, "redis"));
  const nodeId = await nodeIdFor(cfg.NODE_ID, redis, cfg.INSTANCE_ID, log);
  const app = createHttp({
    version: cfg.SERVICE_VERSION,
    log,
    metrics,
    internalToken: cfg.INTERNAL_TOKEN,
    ready: () => dataTierReady(db, redis),
  });
  routes(app, {
    db,
    redis,
    ids: new IdGenerator(nodeId.id),
    keys: parseKeyRing(cfg.TOKEN_KEYS, cfg.TOKEN_ACTIVE_KID),
    tokenTtlSeconds: cfg.TOKEN_TTL_SECONDS,
    writeDiffusionMax: cfg.GROUP_WRITE_DIFFUSION_MAX,
    subGroups: subGroupSettings(cfg),
    internalToken: cfg.INTERNAL_TOKEN,
  });
  await app.listen({ host: cfg.HOST, port: cfg.PORT });
  log.info({ port: cfg.PORT }, "user-center listening");
  onShutdown(log, async () => {
    await app.close();
    await nodeId.release();
    await db.end();
    redis.disconnect();
  });
});
