import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decide, resumeStep, stepTarget, type AutoGrowPolicy, type GroupLook } from "./auto-grow-decide.ts";

const policy: AutoGrowPolicy = { capacity: 1000, warnRatio: 0.9, maxSubGroups: 64, cooldownSeconds: 1800 };

/** A group of `perSub` members per sub-group, everyone in its placement, no move ever. */
function look(perSub: number[], over: Partial<GroupLook> = {}): GroupLook {
  return {
    groupId: "7301234567890123456",
    members: perSub.reduce((a, b) => a + b, 0),
    subGroups: perSub.length,
    subGroupMembers: perSub,
    pendingMoves: 0,
    placedSubGroupMembers: perSub,
    lastMove: null,
    ...over,
  };
}

const closed = (state: "done" | "rolled_back", agoS: number) => ({
  moveId: "41",
  state,
  startedBy: "auto" as const,
  closedAtMs: -agoS * 1000,
});

describe("auto-grow: the decision for one group", () => {
  it("leaves a group alone while no sub-group is past the warn bar (900 of 1,000 is not past it)", () => {
    const d = decide(look([900, 850]), policy, 0);
    assert.equal(d.action, "skip");
    assert.match(d.reason, /no sub-group past its warn bar \(most members 900, bar 900\)/);
  });

  it("grows a group past the bar to the count that puts the average under it, at least one more", () => {
    assert.deepEqual(decide(look([950]), policy, 0), {
      groupId: "7301234567890123456",
      action: "grow",
      from: 1,
      to: 2,
      reason: "a sub-group has 950 members, past the warn bar 900; 950 members",
    });
    // 3 sub-groups of 920: 2,760 members need ceil(2760 / 900) = 4.
    assert.equal((decide(look([920, 920, 920]), policy, 0) as { to: number }).to, 4);
    // Far past (a group created large with one sub-group is not possible, but a burst of joins is): 5,000 members.
    assert.equal((decide(look([1000, 1000, 1000, 1000, 1000]), policy, 0) as { to: number }).to, 6);
  });

  it("never grows past maxSubGroups; at it, a group with nobody pending is left with its reason", () => {
    assert.equal((decide(look([990, 990]), { ...policy, maxSubGroups: 3 }, 0) as { to: number }).to, 3);
    const d = decide(look([990, 990, 990]), { ...policy, maxSubGroups: 3 }, 0);
    assert.equal(d.action, "skip");
    assert.match(d.reason, /has the most sub-groups allowed \(3\)/);
  });

  it("rebalances when the members placed before the last growth are what fills a sub-group", () => {
    // 1,000 members in sub-group 0 when the count rose to 2 on the 1,001st: placed, they fill about 500 each.
    const g = look([1000, 1], { pendingMoves: 497, placedSubGroupMembers: [504, 497] });
    const d = decide(g, policy, 0);
    assert.equal(d.action, "rebalance");
    assert.deepEqual([(d as { from: number }).from, (d as { to: number }).to], [2, 2]);
    assert.match(d.reason, /497 members are not in their placement, placed they fill at most 504/);
  });

  it("grows instead when placing the pending members would still leave a sub-group past the bar", () => {
    const g = look([1000, 900], { pendingMoves: 30, placedSubGroupMembers: [960, 940] });
    assert.deepEqual([decide(g, policy, 0).action, (decide(g, policy, 0) as { to: number }).to], ["grow", 3]);
  });

  it("at maxSubGroups, still rebalances the pending members", () => {
    const g = look([1000, 900], { pendingMoves: 30, placedSubGroupMembers: [960, 940] });
    assert.equal(decide(g, { ...policy, maxSubGroups: 2 }, 0).action, "rebalance");
  });

  it("never starts while a move of the group is open, whoever started it", () => {
    for (const startedBy of ["operator", "auto"] as const) {
      const d = decide(look([990]), policy, 0);
      assert.equal(d.action, "grow");
      const open = decide(
        look([990], { lastMove: { moveId: "7", state: "dual", startedBy, closedAtMs: null } }),
        policy,
        0,
      );
      assert.deepEqual(open, {
        groupId: "7301234567890123456",
        action: "skip",
        code: "move_open",
        reason: `move 7 is open (started by ${startedBy})`,
      });
    }
  });

  it("waits out the cooldown after the group's last move, then acts", () => {
    const cooling = decide(look([990], { lastMove: closed("done", 600) }), policy, 0);
    assert.equal(cooling.action, "skip");
    assert.match(cooling.reason, /cooling down after move 41 \(1200 s left\)/);
    assert.equal(decide(look([990], { lastMove: closed("done", 1801) }), policy, 0).action, "grow");
    assert.equal(
      decide(look([990], { lastMove: closed("done", 0) }), { ...policy, cooldownSeconds: 0 }, 0).action,
      "grow",
    );
  });

  it("never retries a group whose last move was rolled back: an operator decides the next one", () => {
    const d = decide(look([990], { lastMove: closed("rolled_back", 86_400) }), policy, 0);
    assert.equal(d.action, "skip");
    assert.match(d.reason, /its last move 41 was rolled back; an operator decides the next one/);
  });

  it("the warn bar follows the stack: capacity 4 at 0.9 warns at 4 members and grows to 2", () => {
    const small = { ...policy, capacity: 4 };
    assert.equal(decide(look([3]), small, 0).action, "skip");
    assert.deepEqual((decide(look([4]), small, 0) as { to: number }).to, 2);
  });
});

describe("auto-grow: resuming a move from the database", () => {
  it("resumes at the first step whose share is not all switched; a step switched is observed again first", () => {
    // 45 moving, steps 10/30/100: targets 5, 14, 45.
    assert.deepEqual([stepTarget(45, 10), stepTarget(45, 30), stepTarget(45, 100)], [5, 14, 45]);
    assert.equal(resumeStep(45, 0, [10, 30, 100]), 0);
    assert.equal(resumeStep(45, 4, [10, 30, 100]), 0);
    // Step 1's 5 switched: its observation may have been cut short, so it is observed again, never skipped.
    assert.equal(resumeStep(45, 5, [10, 30, 100]), 0);
    assert.equal(resumeStep(45, 6, [10, 30, 100]), 1);
    assert.equal(resumeStep(45, 14, [10, 30, 100]), 1);
    assert.equal(resumeStep(45, 15, [10, 30, 100]), 2);
  });

  it("with everyone switched, observes the last step again before the finish", () => {
    assert.equal(resumeStep(45, 45, [10, 30, 100]), 2);
    // Nobody to move (a tiny group): from the first step, each observed, none switching anyone.
    assert.equal(resumeStep(0, 0, [10, 30, 100]), 0);
  });
});
