/**
 * The upgrade state machine against an in-memory target (no k6 step is reached here; the integration test runs the
 * verifications on the real platform): persistence after every step, rollback to the backup when a step fails, the
 * refusal to start over an interrupted upgrade, and --resume.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { UserError } from "../../errors.ts";
import type { BandwidthTarget, ConfigSnapshot, GatewayCap } from "../../targets/target.ts";
import { renderPlanFile, type BandwidthPlan } from "./plan-file.ts";
import { BANDWIDTH } from "../../../../infra/lib/pricing.ts";
import { parseGrowth } from "./plan.ts";
import { latestUpgrade, loadUpgrade, rollback, upgrade, verticalSteps, type UpgradeState } from "./upgrade.ts";
import { upgradeFile } from "./store.ts";
import { tempDir } from "../../../../test/helpers/temp-dir.ts";

function fakeTarget(opts: { failSetCapFor?: string } = {}) {
  const dir = tempDir("bwfake");
  const caps = new Map<string, number>([
    ["gateway-1", 16384],
    ["gateway-2", 16384],
  ]);
  let persisted: Record<string, number> | null = null;
  const restored: ConfigSnapshot[] = [];
  const t = {
    kind: "local" as const,
    stack: "stacks/local.yaml",
    stateDir: dir,
    withLock: <T>(_c: string, fn: () => Promise<T>) => fn(),
    edge: () => ({ http: "http://127.0.0.1:1", ws: "ws://127.0.0.1:1/ws" }),
    query: async () => [],
    queryRange: async () => [],
    gatewayCaps: async (): Promise<GatewayCap[]> =>
      [...caps].map(([instance, bytesPerSecond]) => ({ instance, bytesPerSecond })),
    setGatewayCap: async (instance: string, bytesPerSecond: number) => {
      if (instance === opts.failSetCapFor) throw new Error(`PUT /admin/v1/egress-cap on ${instance} answered 503`);
      caps.set(instance, bytesPerSecond);
      persisted = { ...(persisted ?? {}), [instance]: bytesPerSecond };
    },
    snapshotConfig: async (): Promise<ConfigSnapshot> => ({
      takenAt: new Date().toISOString(),
      target: "local",
      gatewayCaps: await t.gatewayCaps(),
      persistedCaps: persisted,
    }),
    restoreConfig: async (s: ConfigSnapshot) => {
      restored.push(s);
      for (const c of s.gatewayCaps) caps.set(c.instance, c.bytesPerSecond);
      persisted = s.persistedCaps;
    },
  };
  // Only the bandwidth part of BandwidthTarget is exercised; the rest of the interface is not reached.
  return { target: t as unknown as BandwidthTarget, caps, restored, persisted: () => persisted, dir };
}

const plan: BandwidthPlan = {
  apiVersion: "imctl.im-platform/v1",
  kind: "BandwidthPlan",
  metadata: { id: "bw-test", createdAt: "2026-12-01T01:00:00.000Z", stack: "stacks/local.yaml", target: "local" },
  audit: { since: "24h", peakBytesPerSecond: 32768, p95BytesPerSecond: 32768, avgBytesPerSecond: 20000, flags: [] },
  capacity: {
    growth: 0.2,
    targetUtilisation: 0.7,
    requiredTotalBytesPerSecond: 80000,
    requiredPerInstanceBytesPerSecond: 40000,
    requiredInstances: 5,
  },
  options: [],
  change: {
    option: "vertical",
    gateways: [
      { instance: "gateway-1", fromBytesPerSecond: 16384, toBytesPerSecond: 40000 },
      { instance: "gateway-2", fromBytesPerSecond: 16384, toBytesPerSecond: 40000 },
    ],
  },
  verify: { scenario: "messaging", vus: 20, rate: 10, duration: "10s", maxP99Ms: 150, env: [], maxUtilisation: 0.7 },
  watch: { duration: "1s" },
  window: { startHourUtc: 2, hours: 1, estimatedMinutes: 20, bestGuess: true, note: "" },
  rollback: { steps: ["imctl bandwidth rollback --yes"] },
};

function planFile(dir: string, p: BandwidthPlan = plan): string {
  const f = join(dir, "plan.yaml");
  writeFileSync(f, renderPlanFile(p));
  return f;
}

describe("bandwidth upgrade state machine", () => {
  it("a failing step restores the backup: caps and recorded caps as they were, phase RolledBack, persisted", async () => {
    const f = fakeTarget({ failSetCapFor: "gateway-1" });
    const st = await upgrade(f.target, { plan: planFile(f.dir), yes: true, scrapeSeconds: 1 });
    assert.equal(st.phase, "RolledBack");
    assert.deepEqual(
      st.history.map((h) => h.outcome),
      ["Succeeded", "Succeeded", "Failed"],
    );
    assert.match(
      st.reason ?? "",
      /adjust gateway-1 to 40000 B\/s error: PUT \/admin\/v1\/egress-cap on gateway-1 answered 503/,
    );
    assert.equal(f.restored.length, 1);
    assert.deepEqual(Object.fromEntries(f.caps), { "gateway-1": 16384, "gateway-2": 16384 });
    assert.equal(f.persisted(), null);
    assert.deepEqual(loadUpgrade(f.target, st.id).phase, "RolledBack", "the state file says so too");
  });

  it("refuses a stale plan, an unknown gateway and a missing --yes before any change", async () => {
    const f = fakeTarget();
    f.caps.set("gateway-1", 20000);
    await assert.rejects(
      upgrade(f.target, { plan: planFile(f.dir), yes: true, scrapeSeconds: 1 }),
      (e: unknown) =>
        e instanceof UserError &&
        /gateway-1 has a cap of 20000 B\/s now, the plan was made for 16384 B\/s/.test(e.message),
    );
    f.caps.set("gateway-1", 16384);
    const other = structuredClone(plan);
    if (other.change.option === "vertical" && other.change.gateways[1]) other.change.gateways[1].instance = "gateway-9";
    await assert.rejects(
      upgrade(f.target, { plan: planFile(f.dir, other), yes: true, scrapeSeconds: 1 }),
      (e: unknown) =>
        e instanceof UserError && e.message === 'change.gateways: got "gateway-9"; allowed: gateway-1, gateway-2',
    );
    await assert.rejects(
      upgrade(f.target, { plan: planFile(f.dir), scrapeSeconds: 1 }),
      (e: unknown) => e instanceof UserError && /pass --yes/.test(e.message),
    );
    assert.equal(latestUpgrade(f.target), null, "nothing was started");
  });

  it("an interrupted upgrade blocks a new one until resumed; --resume runs the remaining steps", async () => {
    const f = fakeTarget();
    const steps = verticalSteps(plan, 1);
    const watchAt = steps.findIndex((s) => "watch" in s);
    const now = new Date().toISOString();
    const st: UpgradeState = {
      id: "20261201-010000-bw-test",
      plan,
      planFile: "plan.yaml",
      stack: "stacks/local.yaml",
      phase: "Running",
      pid: 2 ** 22 + 12345, // above pid_max's default: never alive
      startedAt: now,
      updatedAt: now,
      endedAt: null,
      steps,
      next: watchAt,
      history: [],
      backup: await f.target.snapshotConfig(),
      verifications: [],
      rollback: null,
      reason: null,
      files: { dir: f.dir, utilisationChart: null, latencyChart: null },
    };
    writeFileSync(upgradeFile(f.dir, st.id), JSON.stringify(st));
    await assert.rejects(
      upgrade(f.target, { plan: planFile(f.dir), yes: true, scrapeSeconds: 1 }),
      (e: unknown) => e instanceof UserError && e.message.startsWith(`bandwidth upgrade ${st.id} was interrupted`),
    );
    const done = await upgrade(f.target, { resume: true, yes: true, scrapeSeconds: 1 });
    assert.equal(done.phase, "Succeeded");
    assert.deepEqual(
      done.history.map((h) => h.outcome),
      ["Succeeded"],
    );
    const back = await rollback(f.target, { yes: true });
    assert.equal(back.phase, "RolledBack");
    assert.equal(f.restored.length, 1);
  });

  it("growth flags and the bandwidth price table", () => {
    assert.equal(parseGrowth("20%"), 0.2);
    assert.equal(parseGrowth("0.35"), 0.35);
    assert.throws(
      () => parseGrowth("lots"),
      (e: unknown) =>
        e instanceof UserError &&
        e.message === '--growth: got "lots"; allowed: a percentage such as 20% (or a share such as 0.2), 0 to 1000 %',
    );
    for (const [cloud, items] of Object.entries(BANDWIDTH)) {
      for (const [item, price] of Object.entries(items)) {
        assert.ok(price.usd > 0, `${cloud} ${item}`);
        assert.match(price.source, /^https:\/\//, `${cloud} ${item}`);
      }
    }
  });
});
