/**
 * The HTTP face every service shares: /healthz (the process is alive), /readyz (it can serve: dependencies
 * reachable, not draining), /metrics, the version in an `x-im-version` header, RED metrics per route, and
 * ApiError turned into `{ error, message }` with its status. Anything else becomes a 500 without details.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import { ApiError } from "./errors.ts";
import { TOKEN_IN_URL, TOKEN_IN_URL_PATH } from "./protocol.ts";
import type { Logger } from "./log.ts";
import type { ServiceMetrics } from "./metrics.ts";

export interface HttpOptions {
  version: string;
  log: Logger;
  metrics: ServiceMetrics;
  /** Resolves with null when ready, or the reason it is not. */
  ready: () => Promise<string | null>;
  internalToken: string;
  bodyLimit?: number;
}

export function createHttp(opts: HttpOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: opts.log as FastifyBaseLogger,
    disableRequestLogging: true,
    bodyLimit: opts.bodyLimit ?? 256 * 1024,
    return503OnClosing: true,
  });
  app.addHook("onRequest", async (_req, reply) => {
    reply.header("x-im-version", opts.version);
  });
  app.addHook("onResponse", async (req, reply) => {
    const route = req.routeOptions.url ?? "unmatched";
    opts.metrics.requests.inc({ route, method: req.method, code: String(reply.statusCode) });
    opts.metrics.requestSeconds.observe({ route, method: req.method }, reply.elapsedTime / 1000);
  });
  app.setErrorHandler((err, req, reply) => {
    if (err instanceof ApiError) {
      if (err.retryAfterMs === undefined)
        return reply.status(err.status).send({ error: err.code, message: err.message });
      reply.header("retry-after", String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))));
      return reply.status(err.status).send({ error: err.code, message: err.message, retryAfterMs: err.retryAfterMs });
    }
    const e = err as { statusCode?: number; code?: string; message?: string };
    if (e.statusCode !== undefined && e.statusCode < 500) {
      const code =
        e.code === "FST_ERR_CTP_INVALID_JSON_BODY" || e.code === "FST_ERR_CTP_EMPTY_JSON_BODY"
          ? "malformed_json"
          : e.statusCode === 413
            ? "frame_too_large"
            : "bad_request";
      return reply.status(e.statusCode).send({ error: code, message: e.message ?? "bad request" });
    }
    req.log.error({ err }, "request failed");
    return reply.status(500).send({ error: "internal", message: "internal error" });
  });
  app.setNotFoundHandler((_req, reply) => reply.status(404).send({ error: "bad_request", message: "no such route" }));
  // The edge routes any request with `?token=` here (infra/services/im-service.ts): one clear refusal, whatever
  // the method; the token itself is never echoed or logged.
  app.all(TOKEN_IN_URL_PATH, async (_req, reply) =>
    reply.status(400).send({ error: "token_in_url", message: TOKEN_IN_URL }),
  );
  app.get("/healthz", async () => ({ status: "ok", version: opts.version }));
  app.get("/readyz", async (_req, reply) => {
    const why = await opts.ready();
    return why === null
      ? { status: "ready", version: opts.version }
      : reply.status(503).send({ status: "not ready", reason: why });
  });
  app.get("/metrics", async (_req, reply) => {
    reply.header("content-type", opts.metrics.registry.contentType);
    return opts.metrics.registry.metrics();
  });
  return app;
}

/** Guards internal routes: service-to-service calls carry the shared internal token. */
export function requireInternal(token: string) {
  return async (req: { headers: Record<string, string | string[] | undefined> }) => {
    if (req.headers["x-im-internal"] !== token) throw new ApiError("forbidden", "internal route");
  };
}

/** Stops on SIGTERM/SIGINT: `drain` first (stop taking work, finish what is in flight), then exit. */
export function onShutdown(log: Logger, drain: () => Promise<void>): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "draining");
    drain()
      .catch((err: unknown) => log.error({ err }, "drain failed"))
      .finally(() => {
        log.info("stopped");
        process.exitCode = 0;
        // Give pino a tick to flush, then leave even if a client library keeps a handle open.
        setTimeout(() => process.exit(0), 100).unref();
      });
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

/** The longest a readiness check waits for the database, ms. */
export const READY_TIMEOUT_MS = 1000;

/** Readiness of a service that needs the database and Redis: null when both answer, else the reason. */
export async function dataTierReady(
  db: { query(sql: string): Promise<unknown> },
  redis: { status: string },
  timeoutMs = READY_TIMEOUT_MS,
): Promise<string | null> {
  try {
    // Bounded: a readiness probe that hangs behind a wedged pool tells the orchestrator nothing.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      db.query("SELECT 1"),
      new Promise((_r, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
  } catch (err) {
    return `database: ${(err as Error).message}`;
  }
  return redis.status === "ready" ? null : `redis ${redis.status}`;
}
