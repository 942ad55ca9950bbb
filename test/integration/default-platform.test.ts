/**
 * The suites that run on the default local stack (stacks/local.yaml as released), on one platform instead of one
 * each: bringing a platform up and down costs about 40 s, five times over. Each suite leaves the platform at rest
 * (its faults restored, its rollouts finished or aborted), and each starts by checking that it is: `imctl local
 * status`, and `imctl local up` (which restarts what is dead) when that is not healthy, so a suite that failed
 * half-way does not take the ones after it down with it. The doctor runs first (its green check reads the alerts),
 * then the rollouts, the fault suites last; the drills have a platform of their own (drill.test.ts says why).
 *
 * One suite alone: `node --import tsx --test --test-concurrency=1 --test-name-pattern="faults under load"
 * test/integration/default-platform.test.ts` (the platform comes up for the first suite that runs).
 */
import { after, describe } from "node:test";
import { startPlatform, type TestPlatform } from "../helpers/platform.ts";
import { doctorSuite } from "./default/doctor.ts";
import { faultsUnderLoadSuite } from "./default/faults-under-load.ts";
import { gatewayBadInputSuite } from "./default/gateway-bad-input.ts";
import { loadtestSuite } from "./default/loadtest.ts";
import { rolloutSuite } from "./default/rollout.ts";

let shared: Promise<TestPlatform> | undefined;

/** The shared platform, started on first use, and at rest: healthy by `local status`, or repaired by `local up`. */
async function atRest(): Promise<TestPlatform> {
  const p = await (shared ??= startPlatform(2000));
  const status = await p.run("local", "status");
  if (status.exitCode === 0) return p;
  process.stderr.write(`the shared platform is not at rest; local up repairs it:\n${status.stdout.slice(-2000)}\n`);
  const up = await p.run("local", "up");
  if (up.exitCode !== 0)
    throw new Error(`local up could not repair the shared platform (exit ${up.exitCode}):\n${up.stderr.slice(-2000)}`);
  return p;
}

describe("the default local stack, one platform for every suite that leaves it at rest", () => {
  after(async () => {
    const p = await shared?.catch(() => undefined);
    await p?.down();
  });

  // First: its green check reads the alerts, which other suites' load and faults may have set firing for minutes.
  doctorSuite(atRest);
  // Before the fault suites: once in three runs with it after the drills, its k6 runs lost acknowledged messages
  // (110 and 717 of 880) on a platform `local status` called healthy, which a drill-then-rollout run did not repeat
  // (the cause is not known yet; the failure now prints k6's short journeys). The drills run on a platform of their
  // own (drill.test.ts).
  rolloutSuite(atRest);
  gatewayBadInputSuite(atRest);
  loadtestSuite(atRest);
  faultsUnderLoadSuite(atRest);
});
