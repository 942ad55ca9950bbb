import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { REPO_ROOT } from "../../base/root.mjs";
import { parseSpec } from "./spec.ts";
import { groupsEnv } from "./spec-groups.ts";

const AUTO_DEFAULTS = {
  autoGrow: false,
  autoGrowIntervalSeconds: 60,
  autoGrowStepPauseSeconds: 300,
  autoGrowCooldownSeconds: 1800,
};

const raw = () => parse(readFileSync(join(REPO_ROOT, "stacks", "local.yaml"), "utf8")) as Record<string, any>;

/** The first problem of stacks/local.yaml with messaging.groups set to `groups`, or null when it is accepted. */
function problem(groups: unknown): string | null {
  const r = raw();
  r.messaging.groups = groups;
  try {
    parseSpec(r, "s.yaml");
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

describe("platform spec: messaging.groups", () => {
  it("defaults every field (capacity 1000, warn at 0.9, 64 sub-groups, switch 10/30/100, no automatic growth)", () => {
    const r = raw();
    delete r.messaging.groups;
    assert.deepEqual(parseSpec(r, "s.yaml").messaging.groups, {
      subGroupCapacity: 1000,
      warnRatio: 0.9,
      maxSubGroups: 64,
      switchSteps: [10, 30, 100],
      ...AUTO_DEFAULTS,
    });
    delete r.messaging;
    assert.equal(parseSpec(r, "s.yaml").messaging.groups.subGroupCapacity, 1000);
  });

  it("keeps what the stack sets and fills in the rest", () => {
    const r = raw();
    r.messaging.groups = { subGroupCapacity: 4, switchSteps: [50, 100] };
    assert.deepEqual(parseSpec(r, "s.yaml").messaging.groups, {
      subGroupCapacity: 4,
      warnRatio: 0.9,
      maxSubGroups: 64,
      switchSteps: [50, 100],
      ...AUTO_DEFAULTS,
    });
    r.messaging.groups = { autoGrow: true, autoGrowStepPauseSeconds: 2 };
    const g = parseSpec(r, "s.yaml").messaging.groups;
    assert.equal(g.autoGrow, true);
    assert.equal(g.autoGrowStepPauseSeconds, 2);
    assert.equal(g.autoGrowIntervalSeconds, 60);
  });

  it("names the field, the value and what is allowed", () => {
    assert.equal(
      problem({ switchSteps: [10, 5, 100] }),
      "s.yaml: messaging.groups.switchSteps: got [10,5,100]; increasing percentages from 1 to 100, ending at 100",
    );
    assert.equal(
      problem({ switchSteps: [10, 30] }),
      "s.yaml: messaging.groups.switchSteps: got [10,30]; increasing percentages from 1 to 100, ending at 100",
    );
    assert.equal(problem({ warnRatio: 2 }), "s.yaml: messaging.groups.warnRatio: got 2; must be at most 1");
    assert.equal(
      problem({ subGroupCapacity: 1 }),
      "s.yaml: messaging.groups.subGroupCapacity: got 1; must be at least 2",
    );
    assert.equal(problem({ maxSubGroups: 0 }), "s.yaml: messaging.groups.maxSubGroups: got 0; must be at least 1");
    assert.equal(problem({ autoGrow: "yes" }), 's.yaml: messaging.groups.autoGrow: got "yes"; expected boolean');
    assert.equal(
      problem({ autoGrowIntervalSeconds: 0 }),
      "s.yaml: messaging.groups.autoGrowIntervalSeconds: got 0; must be at least 1",
    );
    assert.equal(
      problem({ autoGrowStepPauseSeconds: 1.5 }),
      "s.yaml: messaging.groups.autoGrowStepPauseSeconds: got 1.5; expected int",
    );
    assert.equal(
      problem({ autoGrowCooldownSeconds: -1 }),
      "s.yaml: messaging.groups.autoGrowCooldownSeconds: got -1; must be at least 0",
    );
    assert.equal(
      problem({ capacity: 10 }),
      "s.yaml: messaging.groups.capacity: unknown field; allowed here: subGroupCapacity, warnRatio, maxSubGroups, " +
        "switchSteps, autoGrow, autoGrowIntervalSeconds, autoGrowStepPauseSeconds, autoGrowCooldownSeconds",
    );
  });

  it("passes the values to the services as GROUP_* variables", () => {
    const g = { subGroupCapacity: 4, warnRatio: 0.75, maxSubGroups: 8, switchSteps: [10, 30, 100] };
    assert.deepEqual(groupsEnv({ ...g, ...AUTO_DEFAULTS, autoGrow: true }), {
      GROUP_SUB_GROUP_CAPACITY: "4",
      GROUP_WARN_RATIO: "0.75",
      GROUP_MAX_SUB_GROUPS: "8",
      GROUP_SWITCH_STEPS: "10,30,100",
      GROUP_AUTO_GROW: "true",
      GROUP_AUTO_GROW_INTERVAL_S: "60",
      GROUP_AUTO_GROW_STEP_PAUSE_S: "300",
      GROUP_AUTO_GROW_COOLDOWN_S: "1800",
    });
  });
});
