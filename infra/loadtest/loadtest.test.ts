import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { REPO_ROOT } from "../../base/root.mjs";
import { loadSpec, requireKubernetes } from "../lib/spec.ts";
import { deployPlatform } from "../platform.ts";
import { ofType, runWithMocks } from "../mocks.ts";
import { bundleScenario } from "./bundle.ts";
import { SCENARIOS } from "./scenarios.ts";
import { K6_RUNNER_IMAGE, testRunManifest } from "./testrun.ts";

describe("distributed load tests (k6-operator)", () => {
  it("bundles every scenario into one script that imports only k6's own modules", () => {
    for (const s of SCENARIOS) {
      const js = bundleScenario(s.file);
      const imports = [...js.matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1] ?? "");
      assert.ok(imports.length > 0, s.name);
      assert.ok(
        imports.every((i) => i === "k6" || i.startsWith("k6/")),
        `${s.name}: ${imports.join(", ")}`,
      );
      assert.match(js, /export\s*\{[^}]*\boptions\b/, `${s.name} exports its options`);
      assert.doesNotMatch(js, /from "\.\/lib\//, `${s.name} has no relative import left`);
    }
  });

  it("describes a TestRun whose runners share the load and get the scenario's settings", () => {
    const t = testRunManifest({
      scenario: "messaging",
      target: "https://im.example.com",
      parallelism: 4,
      vus: 2000,
      rate: 2000,
      duration: "5m",
      runId: "abc",
    });
    assert.equal(t.kind, "TestRun");
    assert.equal(t.apiVersion, "k6.io/v1alpha1");
    assert.equal(t.spec.parallelism, 4);
    assert.deepEqual(t.spec.script.configMap, { name: "k6-scenario-messaging", file: "messaging.js" });
    assert.equal(t.spec.runner.image, K6_RUNNER_IMAGE);
    assert.equal(
      t.spec.arguments,
      "-e TARGET=https://im.example.com -e RUN_ID=abc -e VUS=2000 -e RATE=2000 -e DURATION=5m --tag testid=messaging-abc",
    );
    assert.equal(t.metadata.name, "messaging-abc");
    assert.throws(
      () => testRunManifest({ scenario: "smoke", target: "http://x", parallelism: 0, runId: "a" }),
      /parallelism: got 0; allowed: a whole number from 1 to 100/,
    );
  });

  it("installs the operator and one script ConfigMap per scenario in every cluster", async () => {
    const spec = requireKubernetes(loadSpec(join(REPO_ROOT, "stacks", "multicloud.yaml")), "multicloud");
    const { resources } = await runWithMocks(spec.name, () => deployPlatform(spec));
    const releases = ofType(resources, "kubernetes:helm.sh/v3:Release").filter((r) => r.inputs.chart === "k6-operator");
    assert.equal(releases.length, 2, "one per cloud");
    const maps = ofType(resources, "kubernetes:core/v1:ConfigMap").filter((r) =>
      String((r.inputs.metadata as { name?: string })?.name ?? "").startsWith("k6-scenario-"),
    );
    assert.equal(maps.length, SCENARIOS.length * 2);
    for (const m of maps) {
      const data = m.inputs.data as Record<string, string>;
      const [file] = Object.keys(data);
      assert.ok(
        file?.endsWith(".js") && (data[file] ?? "").includes("k6/websockets") === (file !== "login-burst.js"),
        file,
      );
    }
  });
});
