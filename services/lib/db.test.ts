/**
 * Bounded database calls, against a TCP server that accepts connections and never says a word (a database that
 * stopped answering): every call fails within its budget with a retryable error instead of hanging.
 */
import assert from "node:assert/strict";
import { createServer, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import { createDbPool } from "./db.ts";
import { ApiError } from "./errors.ts";

describe("database calls under a silent database", () => {
  it("fail within DB_TIMEOUT_MS with a retryable unavailable, and a full wait queue refuses with overloaded", async () => {
    const sockets: Socket[] = [];
    const silent = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", () => r()));
    const pool = createDbPool({
      DB_HOST: "127.0.0.1",
      DB_PORT: (silent.address() as AddressInfo).port,
      DB_USER: "u",
      DB_PASSWORD: "p",
      DB_NAME: "d",
      DB_POOL: 1,
      DB_TIMEOUT_MS: 200,
      DB_QUEUE_LIMIT: 1,
    });
    try {
      const t0 = performance.now();
      const calls = [pool.query("SELECT 1"), pool.query("SELECT 1"), pool.getConnection()];
      const out = await Promise.allSettled(calls);
      const took = performance.now() - t0;
      const codes = out.map((r) => (r.status === "rejected" ? ((r.reason as ApiError).code ?? "?") : "ok"));
      for (const r of out) assert.ok(r.status === "rejected" && r.reason instanceof ApiError, String(r.status));
      // One call waits for the only connection, one waits in the queue (limit 1), the third is refused at once.
      assert.deepEqual([...codes].sort(), ["overloaded", "unavailable", "unavailable"]);
      assert.ok(took < 2000, `all answered within ${Math.round(took)} ms`);
    } finally {
      await pool.end().catch(() => undefined);
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });
});
