import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Admission, OVERLOAD_HOLD_MS } from "./admission.ts";
import { ApiError } from "./errors.ts";

describe("admission control", () => {
  it("admits up to the limit, refuses beyond with a retryable overloaded error, and frees slots when work ends", async () => {
    const a = new Admission("sends in progress", 2, 500);
    const gates: Array<() => void> = [];
    const work = () => new Promise<void>((r) => gates.push(r));
    const first = a.run(work);
    const second = a.run(work);
    assert.equal(a.inProgress, 2);
    await assert.rejects(a.run(work), (e: unknown) => {
      assert.ok(e instanceof ApiError);
      assert.equal(e.code, "overloaded");
      assert.equal(e.retryAfterMs, 500);
      assert.equal(e.status, 503);
      return true;
    });
    for (const g of gates.splice(0)) g();
    await Promise.all([first, second]);
    assert.equal(a.inProgress, 0);
    await a.run(async () => undefined);
    assert.equal(a.refused, 1);
  });

  it("reports overloaded while a refusal is recent and recovers by itself", () => {
    const a = new Admission("sends in progress", 0, 100);
    assert.equal(a.overloaded(), null);
    assert.throws(() => a.enter(), /overloaded/);
    const t = Date.now();
    assert.match(a.overloaded(t) ?? "", /^overloaded: 0 sends in progress \(limit 0\)/);
    assert.equal(a.overloaded(t + OVERLOAD_HOLD_MS + 1), null);
  });

  it("gives a slot back when the work throws", async () => {
    const a = new Admission("x", 1, 100);
    await assert.rejects(
      a.run(async () => {
        throw new Error("boom");
      }),
      /boom/,
    );
    assert.equal(a.inProgress, 0);
  });
});
