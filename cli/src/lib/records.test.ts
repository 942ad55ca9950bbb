import assert from "node:assert/strict";
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { tempDir } from "../../../test/helpers/imctl.ts";
import { workflowRecords } from "./records.ts";

test("each workflow keeps its records and its audit log in its own directory, in one format", () => {
  const dir = tempDir("records");
  const rollout = workflowRecords(dir, "rollout");
  const drill = workflowRecords(dir, "drill");
  assert.equal(existsSync(rollout.dir), false, "nothing is created before a record is written");
  const f = rollout.write(["history", "gateway-1.json"], { phase: "Succeeded" });
  assert.equal(f, join(dir, "rollouts", "history", "gateway-1.json"));
  assert.deepEqual(rollout.read("history", "gateway-1.json"), { phase: "Succeeded" });
  assert.equal(rollout.read("missing.json"), undefined);
  assert.deepEqual(rollout.list("history"), ["gateway-1.json"]);
  assert.deepEqual(rollout.list("nothing"), []);

  rollout.audit({ subject: "gateway", action: "Paused", detail: "step 2", data: { step: 2 } });
  drill.audit({ subject: "kill-1", action: "Injecting", actor: "alice/1" });
  appendFileSync(drill.auditFile, "not json\n");
  assert.equal(drill.auditFile, join(dir, "drills", "audit.jsonl"));
  const line: unknown = JSON.parse(readFileSync(rollout.auditFile, "utf8").trim());
  assert.deepEqual(Object.keys(line as object), ["time", "workflow", "subject", "action", "actor", "detail", "data"]);
  assert.deepEqual(
    drill.readAudit().map((r) => [r.workflow, r.subject, r.action, r.actor, r.detail, r.data]),
    [["drill", "kill-1", "Injecting", "alice/1", "", {}]],
    "a hand-edited line is skipped",
  );
  assert.equal(rollout.readAudit("user-center").length, 0);
  assert.match(rollout.readAudit("gateway")[0]?.actor ?? "", /\/\d+$/);
});
