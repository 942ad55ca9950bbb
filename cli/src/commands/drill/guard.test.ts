import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Sample } from "../../targets/target.ts";
import { GUARD_INTERVAL_MS, GuardWatch, readGuard } from "./guard.ts";
import { MESSAGES } from "./messages.ts";

const answering = (...values: number[]) => ({
  query: async (): Promise<Sample[]> => values.map((value, i) => ({ labels: { i: String(i) }, value })),
});
const failing = (message: string) => ({
  query: async (): Promise<Sample[]> => {
    throw new Error(message);
  },
});

describe("a drill's --guard", () => {
  it("is clear with no sample above 0 (none, zeros, NaN) and trips on one above 0", async () => {
    assert.deepEqual(await readGuard(answering(), "x"), { state: "clear" });
    assert.deepEqual(await readGuard(answering(0, -1, NaN), "x"), { state: "clear" });
    assert.deepEqual(await readGuard(answering(0, 0.5), "up == 0"), {
      state: "tripped",
      reason: "guard: up == 0 is above 0",
    });
  });

  it("fails safe: a query that errors is unreadable, with one line that names the query and the error", async () => {
    const why = 'Prometheus at http://127.0.0.1:9090: "rate(up)" failed: bad_data: expected type range vector';
    const r = await readGuard(failing(`${why}\n    at somewhere`), "rate(up)");
    assert.deepEqual(r, { state: "unreadable", reason: MESSAGES.guardUnreadable("rate(up)", why) });
    assert.equal(
      MESSAGES.guardUnreadable("rate(up)", "x"),
      "guard: rate(up) cannot be evaluated (x); a guard that cannot be read stops the drill",
    );
    assert.ok("reason" in r && !r.reason.includes("\n"));
  });

  it("never quotes a password of the Prometheus URL in its reason", async () => {
    const r = await readGuard(failing("Prometheus at https://ops:s3cret@prom.example.com answered HTTP 502"), "up");
    assert.ok(r.state === "unreadable");
    assert.ok(!r.reason.includes("s3cret"), r.reason);
    assert.match(r.reason, /https:\/\/\*\*\*@prom\.example\.com answered HTTP 502/);
  });

  it("is read once per interval while the fault is in, and an error there stops the drill too", async () => {
    let calls = 0;
    let broken = false;
    const watch = new GuardWatch(
      {
        query: async () => {
          calls++;
          if (broken) throw new Error("connect ECONNREFUSED 127.0.0.1:9090");
          return [];
        },
      },
      "sum(im_fault_active)",
    );
    assert.deepEqual(await watch.due(0), { state: "clear" });
    assert.equal(await watch.due(GUARD_INTERVAL_MS - 1), null);
    assert.equal(calls, 1);
    broken = true;
    const r = await watch.due(GUARD_INTERVAL_MS);
    assert.equal(calls, 2);
    assert.deepEqual(r, {
      state: "unreadable",
      reason: MESSAGES.guardUnreadable("sum(im_fault_active)", "connect ECONNREFUSED 127.0.0.1:9090"),
    });
  });
});
