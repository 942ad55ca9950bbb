/**
 * The drill suite (test/integration/default/drill.ts) on a platform of its own, not the shared one of
 * default-platform.test.ts: its coordinator test asserts that the message instances replace their fan-out
 * consumers when the group's coordinator broker stops, and that depends on what the brokers and consumers went
 * through before. On the shared platform, after the doctor's broker kill and the other suites, it once saw no
 * replacement at all (the drill's probe still lost nothing), and a rollout run after the drills once lost
 * acknowledged messages; both are open (the closing note of the session that split them).
 */
import { after, describe } from "node:test";
import { startPlatform, type TestPlatform } from "../helpers/platform.ts";
import { drillSuite } from "./default/drill.ts";

let platform: Promise<TestPlatform> | undefined;

describe("drills on a platform of their own", () => {
  after(async () => {
    const p = await platform?.catch(() => undefined);
    await p?.down();
  });

  drillSuite(() => (platform ??= startPlatform(3000)));
});
