/**
 * Calls from the gateway to the message service, spread over its instances round-robin. A connection error or
 * a 503 moves on to the next instance: sends carry the client's message id, so a retried send is stored once.
 * During a rollout of the message service a share of the calls goes to its canary instances (setCanary).
 *
 * Sends are coalesced: the sends made since the last batch left (up to SEND_BATCH_MAX) go to one instance as one
 * request, which answers each send on its own, and batches leave at most once per `sendIntervalMs` (a Pacer).
 * Under load that is one HTTP exchange for many sends instead of one each, on both sides, at a rate set by the
 * clock rather than by how busy the machine is; a lone send waits for nothing.
 */
import { Pool } from "undici";
import { ApiError, ERROR_CODES, type ErrorCode } from "../../lib/errors.ts";
import { Pacer } from "../../lib/pacer.ts";

/** The most sends one batch request carries (the message service accepts up to 500). */
export const SEND_BATCH_MAX = 256;
/** The default least time between two batches of sends from one gateway (GATEWAY_SEND_INTERVAL_MS). */
export const SEND_INTERVAL_MS = 10;
/**
 * The default most sends one gateway holds for the message service (queued or in a request), GATEWAY_MAX_SENDS;
 * beyond, a send is refused `overloaded` at once instead of joining a queue that only grows.
 */
export const MAX_PENDING_SENDS = 8192;
/** What a gateway-level refusal tells the client to wait, ms. */
export const GATEWAY_RETRY_AFTER_MS = 1000;

const SEND_PATH = "/internal/v1/messages";

interface QueuedSend {
  /** Batches this send has been in: a send the message service could not store is retried on the next instance. */
  tries: number;
  user: string;
  body: unknown;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

type BatchItem = { ok: true; result: unknown } | { ok: false; error: string; message: string; retryAfterMs?: number };

const newPool = (u: string) =>
  new Pool(u.startsWith("http") ? u : `http://${u}`, {
    connections: 256,
    pipelining: 1,
    keepAliveTimeout: 30_000,
    headersTimeout: 10_000,
    bodyTimeout: 10_000,
  });

/** A canary track of the message service: its instances and the share of requests (percent) they get. */
export interface MessageCanary {
  urls: string[];
  weight: number;
}

export class MessageUpstream {
  private readonly pools: Pool[];
  private canaryPools: Pool[] = [];
  private canaryUrls: string[] = [];
  private canaryWeight = 0;
  private next = 0;
  private nextCanary = 0;
  private sends: QueuedSend[] = [];
  /** Sends taken and not yet answered (queued, in a request, or requeued). */
  private pendingSends = 0;
  /** Sends refused because this gateway already held maxPendingSends. */
  shed = 0;
  private readonly pacer: Pacer;

  constructor(
    urls: string[],
    private readonly internalToken: string,
    canary: MessageCanary = { urls: [], weight: 0 },
    sendIntervalMs = SEND_INTERVAL_MS,
    private readonly maxPendingSends = MAX_PENDING_SENDS,
  ) {
    this.pools = urls.map(newPool);
    this.setCanary(canary);
    this.pacer = new Pacer(sendIntervalMs, () => this.flushSends());
  }

  /**
   * Sends `weight` percent of the requests to the canary instances (a rollout of the message service); the rest,
   * and every retry after a failure, go round-robin over the stable ones. An empty list removes the canary.
   */
  setCanary(c: MessageCanary): void {
    if (!Number.isInteger(c.weight) || c.weight < 0 || c.weight > 100)
      throw new ApiError("bad_request", `weight: got ${c.weight}; allowed: a whole number from 0 to 100`);
    const same = c.urls.length === this.canaryUrls.length && c.urls.every((u, i) => u === this.canaryUrls[i]);
    if (!same) {
      const old = this.canaryPools;
      this.canaryPools = c.urls.map(newPool);
      this.canaryUrls = [...c.urls];
      // Requests in flight on the old pools finish; close() waits for them.
      for (const p of old) void p.close().catch(() => undefined);
    }
    this.canaryWeight = this.canaryPools.length > 0 ? c.weight : 0;
  }

  get canary(): MessageCanary {
    return { urls: [...this.canaryUrls], weight: this.canaryWeight };
  }

  /** The instance for one request's first attempt: the canary for its share, else the next stable one. */
  private pick(): Pool | undefined {
    if (this.canaryWeight > 0 && (this.canaryWeight >= 100 || Math.random() * 100 < this.canaryWeight))
      return this.canaryPools[this.nextCanary++ % this.canaryPools.length];
    return this.pools[this.next++ % this.pools.length];
  }

