/**
 * The batch queue's bound in time: with every batch slot held by a database that does not answer, queued sends are
 * refused `overloaded` (with a retry-after) once they waited maxWaitMs, instead of waiting for ever. The database
 * here is a stand-in that never hands out a connection; storing itself is tested against MariaDB in the
 * integration tests.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type mysql from "mysql2/promise";
import { ApiError } from "../../lib/errors.ts";
import type { StoreDeps } from "./store.ts";
import { SendBatcher } from "./send-batch.ts";

describe("send batch queue", () => {
  it("refuses sends that waited past maxWaitMs with a retryable overloaded, while the only slot hangs", async () => {
    const stuck = { getConnection: () => new Promise<never>(() => undefined) } as unknown as mysql.Pool;
    const d = { db: stuck } as unknown as StoreDeps;
    const known = new Set(["2"]);
    const b = new SendBatcher(
      d,
      () => Promise.reject(new Error("not used")),
      known,
      1, // one send per batch
      1, // one batch in flight: the first send takes the slot and hangs
      0,
      100, // maxWaitMs
      700, // retryAfterMs
    );
    // The batcher's timers do not hold the process open (a service exits when asked); this test does.
    const keepAlive = setInterval(() => undefined, 50);
    const send = (cmid: string) => b.submit({ from: "1", cmid, to: "2", body: "b" });
    void send("first").catch(() => undefined);
    await new Promise((r) => setTimeout(r, 20));
    const t0 = performance.now();
    const waited = await Promise.allSettled([send("a"), send("b"), send("c")]);
    const took = performance.now() - t0;
    clearInterval(keepAlive);
    for (const r of waited) {
      assert.equal(r.status, "rejected");
      const e = (r as PromiseRejectedResult).reason as ApiError;
      assert.ok(e instanceof ApiError);
      assert.equal(e.code, "overloaded");
      assert.equal(e.retryAfterMs, 700);
    }
    assert.equal(b.shed, 3);
    assert.equal(b.queued, 0);
    assert.ok(took >= 100, `refused after ${took} ms, not before maxWaitMs`);
  });
});
