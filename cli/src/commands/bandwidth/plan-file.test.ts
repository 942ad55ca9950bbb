import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { UserError } from "../../errors.ts";
import { planProblem, readPlan, renderPlanFile, type BandwidthPlan } from "./plan-file.ts";
import { verticalSteps, stepName } from "./upgrade.ts";
import { tempDir } from "../../../../test/helpers/temp-dir.ts";

const good: BandwidthPlan = {
  apiVersion: "imctl.im-platform/v1",
  kind: "BandwidthPlan",
  metadata: {
    id: "bw-20261201-010000",
    createdAt: "2026-12-01T01:00:00.000Z",
    stack: "stacks/local.yaml",
    target: "local",
  },
  audit: { since: "24h", peakBytesPerSecond: 40000, p95BytesPerSecond: 38000, avgBytesPerSecond: 20000, flags: [] },
  capacity: {
    growth: 0.2,
    targetUtilisation: 0.7,
    requiredTotalBytesPerSecond: 68571,
    requiredPerInstanceBytesPerSecond: 35000,
    requiredInstances: 3,
  },
  options: [
    {
      name: "vertical",
      summary: "raise",
      applicable: true,
      cost: [{ cloud: "local", item: "caps", monthlyUsd: 0, source: "local target", checked: true }],
    },
  ],
  change: {
    option: "vertical",
    gateways: [
      { instance: "gateway-1", fromBytesPerSecond: 16384, toBytesPerSecond: 35000 },
      { instance: "gateway-2", fromBytesPerSecond: 16384, toBytesPerSecond: 35000 },
    ],
  },
  verify: {
    scenario: "messaging",
    vus: 20,
    rate: 10,
    duration: "30s",
    maxP99Ms: 150,
    env: ["BODY_BYTES=2000"],
    maxUtilisation: 0.7,
  },
  watch: { duration: "30m" },
  window: { startHourUtc: 2, hours: 2, estimatedMinutes: 40, bestGuess: true, note: "02:00-04:00 UTC is a best guess" },
  rollback: { steps: ["imctl bandwidth rollback --yes"] },
};

const edit = (f: (p: Record<string, any>) => void): unknown => {
  const p = structuredClone(good) as Record<string, any>;
  f(p);
  return p;
};

describe("bandwidth plan file", () => {
  it("round-trips through YAML and validates", () => {
    const dir = tempDir("bwplan");
    const file = join(dir, "p.yaml");
    writeFileSync(file, renderPlanFile(good));
    assert.deepEqual(readPlan(file), good);
    assert.equal(planProblem(file, parse(renderPlanFile(good))), null);
  });

  it("names the bad field, its value and what is allowed, in one line", () => {
    const f = "p.yaml";
    assert.equal(
      planProblem(
        f,
        edit((p) => (p.verify.maxUtilisation = 1.5)),
      ),
      "plan p.yaml: verify.maxUtilisation: got 1.5; allowed: at most 1",
    );
    assert.equal(
      planProblem(
        f,
        edit((p) => (p.change.gateways[1].toBytesPerSecond = 10)),
      ),
      "plan p.yaml: change.gateways.1.toBytesPerSecond: got 10; allowed: at least 1024",
    );
    assert.equal(
      planProblem(
        f,
        edit((p) => (p.change.gateways[0].instance = "message-1")),
      ),
      'plan p.yaml: change.gateways.0.instance: got "message-1"; allowed: a gateway instance id such as gateway-1',
    );
    assert.equal(
      planProblem(
        f,
        edit((p) => (p.verify.duration = "soon")),
      ),
      'plan p.yaml: verify.duration: got "soon"; allowed: a number with ms, s, m or h, e.g. 30s',
    );
    assert.equal(
      planProblem(
        f,
        edit((p) => (p.metadata.target = "mainframe")),
      ),
      'plan p.yaml: metadata.target: got "mainframe"; allowed: one of "local", "kubernetes"',
    );
    assert.equal(
      planProblem(
        f,
        edit((p) => (p.verify.extra = true)),
      ),
      "plan p.yaml: verify.extra: got true; allowed: no such field (remove it; a BandwidthPlan has only the fields plan writes)",
    );
    assert.equal(
      planProblem(
        f,
        edit((p) => delete p.watch),
      ),
      "plan p.yaml: watch: got nothing; allowed: a value of type object",
    );
  });

  it("a file that is missing or not YAML is a UserError naming the file", () => {
    assert.throws(
      () => readPlan("/nonexistent/plan.yaml"),
      (e: unknown) => e instanceof UserError && /--plan: cannot read \/nonexistent\/plan.yaml/.test(e.message),
    );
    const dir = tempDir("bwplan");
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, "a: [1, 2\n");
    assert.throws(
      () => readPlan(bad),
      (e: unknown) => e instanceof UserError && e.message.startsWith(`plan ${bad}: (file): got unparseable YAML`),
    );
  });

  it("every number and duration an operator may edit has a range; long values are quoted as an excerpt", () => {
    const f = "p.yaml";
    assert.equal(
      planProblem(
        f,
        edit((p) => (p.watch.duration = "99999999999h")),
      ),
      'plan p.yaml: watch.duration: got "99999999999h"; allowed: from 1s to 168h',
    );
    assert.equal(
      planProblem(
        f,
        edit((p) => (p.capacity.requiredInstances = 100_000_000)),
      ),
      "plan p.yaml: capacity.requiredInstances: got 100000000; allowed: at most 1000",
    );
    const long = planProblem(
      f,
      edit((p) => (p.metadata.id = "x".repeat(10_000))),
    );
    assert.ok(long !== null && long.length < 250, long ?? "");
  });

  it("a plan file above 1 MiB, or a directory, is refused naming the limit", () => {
    const dir = tempDir("bwplan");
    const big = join(dir, "big.yaml");
    writeFileSync(big, `# ${"x".repeat(1024 * 1024)}\n`);
    assert.throws(
      () => readPlan(big),
      (e: unknown) =>
        e instanceof UserError &&
        e.message ===
          `--plan: ${big}: the plan file is larger than the limit of 1 MiB (a plan file is a few KB of YAML)`,
    );
    assert.throws(
      () => readPlan(dir),
      (e: unknown) => e instanceof UserError && /the plan file is a directory/.test(e.message),
    );
  });

  it("a vertical plan's steps: backup, shift, canary, verify, the rest, full verify, watch", () => {
    assert.deepEqual(verticalSteps(good, 60).map(stepName), [
      "backup",
      "shift traffic",
      "adjust gateway-1 to 35000 B/s",
      "verify (canary: gateway-1)",
      "adjust gateway-2 to 35000 B/s",
      "verify (full: gateway-1, gateway-2)",
      "watch 60 s",
    ]);
  });
});