  async call<T>(userId: string, method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
    if (method === "POST" && path === SEND_PATH) {
      if (this.pendingSends >= this.maxPendingSends) {
        this.shed++;
        throw new ApiError(
          "overloaded",
          `overloaded: this gateway holds ${this.pendingSends} sends for the message service` +
            ` (limit ${this.maxPendingSends}); retry after ${GATEWAY_RETRY_AFTER_MS} ms`,
          GATEWAY_RETRY_AFTER_MS,
        );
      }
      this.pendingSends++;
      return new Promise<T>((resolve, reject) => {
        this.sends.push({ tries: 0, user: userId, body, resolve: resolve as (v: unknown) => void, reject });
        this.pacer.request();
      }).finally(() => this.pendingSends--);
    }
    return this.request<T>(userId, method, path, body);
  }

  private flushSends(): void {
    while (this.sends.length > 0) {
      const batch = this.sends.splice(0, SEND_BATCH_MAX);
      for (const s of batch) s.tries++;
      const payload = { sends: batch.map((s) => ({ user: s.user, ...(s.body as Record<string, unknown>) })) };
      this.request<{ results: BatchItem[] }>("0", "POST", `${SEND_PATH}/batch`, payload).then(
        (r) =>
          batch.forEach((s, i) => {
            const item = r.results[i];
            if (item === undefined)
              s.reject(new ApiError("internal", "message service answered fewer results than sends"));
            else if (item.ok) s.resolve(item.result);
            else if (item.error === "unavailable" && s.tries < this.pools.length + this.canaryPools.length)
              this.requeue(s);
            else
              s.reject(
                new ApiError(
                  item.error in ERROR_CODES ? (item.error as ErrorCode) : "internal",
                  item.message,
                  item.retryAfterMs,
                ),
              );
          }),
        (err: unknown) => {
          const e = err instanceof Error ? err : new ApiError("unavailable", String(err));
          for (const s of batch) s.reject(e);
        },
      );
    }
  }

  private requeue(s: QueuedSend): void {
    this.sends.push(s);
    this.pacer.request();
  }

  private async request<T>(userId: string, method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
    let lastErr: unknown;
    // The picked instance, then every stable one, then all of them once more after a pause: rides out a restart
    // of the only healthy one (and of a canary being removed).
    const first = this.pick();
    const start = this.next;
    const order = [
      ...(first ? [first] : []),
      ...this.pools.map((_, k) => this.pools[(start + k) % this.pools.length] as Pool).filter((p) => p !== first),
    ];
    const attempts = [...order, ...order];
    for (let i = 0; i < attempts.length; i++) {
      const pool = attempts[i];
      if (pool === undefined) break;
      if (i === order.length) await new Promise((r) => setTimeout(r, 300));
      try {
        const res = await pool.request({
          method,
          path,
          headers: { "content-type": "application/json", "x-im-internal": this.internalToken, "x-im-user": userId },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        const text = await res.body.text();
        if (res.statusCode === 200) return JSON.parse(text) as T;
        const err = safeError(text);
        if (res.statusCode === 503 || res.statusCode >= 500) {
          lastErr =
            err?.error === "overloaded"
              ? new ApiError("overloaded", err.message, err.retryAfterMs ?? GATEWAY_RETRY_AFTER_MS)
              : new ApiError("unavailable", err?.message ?? `message service answered ${res.statusCode}`);
          continue;
        }
        const code: ErrorCode = err && err.error in ERROR_CODES ? (err.error as ErrorCode) : "bad_request";
        throw new ApiError(code, err?.message ?? `message service answered ${res.statusCode}`);
      } catch (e) {
        if (e instanceof ApiError && e.code !== "unavailable" && e.code !== "overloaded") throw e;
        lastErr = e;
      }
    }
    throw lastErr instanceof ApiError ? lastErr : new ApiError("unavailable", "message service unreachable");
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools, ...this.canaryPools].map((p) => p.close()));
  }
}

function safeError(text: string): { error: string; message: string; retryAfterMs?: number } | null {
  try {
    const v = JSON.parse(text) as { error?: unknown; message?: unknown; retryAfterMs?: unknown };
    if (typeof v.error !== "string") return null;
    const retry = typeof v.retryAfterMs === "number" ? { retryAfterMs: v.retryAfterMs } : {};
    return { error: v.error, message: String(v.message ?? ""), ...retry };
  } catch {
    return null;
  }
}
