import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { offlineKubeStack } from "../../../test/helpers/offline-kube-stack.ts";
import { UserError } from "../errors.ts";
import { stackFile } from "../lib/paths.ts";
import { openTarget, TARGET_MESSAGES } from "./open.ts";

const userError = (message: string) => (err: unknown) => err instanceof UserError && err.message === message;

test("--target picks the target; without it the stack file's own target does", () => {
  assert.equal(openTarget({ stack: "local", target: "local" }).kind, "local");
  assert.equal(openTarget({ stack: "local" }).kind, "local");
  assert.equal(openTarget({ stack: "aws-prod" }).kind, "kubernetes");
  assert.equal(openTarget({ target: "kubernetes" }).stack, stackFile("aws-prod"));
  assert.throws(() => openTarget({ target: "nomad" }), userError(TARGET_MESSAGES.badTarget("nomad")));
});

test("imctl local on a kubernetes stack is a UserError naming it, before anything is touched", () => {
  const k = openTarget({ stack: "aws-prod", target: "kubernetes" });
  const file = stackFile("aws-prod");
  assert.throws(() => k.lifecycle(), userError(TARGET_MESSAGES.kubernetesLifecycle(file)));
});

test("kubernetes rollout validates its Prometheus URL before it connects", async () => {
  const k = openTarget({ target: "kubernetes", kubernetes: { prometheus: "not a url" } });
  await assert.rejects(
    k.rollout(),
    (err: unknown) => err instanceof UserError && err.message.startsWith("--prometheus:"),
  );
});

test("the local target offers every capability, as one object for the workflows", async () => {
  const t = openTarget({ stack: "local", target: "local" });
  const drill = await t.drill();
  assert.equal(drill.kind, "local");
  assert.equal(drill.stack, stackFile("local"));
  assert.equal(await t.health(), drill);
  assert.equal(await t.bandwidth(), drill);
  assert.match(t.lifecycle().edge().ws, /^ws:\/\/[^/]+:\d+\/ws$/);
});

test("a kubernetes stack opens every workflow's capability without contacting the cluster", async () => {
  const { stack, stateDir } = offlineKubeStack();
  process.env.IMCTL_STATE_DIR = stateDir;
  const t = openTarget({ stack });
  assert.equal(t.kind, "kubernetes");
  assert.equal((await t.rollout()).kind, "kubernetes");
  assert.equal((await t.health()).kind, "kubernetes");
  assert.equal((await t.bandwidth()).kind, "kubernetes");
  const groups = await t.groups();
  assert.equal(groups.kind, "kubernetes");
  // The stack's own lock and state directory (group-moves records), and its Prometheus for the lag checks.
  assert.equal(groups.stateDir, join(stateDir, "kubernetes", "embedded-cluster"));
  assert.equal(groups.metricsSource(), "service im-observability/prometheus:9090 (through the API server)");
  delete process.env.IMCTL_STATE_DIR;
});
