import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { GroupMoveRefusal, type GroupMoveStep, type GroupTarget } from "../../targets/target.ts";
import { analysisQueries, ANALYSIS_DEFAULTS, judge, summarizeLooks } from "./analysis.ts";
import { renderMove, type MoveResult } from "./grow.ts";
import { MoveController, readMove, requestRollback, stepBackoffMs, stepTarget, type MoveRecord } from "./move.ts";

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/**
 * The platform side of a move as the message service answers it, in memory: enough to drive the controller through
 * its transitions (the real one is exercised by test/integration/groups.test.ts).
 */
class PlatformMove implements GroupTarget {
  readonly kind = "local" as const;
  readonly stateDir = mkdtempSync(join(tmpdir(), "group-move-"));
  switched = 0;
  state: "dual" | "done" | "rolled_back" = "dual";
  readonly calls: Array<[GroupMoveStep, number | undefined]> = [];
  behind = 0;
  onSwitch: () => void = () => undefined;
  /** Switch batches to refuse (HTTP `refuseStatus`) before answering. */
  refuse = 0;
  refuseStatus = 503;
  /** What Prometheus answers for each metric of a look (null: no sample); `prometheusDown` makes every query fail. */
  readonly prom: { lag: number | null; p99: number | null; errors: number | null } = { lag: 0.05, p99: 0.2, errors: 0 };
  prometheusDown = false;
  readonly queries: string[] = [];

  constructor(readonly moving: number) {
    dirs.push(this.stateDir);
  }

  withLock<T>(_c: string, fn: () => Promise<T>): Promise<T> {
    return fn();
  }

  metricsSource() {
    return "test";
  }

  async query(promql: string) {
    this.queries.push(promql);
    if (this.prometheusDown) throw new Error("connect ECONNREFUSED");
    const v = promql.includes("fanout_lag")
      ? this.prom.lag
      : promql.includes("delivery_latency")
        ? this.prom.p99
        : promql.includes("notifications_total")
          ? this.prom.errors
          : null;
    return v === null ? [] : [{ labels: {}, value: v }];
  }

  async groupStatus() {
    return { subGroups: [{ behind: this.behind }] };
  }

  private move() {
    return {
      moveId: "1",
      fromSubGroups: 2,
      toSubGroups: 4,
      planHead: 10,
      moving: this.moving,
      switched: this.switched,
      state: this.state,
    };
  }

  async groupMove(_g: string, step: GroupMoveStep, body?: Record<string, unknown>) {
    const limit = typeof body?.limit === "number" ? body.limit : undefined;
    this.calls.push([step, limit]);
    if (step === "switch" && this.refuse > 0) {
      this.refuse--;
      throw new GroupMoveRefusal(
        "overloaded",
        "database: too many requests waiting for a connection",
        this.refuseStatus,
      );
    }
    if (step === "switch") {
      const n = Math.min(limit ?? 0, this.moving - this.switched);
      this.switched += n;
      this.onSwitch();
      return { move: this.move(), changed: n };
    }
    if (step === "rollback") {
      const n = Math.min(limit ?? 0, this.switched);
      this.switched -= n;
      if (n === 0) this.state = "rolled_back";
      return { move: this.move(), changed: n, done: n === 0 };
    }
    if (step === "finish") this.state = "done";
    return this.move();
  }
}

function record(moving: number, settings: Partial<Record<keyof MoveRecord["settings"], number>> = {}): MoveRecord {
  const now = new Date().toISOString();
  return {
    apiVersion: 1,
    groupId: "7",
    kind: "grow",
    moveId: "1",
    phase: "Switching",
    fromSubGroups: 2,
    toSubGroups: 4,
    moving,
    switched: 0,
    steps: [10, 30, 100],
    step: 0,
    settings: {
      stepPauseSeconds: 0,
      ratePerSecond: 1000,
      maxBehind: 100,
      maxLagSeconds: 10,
      maxLatencyP99Seconds: 1,
      maxNotifyErrors: 10,
      failureLimit: 2,
      ...settings,
    },
    measurements: [],
    timeline: [],
    startedAt: now,
    updatedAt: now,
    startedBy: "test",
  };
}

