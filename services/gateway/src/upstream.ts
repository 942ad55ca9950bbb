/**
 * Calls from the gateway to the message service, spread over its instances round-robin. A connection error or
 * a 503 moves on to the next instance: sends carry the client's message id, so a retried send is stored once.
 */
import { Pool } from "undici";
import { ApiError, ERROR_CODES, type ErrorCode } from "../../lib/errors.ts";

export class MessageUpstream {
  private readonly pools: Pool[];
  private next = 0;

  constructor(
    urls: string[],
    private readonly internalToken: string,
  ) {
    this.pools = urls.map((u) => new Pool(u.startsWith("http") ? u : `http://${u}`, { connections: 256, pipelining: 1, keepAliveTimeout: 30_000, headersTimeout: 10_000, bodyTimeout: 10_000 }));
  }

  async call<T>(userId: string, method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
    let lastErr: unknown;
    // Every instance once, then once more after a pause: rides out a restart of the only healthy one.
    const attempts = this.pools.length * 2;
    for (let i = 0; i < attempts; i++) {
      const pool = this.pools[this.next++ % this.pools.length];
      if (pool === undefined) break;
      if (i === this.pools.length) await new Promise((r) => setTimeout(r, 300));
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
          lastErr = new ApiError("unavailable", err?.message ?? `message service answered ${res.statusCode}`);
          continue;
        }
        const code: ErrorCode = err && err.error in ERROR_CODES ? (err.error as ErrorCode) : "bad_request";
        throw new ApiError(code, err?.message ?? `message service answered ${res.statusCode}`);
      } catch (e) {
        if (e instanceof ApiError && e.code !== "unavailable") throw e;
        lastErr = e;
      }
    }
    throw lastErr instanceof ApiError ? lastErr : new ApiError("unavailable", "message service unreachable");
  }

  async close(): Promise<void> {
    await Promise.all(this.pools.map((p) => p.close()));
  }
}

function safeError(text: string): { error: string; message: string } | null {
  try {
    const v = JSON.parse(text) as { error?: unknown; message?: unknown };
    return typeof v.error === "string" ? { error: v.error, message: String(v.message ?? "") } : null;
  } catch {
    return null;
  }
}
