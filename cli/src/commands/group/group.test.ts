import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { offlineKubeStack } from "../../../../test/helpers/offline-kube-stack.ts";
import { UserError } from "../../errors.ts";
import { grow, rebalance } from "./grow.ts";
import { groupStatusReport, renderStatus, type GroupStatusResult } from "./index.ts";
import { GROUP_MESSAGES } from "./messages.ts";

const report: GroupStatusResult = {
  groupId: "7301234567890123456",
  name: "big",
  memberCount: 2001,
  diffusion: "read",
  headSeq: 42,
  subGroupCount: 2,
  capacity: 1000,
  warnRatio: 0.9,
  maxSubGroups: 64,
  neededSubGroups: 3,
  state: "over",
  subGroups: [
    { subGroup: 0, members: 1040, state: "over", fanoutSeq: 40, behind: 2, pendingMoves: 350 },
    { subGroup: 1, members: 961, state: "warn", fanoutSeq: 42, behind: 0, pendingMoves: 0 },
  ],
};

describe("imctl group status", () => {
  it("renders one row per sub-group with its fill, state, backlog and pending moves", () => {
    const text = renderStatus(report);
    assert.match(text, /^group 7301234567890123456 \(big\): 2001 members, read diffusion, head seq 42$/m);
    assert.match(text, /sub-groups: 2 \(needed 3, at most 64\); capacity 1000 members each, warn past 900; state over/);
    const rows = text.split("\n").filter((l) => /^[0-9]+ {2}/.test(l));
    assert.deepEqual(
      rows.map((l) => l.split(/\s{2,}/)),
      [
        ["0", "1040", "104 %", "over", "40", "2", "350"],
        ["1", "961", "96 %", "warn", "42", "0", "0"],
      ],
    );
    assert.match(text, /350 members are not in their hash placement yet/);
  });

  it("says who started the group's move (auto: the platform's trigger) and when it is rolling back", () => {
    const move = { moveId: "12", fromSubGroups: 2, toSubGroups: 3, planHead: 40, moving: 700, switched: 70 };
    const auto = renderStatus({ ...report, move: { ...move, state: "dual", startedBy: "auto", rollbackBy: null } });
    assert.match(auto, /^move 12 \(2 -> 3 sub-groups, started by auto\): in progress, dual write; 70 of 700 moving/m);
    const back = renderStatus({
      ...report,
      move: { ...move, state: "dual", startedBy: "auto", rollbackBy: "operator" },
    });
    assert.match(back, /started by auto\): rolling back \(asked by operator\); 70 of 700/);
    // A user-center older than automatic growth reports no startedBy: the operator started every move then.
    const old = renderStatus({ ...report, move: { ...move, state: "rolled_back" } });
    assert.match(old, /started by operator\): rolled back;/);
    assert.equal(
      groupStatusReport.safeParse({ ...report, move: { ...move, state: "dual", startedBy: "cron" } }).success,
      false,
    );
  });

  it("accepts user-center's report and refuses one with a field missing or out of range", () => {
    assert.deepEqual(groupStatusReport.parse(report), report);
    assert.equal(groupStatusReport.safeParse({ ...report, state: "full" }).success, false);
    assert.equal(groupStatusReport.safeParse({ ...report, subGroupCount: 0 }).success, false);
    const { subGroups: _drop, ...noSubGroups } = report;
    assert.equal(groupStatusReport.safeParse(noSubGroups).success, false);
  });
});

describe("imctl group grow on kubernetes", () => {
  it("refuses to start a move on a stack that names no Prometheus (no lag analysis), before contacting the cluster", async () => {
    const { stack, stateDir } = offlineKubeStack((s) => delete s.kubernetes.prometheus);
    process.env.IMCTL_STATE_DIR = stateDir;
    try {
      for (const run of [grow, rebalance])
        await assert.rejects(
          run("7301234567890123456", { stack, progress: () => undefined }),
          (e: unknown) => e instanceof UserError && e.message === GROUP_MESSAGES.noMetrics(stack),
        );
    } finally {
      delete process.env.IMCTL_STATE_DIR;
    }
  });
});
