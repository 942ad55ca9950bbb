import assert from "node:assert/strict";
import { copyFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ExitError, UserError } from "../../errors.ts";
import { REPO_ROOT } from "../../../../base/root.mjs";
import { upgradeCloud } from "./cloud.ts";
import type { BandwidthPlan } from "./plan-file.ts";
import { tempDir } from "../../../../test/helpers/temp-dir.ts";

const base: BandwidthPlan = {
  apiVersion: "imctl.im-platform/v1",
  kind: "BandwidthPlan",
  metadata: {
    id: "bw-cloud",
    createdAt: "2026-12-01T01:00:00.000Z",
    stack: "stacks/aws-prod.yaml",
    target: "kubernetes",
  },
  audit: { since: "7d", peakBytesPerSecond: 1e8, p95BytesPerSecond: 9e7, avgBytesPerSecond: 5e7, flags: [] },
  capacity: {
    growth: 0.2,
    targetUtilisation: 0.7,
    requiredTotalBytesPerSecond: 1.7e8,
    requiredPerInstanceBytesPerSecond: 6e7,
    requiredInstances: 5,
  },
  options: [],
  change: { option: "horizontal", replicas: { from: 3, to: 5 } },
  verify: { scenario: "messaging", vus: 200, rate: 200, duration: "60s", maxP99Ms: 150, env: [], maxUtilisation: 0.7 },
  watch: { duration: "30m" },
  window: { startHourUtc: 3, hours: 2, estimatedMinutes: 45, bestGuess: false, note: "" },
  rollback: { steps: ["pulumi up with the stack file as it was"] },
};

describe("bandwidth upgrade on a kubernetes stack", () => {
  const stack = () => {
    const f = join(tempDir("bwcloud"), "aws-prod.yaml");
    copyFileSync(join(REPO_ROOT, "stacks", "aws-prod.yaml"), f);
    return f;
  };
  const saved = process.env.PATH;

  it("without a pulumi CLI: one line, exit 69, the stack file untouched", async () => {
    const f = stack();
    const before = readFileSync(f, "utf8");
    process.env.PATH = "";
    const tools = process.env.IMCTL_TOOLS_DIR;
    process.env.IMCTL_TOOLS_DIR = tempDir("bwcloud-tools");
    try {
      await assert.rejects(upgradeCloud(f, base, { yes: true, progress: () => undefined }), (e: unknown) => {
        assert.ok(e instanceof ExitError);
        assert.equal(e.exitCode, 69);
        assert.equal(
          e.message,
          `the pulumi CLI is not in .tools/bin or on PATH: nothing changed. Apply "services.gateway.replicas 3 -> 5 in ${f}" ` +
            `with "pulumi up" where the CLI and credentials are, or install the CLI and run this again`,
        );
        return true;
      });
    } finally {
      process.env.PATH = saved;
      if (tools === undefined) delete process.env.IMCTL_TOOLS_DIR;
      else process.env.IMCTL_TOOLS_DIR = tools;
    }
    assert.equal(readFileSync(f, "utf8"), before);
  });

  it("refuses a vertical plan, a stale replica count and a missing --yes before anything", async () => {
    const f = stack();
    const vertical: BandwidthPlan = {
      ...base,
      change: {
        option: "vertical",
        gateways: [{ instance: "gateway-1", fromBytesPerSecond: 1024, toBytesPerSecond: 2048 }],
      },
    };
    await assert.rejects(
      upgradeCloud(f, vertical, { yes: true, progress: () => undefined }),
      (e: unknown) =>
        e instanceof UserError &&
        /^change.option: got "vertical"; not applicable on the kubernetes target yet/.test(e.message),
    );
    const stale: BandwidthPlan = { ...base, change: { option: "horizontal", replicas: { from: 4, to: 6 } } };
    await assert.rejects(
      upgradeCloud(f, stale, { yes: true, progress: () => undefined }),
      (e: unknown) =>
        e instanceof UserError &&
        e.message ===
          `change.replicas.from: got 4; allowed: 3, the value of services.gateway.replicas in ${f} now (make the plan again)`,
    );
    await assert.rejects(
      upgradeCloud(f, base, { progress: () => undefined }),
      (e: unknown) => e instanceof UserError && /pass --yes/.test(e.message),
    );
  });
});
