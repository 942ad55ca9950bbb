import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { tempDir } from "../../../../test/helpers/imctl.ts";
import {
  audit,
  controllerLockFile,
  liveController,
  pendingIntent,
  readAudit,
  takeIntent,
  writeIntent,
} from "./store.ts";

const s = { id: "r1", service: "gateway", phase: "Paused" as const, step: 1, canaryWeight: 10 };

test("an intent is written whole, taken once, and a hand-edited one is dropped", () => {
  const dir = tempDir("store");
  writeIntent(dir, "gateway", { action: "promote", full: true });
  assert.equal(pendingIntent(dir, "gateway"), true);
  const rec = takeIntent(dir, "gateway");
  assert.deepEqual(rec?.intent, { action: "promote", full: true });
  assert.match(rec?.who ?? "", /\/\d+$/);
  assert.equal(takeIntent(dir, "gateway"), undefined, "taken once");
  writeFileSync(
    join(dir, "rollouts", "gateway.intent.json"),
    JSON.stringify({ intent: { action: "delete-everything" }, who: "x", at: "y" }),
  );
  assert.equal(takeIntent(dir, "gateway"), undefined);
  assert.equal(pendingIntent(dir, "gateway"), false);
});

test("the audit log is append-only JSON lines: who, when, what, why, per service", () => {
  const dir = tempDir("store");
  audit(dir, s, "Paused", "step 2: pause until promoted");
  audit(dir, { ...s, service: "user-center" }, "Pending", "started", "alice/42");
  audit(dir, { ...s, phase: "Aborted" }, "Aborted", "aborted by an operator", "bob/7");
  const g = readAudit(dir, "gateway");
  assert.deepEqual(
    g.map((e) => [e.what, e.why, e.phase]),
    [
      ["Paused", "step 2: pause until promoted", "Paused"],
      ["Aborted", "aborted by an operator", "Aborted"],
    ],
  );
  assert.equal(g[1]?.who, "bob/7");
  assert.ok(g.every((e) => !Number.isNaN(Date.parse(e.at))));
  assert.equal(readAudit(dir).length, 3);
});

test("a controller lock left by a killed imctl is not a live controller", () => {
  const dir = tempDir("store");
  assert.equal(liveController(dir, "gateway"), undefined);
  audit(dir, s, "x", "y"); // creates rollouts/
  writeFileSync(
    controllerLockFile(dir, "gateway"),
    JSON.stringify({ pid: 2 ** 22 + 12345, command: "imctl rollout start gateway", since: "then" }),
  );
  assert.equal(liveController(dir, "gateway"), undefined);
  writeFileSync(
    controllerLockFile(dir, "gateway"),
    JSON.stringify({ pid: process.pid, command: "imctl rollout start gateway", since: "now" }),
  );
  assert.equal(liveController(dir, "gateway")?.pid, process.pid);
});
