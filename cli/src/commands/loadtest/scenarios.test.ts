import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { REPO_ROOT } from "../../../../base/root.mjs";
import { SCENARIOS } from "./index.ts";

describe("load-test scenarios", () => {
  it("lists every scenario file under loadtests/ exactly once", () => {
    const files = readdirSync(join(REPO_ROOT, "loadtests"))
      .filter((f) => f.endsWith(".ts"))
      .sort();
    assert.deepEqual(SCENARIOS.map((s) => s.file).sort(), files);
    assert.equal(new Set(SCENARIOS.map((s) => s.name)).size, SCENARIOS.length);
  });
});

describe("imctl loadtest testrun", () => {
  it("prints a TestRun for kubectl and refuses bad input in one line", async () => {
    const { testrun } = await import("./index.ts");
    const r = testrun("smoke", { target: "https://im.example.com", parallelism: 2 });
    assert.match(r.yaml, /^apiVersion: k6\.io\/v1alpha1\nkind: TestRun\n/);
    assert.match(r.yaml, /parallelism: 2/);
    assert.throws(() => testrun("nosuch", { target: "http://x", parallelism: 2 }), /unknown scenario "nosuch"/);
    assert.throws(() => testrun("smoke", { target: "http://x", parallelism: 101 }), {
      message: "--parallelism: got 101; allowed: a whole number from 1 to 100",
    });
    assert.throws(() => testrun("smoke", { target: "x", parallelism: 1 }), /--target: got "x"/);
  });
});

describe("k6 output", () => {
  it("recognises a VU stopped by an uncaught exception, and nothing else", async () => {
    const { scriptError } = await import("./index.ts");
    const thrown =
      'time="2026-12-01T04:03:38Z" level=error msg="GoError: InvalidStateError\\n\\tat ' +
      'go.k6.io/k6/internal/js/modules/k6/websockets.(*webSocket).send-fm (native)\\n" ' +
      "executor=per-vu-iterations scenario=messaging source=stacktrace";
    assert.equal(scriptError(thrown), "GoError: InvalidStateError");
    assert.equal(
      scriptError(
        'time="x" level=warning msg="The test has generated metrics with 100210 unique time series" source=stacktrace',
      ),
      null,
    );
    assert.equal(
      scriptError('time="x" level=error msg="thresholds on metrics \'im_lost_messages\' have been crossed"'),
      null,
    );
    assert.equal(scriptError("running (0m05.0s), 4/4 VUs, 0 complete and 0 interrupted iterations"), null);
  });
});
