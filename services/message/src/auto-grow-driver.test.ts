import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pino } from "pino";
import { ApiError } from "../../lib/errors.ts";
import { AutoMoveDriver, type DriverSettings, type MoveOps } from "./auto-grow-driver.ts";
import type { GroupMove } from "./moves.ts";

const settings: DriverSettings = {
  switchSteps: [10, 30, 100],
  stepPauseMs: 3000,
  ratePerSecond: 200,
  maxBehind: 1000,
  failureLimit: 3,
};

/**
 * A move of `moving` members held in memory as moves.ts holds it in the database: switches take unswitched members,
 * a rollback reverts them and closes the move, and once anyone asked for a rollback no switch or finish goes through.
 * Time is virtual: sleep() only moves the clock the driver's observation reads (Date.now).
 */
function fakeMove(moving: number, o: { behind?: () => number } = {}) {
  const move: GroupMove = {
    moveId: "9",
    groupId: "7301234567890123456",
    fromSubGroups: 3,
    toSubGroups: 4,
    planHead: 100,
    planLow: 90,
    moving,
    switched: 0,
    state: "dual",
    startedBy: "auto",
    rollbackBy: null,
  };
  const calls: string[] = [];
  const refuseIfRollingBack = () => {
    if (move.rollbackBy !== null || move.state !== "dual") throw new ApiError("conflict", "rolling back");
  };
  const ops: MoveOps = {
    switchBatch: async (_g, limit) => {
      refuseIfRollingBack();
      const changed = Math.min(limit, move.moving - move.switched);
      move.switched += changed;
      calls.push(`switch ${changed} -> ${move.switched}`);
      return { move: { ...move }, changed };
    },
    rollbackBatch: async (_g, limit) => {
      move.rollbackBy ??= "auto";
      const changed = Math.min(limit, move.switched);
      move.switched -= changed;
      if (changed === 0) move.state = "rolled_back";
      calls.push(`rollback ${changed}`);
      return { changed, done: changed === 0 };
    },
    finishMove: async () => {
      refuseIfRollingBack();
      move.state = "done";
      calls.push("finish");
    },
    currentMove: async () => ({ ...move }),
    maxBehind: async () => o.behind?.() ?? 0,
  };
  return { move, ops, calls };
}

/** Runs the driver on virtual time; `keep` and `tick` (called at every sleep) let a test act midway. */
async function drive(f: ReturnType<typeof fakeMove>, o: { keep?: () => boolean; tick?: (now: number) => void } = {}) {
  const realNow = Date.now;
  let now = realNow();
  const t0 = now;
  Date.now = () => now;
  try {
    const driver = new AutoMoveDriver(
      f.ops,
      settings,
      { ...f.move },
      {
        keep: async () => o.keep?.() ?? true,
        log: pino({ level: "silent" }),
        sleep: async (ms) => {
          now += Math.max(1, ms);
          o.tick?.(now - t0);
        },
      },
    );
    const outcome = await driver.run();
    return { outcome, reason: driver.reason, elapsedMs: now - t0 };
  } finally {
    Date.now = realNow;
  }
}

describe("auto-grow: the driver of one automatic move", () => {
  it("switches 10/30/100 % of the movers, observes each step for the pause, then finishes", async () => {
    const f = fakeMove(45);
    const r = await drive(f);
    assert.equal(r.outcome, "finished");
    assert.deepEqual(f.calls, ["switch 5 -> 5", "switch 9 -> 14", "switch 31 -> 45", "finish"]);
    assert.equal(f.move.state, "done");
    assert.ok(r.elapsedMs >= 3 * settings.stepPauseMs, `each step observed for its pause (${r.elapsedMs} ms)`);
  });

  it("switches in batches of the rate (200 a second), pacing each", async () => {
    const f = fakeMove(1000);
    await drive(f);
    assert.deepEqual(f.calls.slice(0, 4), [
      "switch 100 -> 100",
      "switch 200 -> 300",
      "switch 200 -> 500",
      "switch 200 -> 700",
    ]);
  });

  it("rolls the move back itself after three looks in a row past the backlog limit", async () => {
    // Two bad looks then a good one reset the count: the step passes; three bad ones in a row fail it.
    const looks = [5000, 5000, 0, 5000, 5000, 5000];
    const f = fakeMove(45, { behind: () => looks.shift() ?? 0 });
    const r = await drive(f);
    assert.equal(r.outcome, "rolled_back");
    assert.match(
      r.reason ?? "",
      /step 2: 3 looks in a row with a sub-group's fan-out 5000 entries behind \(at most 1000\)/,
    );
    assert.deepEqual(f.calls, ["switch 5 -> 5", "switch 9 -> 14", "rollback 14", "rollback 0"]);
    assert.equal(f.move.state, "rolled_back");
    assert.equal(f.move.rollbackBy, "auto");
  });

  it("stops, switching nobody more, once an operator asked for the rollback during a step", async () => {
    const f = fakeMove(45);
    const r = await drive(f, {
      tick: (t) => {
        if (t > 4000 && f.move.rollbackBy === null) f.move.rollbackBy = "operator";
      },
    });
    assert.equal(r.outcome, "operator");
    assert.deepEqual(f.calls, ["switch 5 -> 5", "switch 9 -> 14"]);
  });

  it("lets go of the move, open, when it must (shutdown, lease lost), and a new driver resumes at that step", async () => {
    const f = fakeMove(45);
    let keep = true;
    const r = await drive(f, { keep: () => keep, tick: (t) => (keep = t < 1000) });
    assert.equal(r.outcome, "stopped");
    assert.equal(f.move.state, "dual");
    assert.deepEqual(f.calls, ["switch 5 -> 5"]);
    // The next leader observes step 1 again, then goes on.
    const again = await drive(f);
    assert.equal(again.outcome, "finished");
    assert.deepEqual(f.calls, ["switch 5 -> 5", "switch 9 -> 14", "switch 31 -> 45", "finish"]);
  });

  it("does not touch a move an operator is rolling back, and finishes a rollback it started itself", async () => {
    const byOperator = fakeMove(45);
    byOperator.move.rollbackBy = "operator";
    assert.equal((await drive(byOperator)).outcome, "operator");
    assert.deepEqual(byOperator.calls, []);
    const ours = fakeMove(45);
    ours.move.switched = 14;
    ours.move.rollbackBy = "auto";
    assert.equal((await drive(ours)).outcome, "rolled_back");
    assert.deepEqual(ours.calls, ["rollback 14", "rollback 0"]);
  });
});