describe("group move workflow", () => {
  it("switches each step's share of the movers, rounded up, and never more than all of them", () => {
    assert.deepEqual(
      [10, 30, 100].map((p) => stepTarget(37, p)),
      [4, 12, 37],
    );
    assert.equal(stepTarget(1, 10), 1);
    assert.equal(stepTarget(0, 100), 0);
  });

  it("fails a look past any limit, naming it; a metric without a sample fails none", () => {
    const s = { maxBehind: 100, maxLagSeconds: 5, maxLatencyP99Seconds: 0.5, maxNotifyErrors: 2 };
    const good = { maxBehind: 100, lagSeconds: 5, latencyP99Seconds: 0.5, notifyErrors: 2 };
    assert.deepEqual(judge(s, good), []);
    assert.deepEqual(judge(s, { ...good, maxBehind: 101 }), ["backlog"]);
    assert.deepEqual(judge(s, { ...good, lagSeconds: 5.5 }), ["fan-out lag"]);
    assert.deepEqual(judge(s, { ...good, latencyP99Seconds: 0.51 }), ["delivery p99"]);
    assert.deepEqual(judge(s, { ...good, notifyErrors: 2.5, latencyP99Seconds: 3 }), ["delivery p99", "notify errors"]);
    assert.deepEqual(judge(s, { maxBehind: 0, lagSeconds: null, latencyP99Seconds: null, notifyErrors: null }), []);
    // A record written before the delivery and notify limits existed is judged by their defaults.
    const old = { maxBehind: 100, maxLagSeconds: 5 };
    assert.deepEqual(judge(old, { ...good, latencyP99Seconds: ANALYSIS_DEFAULTS.maxLatencyP99Seconds + 0.1 }), [
      "delivery p99",
    ]);
    assert.deepEqual(judge(old, { ...good, notifyErrors: ANALYSIS_DEFAULTS.maxNotifyErrors }), []);
  });

  it("reads the group's fan-out lag, the delivery p99 and the failed notifications from Prometheus", () => {
    assert.deepEqual(analysisQueries("7"), {
      lagSeconds: 'max(im_message_subgroup_fanout_lag_seconds{group="7"})',
      latencyP99Seconds: "histogram_quantile(0.99, sum by (le) (rate(im_delivery_latency_seconds_bucket[1m])))",
      notifyErrors: 'sum(increase(im_message_notifications_total{result!="ok"}[1m]))',
    });
  });

  it("runs 10/30/100 in batches of the rate, observes each step, finishes, and persists every transition", async () => {
    const t = new PlatformMove(37);
    const lines: string[] = [];
    const r = await new MoveController(t, record(37, { ratePerSecond: 5 }), (l) => lines.push(l)).run();
    assert.equal(r.phase, "Succeeded");
    assert.equal(r.step, 3);
    assert.equal(t.state, "done");
    const switches = t.calls.filter(([s]) => s === "switch").map(([, n]) => n);
    assert.ok(
      switches.every((n) => (n ?? 0) <= 5),
      `batches of at most the rate: ${switches.join(",")}`,
    );
    assert.equal(
      switches.reduce((a, b) => (a ?? 0) + (b ?? 0), 0),
      37,
    );
    assert.deepEqual(
      lines.filter((l) => /step [0-9]\/3 \(/.test(l)).map((l) => /: ([0-9]+) of 37/.exec(l)?.[1]),
      ["4", "12", "37"],
    );
    const saved = readMove(t.stateDir, "7");
    assert.equal(saved?.phase, "Succeeded");
    assert.equal(saved?.controllerPid, undefined);
  });

  it("rolls back when the analysis fails its limit of looks in a row", async () => {
    const t = new PlatformMove(20);
    t.behind = 500;
    const r = await new MoveController(t, record(20, { stepPauseSeconds: 3 }), () => undefined).run();
    assert.equal(r.phase, "RolledBack");
    assert.equal(r.step, 0);
    assert.match(r.reason ?? "", /2 looks in a row past the limits \(backlog; backlog 500, at most 100 entries/);
    assert.equal(t.switched, 0);
    assert.equal(t.state, "rolled_back");
  });

  it("rolls back when the delivery p99 passes its limit, and says so in the progress and the reason", async () => {
    const t = new PlatformMove(20);
    t.prom.p99 = 2.5;
    const lines: string[] = [];
    const r = await new MoveController(t, record(20, { stepPauseSeconds: 3 }), (l) => lines.push(l)).run();
    assert.equal(r.phase, "RolledBack");
    assert.equal(
      r.reason,
      "2 looks in a row past the limits (delivery p99; backlog 0, at most 100 entries; fan-out lag 0.05, at most " +
        "10 s; delivery p99 2.5, at most 1 s; notify errors 0, at most 10 in 1m)",
    );
    assert.equal(lines.filter((l) => /look failed \([12] in a row\), past delivery p99: /.test(l)).length, 2);
    const last = r.measurements[r.measurements.length - 1];
    assert.deepEqual(
      { p99: last?.latencyP99Seconds, errors: last?.notifyErrors, ok: last?.ok, failed: last?.failed },
      { p99: 2.5, errors: 0, ok: false, failed: ["delivery p99"] },
    );
    assert.equal(t.switched, 0);
  });

  it("rolls back when the notify errors pass their limit", async () => {
    const t = new PlatformMove(20);
    t.prom.errors = 11;
    const r = await new MoveController(t, record(20, { stepPauseSeconds: 3 }), () => undefined).run();
    assert.equal(r.phase, "RolledBack");
    assert.match(r.reason ?? "", /past the limits \(notify errors; .*notify errors 11, at most 10 in 1m\)$/);
  });

  it("no sample fails no look but is reported: each step's summary counts the looks without one", async () => {
    const t = new PlatformMove(10);
    t.prom.p99 = null;
    t.prom.errors = null;
    const lines: string[] = [];
    const r = await new MoveController(t, record(10, { stepPauseSeconds: 1.5 }), (l) => lines.push(l)).run();
    assert.equal(r.phase, "Succeeded");
    const summaries = lines.filter((l) => /observed step [1-3]\/3: /.test(l));
    assert.equal(summaries.length, 3);
    for (const l of summaries) {
      const n = /: ([0-9]+) looks, /.exec(l)?.[1];
      assert.ok(
        l.endsWith(
          `: ${n} looks, 0 failed; worst: backlog 0, at most 100 entries; fan-out lag 0.05, at most 10 s; delivery p99 ` +
            `no sample, at most 1 s; notify errors no sample, at most 10 in 1m; no sample: delivery p99 in ${n}, ` +
            `notify errors in ${n}`,
        ),
        l,
      );
    }
    assert.ok(r.measurements.every((m) => m.ok && m.latencyP99Seconds === null && m.notifyErrors === null));
    // Prometheus down: the backlog alone decides, and the move still finishes.
    const down = new PlatformMove(10);
    down.prometheusDown = true;
    const r2 = await new MoveController(down, record(10), () => undefined).run();
    assert.equal(r2.phase, "Succeeded");
    assert.ok(r2.measurements.every((m) => m.lagSeconds === null && m.latencyP99Seconds === null));
  });

  it("summarizes a step's looks with the worst of each metric", () => {
    const s = { ...ANALYSIS_DEFAULTS };
    const looks = [
      { maxBehind: 3, lagSeconds: 0.5, latencyP99Seconds: 0.1234, notifyErrors: 0, ok: true },
      { maxBehind: 1, lagSeconds: null, latencyP99Seconds: 1.5, notifyErrors: 2, ok: false },
    ];
    assert.equal(
      summarizeLooks(s, looks),
      "2 looks, 1 failed; worst: backlog 3, at most 1000 entries; fan-out lag 0.5, at most 10 s; " +
        "delivery p99 1.5, at most 1 s; notify errors 2, at most 10 in 1m; no sample: fan-out lag in 1",
    );
  });

  it("rolls back midway when an operator asks (the intent file), from wherever the switch is", async () => {
    const t = new PlatformMove(50);
    t.onSwitch = () => {
      if (t.switched >= 15) requestRollback(t.stateDir, "7", "test");
    };
    const r = await new MoveController(t, record(50), () => undefined).run();
    assert.equal(r.phase, "RolledBack");
    assert.match(r.reason ?? "", /rollback asked by .*: test/);
    assert.equal(t.switched, 0);
  });

  it("tries a switch batch the platform refuses for now again, with backoff, and still finishes", async () => {
    const t = new PlatformMove(12);
    t.refuse = 2;
    const lines: string[] = [];
    const r = await new MoveController(t, record(12), (l) => lines.push(l)).run();
    assert.equal(r.phase, "Succeeded");
    assert.equal(t.switched, 12);
    assert.equal(lines.filter((l) => /switch batch refused for now \(overloaded/.test(l)).length, 2);
    assert.ok(stepBackoffMs(1, () => 0) >= 125 && stepBackoffMs(20, () => 1) <= 5000);
  });

  it("does not retry a refusal that is not temporary: the workflow fails with the move left for a rollback", async () => {
    const t = new PlatformMove(12);
    t.refuse = 1;
    t.refuseStatus = 409;
    await assert.rejects(new MoveController(t, record(12), () => undefined).run(), GroupMoveRefusal);
    assert.equal(t.switched, 0);
  });

  it("renders the result with the steps, the last look and why it rolled back", () => {
    const res: MoveResult = {
      groupId: "7",
      kind: "grow",
      moveId: "3",
      phase: "RolledBack",
      fromSubGroups: 2,
      toSubGroups: 4,
      moving: 10,
      switched: 0,
      steps: [10, 30, 100],
      stepsDone: 1,
      elapsedSeconds: 12.5,
      reason: "rollback asked by ops/1: x",
      limits: { ...ANALYSIS_DEFAULTS, maxLatencyP99Seconds: 0.5 },
      lastMeasurement: {
        at: "",
        step: 2,
        maxBehind: 3,
        lagSeconds: 0.123,
        latencyP99Seconds: 0.0456,
        notifyErrors: null,
        ok: true,
      },
    };
    assert.equal(
      renderMove(res),
      [
        "group 7: grow 2 -> 4 sub-groups, move 3: RolledBack after 12.5 s",
        "0 of 10 moving members switched; steps 10 %, 30 %, 100 % (1 of 3 done)",
        "last look: backlog 3, at most 1000 entries; fan-out lag 0.123, at most 10 s; delivery p99 0.046, at most 0.5 s; " +
          "notify errors no sample, at most 10 in 1m",
        "rolled back because: rollback asked by ops/1: x",
      ].join("\n"),
    );
  });
});
