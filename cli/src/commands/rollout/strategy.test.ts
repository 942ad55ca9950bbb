import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { UserError } from "../../errors.ts";
import { MESSAGES } from "./messages.ts";
import { parseCondition } from "./condition.ts";
import { DEFAULTS, defaultStrategy, loadStrategy, renderQuery, resolveStrategy } from "./strategy.ts";
import { tempDir } from "../../../../test/helpers/temp-dir.ts";

const rejects = (raw: unknown, message: string) =>
  assert.throws(
    () => resolveStrategy(raw, "s.yaml"),
    (err: unknown) => err instanceof UserError && err.message === message,
  );

test("the default strategy is the seed's 10 %, 30 %, 100 %, each analysed, with Argo's defaults resolved", () => {
  const s = resolveStrategy(defaultStrategy("gateway"));
  assert.deepEqual(
    s.steps.map((st) => Object.keys(st)[0]),
    ["setWeight", "analysis", "setWeight", "analysis", "setWeight"],
  );
  assert.deepEqual(
    s.steps.flatMap((st) => ("setWeight" in st ? [st.setWeight] : [])),
    [10, 30, 100],
  );
  const a = s.steps[1];
  assert.ok(a && "analysis" in a);
  assert.deepEqual(
    a.analysis.metrics.map((m) => m.name),
    ["error-rate", "p99-latency", "delivery-latency"],
  );
  const m = a.analysis.metrics[0];
  assert.equal(m?.failureLimit, 0);
  assert.equal(m?.consecutiveErrorLimit, 4);
  assert.equal(m?.intervalMs, DEFAULTS.intervalMs);
  assert.equal(s.canaryReplicas, 1);
  // every other service gets error rate and latency from the shared RED metrics
  const uc = resolveStrategy(defaultStrategy("user-center"));
  assert.equal(uc.steps.length, 5);
});

test("a weight outside 0 to 100 is rejected with the field and what is allowed", () => {
  rejects({ steps: [{ setWeight: 150 }] }, MESSAGES.strategyWeight("s.yaml", "steps[0]", 150));
  rejects(
    { steps: [{ setWeight: 10 }, { setWeight: -5 }, { setWeight: 100 }] },
    MESSAGES.strategyWeight("s.yaml", "steps[1]", -5),
  );
  rejects({ steps: [{ setWeight: 12.5 }, { setWeight: 100 }] }, MESSAGES.strategyWeight("s.yaml", "steps[0]", 12.5));
  assert.equal(
    MESSAGES.strategyWeight("s.yaml", "steps[0]", 150),
    "s.yaml: steps[0].setWeight: got 150; allowed: a whole number from 0 to 100",
  );
});

test("steps that never reach 100 % are rejected", () => {
  rejects({ steps: [{ setWeight: 10 }, { pause: {} }, { setWeight: 50 }] }, MESSAGES.strategyNever100("s.yaml", 50));
  rejects({ steps: [{ pause: { duration: "10s" } }] }, MESSAGES.strategyNever100("s.yaml", undefined));
  assert.equal(
    MESSAGES.strategyNever100("s.yaml", 50),
    "s.yaml: steps: the last setWeight is 50; allowed: steps whose last setWeight is 100 (a rollout must reach 100 %)",
  );
});

test("an unknown step kind, a bad duration, an unreadable condition and an unknown field are rejected", () => {
  rejects(
    { steps: [{ setCanaryScale: 2 }, { setWeight: 100 }] },
    MESSAGES.strategyStep("s.yaml", "steps[0]", { setCanaryScale: 2 }),
  );
  assert.throws(
    () => resolveStrategy({ steps: [{ pause: { duration: "ten seconds" } }, { setWeight: 100 }] }, "s.yaml"),
    /steps\[0\]/,
  );
  const metric = { name: "err", successCondition: "result <=", provider: { prometheus: { query: "up" } } };
  assert.throws(
    () =>
      resolveStrategy(
        { steps: [{ setWeight: 10 }, { analysis: { metrics: [metric] } }, { setWeight: 100 }] },
        "s.yaml",
      ),
    (err: unknown) =>
      err instanceof UserError &&
      err.message.startsWith(
        's.yaml: steps[1].analysis.metrics[0].successCondition: got "result <="; allowed: a comparison',
      ),
  );
  assert.throws(
    () => resolveStrategy({ steps: [{ setWeight: 100 }], canaryWeight: 5 }, "s.yaml"),
    (err: unknown) => err instanceof UserError && err.message.startsWith("s.yaml: (top level)"),
  );
  // a load-test gate has no stable counterpart
  const gate = { name: "k6", successCondition: "result >= stable", provider: { loadtest: { scenario: "smoke" } } };
  assert.throws(
    () => resolveStrategy({ steps: [{ analysis: { metrics: [gate] } }, { setWeight: 100 }] }, "s.yaml"),
    /a load-test gate has no stable value/,
  );
});

test("a strategy file is read as YAML; durations and limits resolve once", () => {
  const dir = tempDir("strategy");
  const file = join(dir, "s.yaml");
  writeFileSync(
    file,
    `steps:
  - setWeight: 30
  - pause: { duration: 5s }
  - analysis:
      metrics:
        - name: error-rate
          interval: 5s
          count: 2
          failureLimit: 1
          successCondition: result <= 0.01
          provider: { prometheus: { query: 'sum(rate(x{version="{{version}}"}[1m]))' } }
  - pause: {}
  - setWeight: 100
`,
  );
  const s = loadStrategy("gateway", file);
  assert.deepEqual(s.steps[1], { pause: { durationMs: 5000 } });
  assert.deepEqual(s.steps[3], { pause: { durationMs: null } });
  const a = s.steps[2];
  assert.ok(a && "analysis" in a);
  assert.equal(a.analysis.metrics[0]?.intervalMs, 5000);
  assert.equal(a.analysis.metrics[0]?.failureLimit, 1);
  assert.equal(a.analysis.metrics[0]?.count, 2);
  assert.throws(
    () => loadStrategy("gateway", join(dir, "missing.yaml")),
    /--strategy: .*missing\.yaml: cannot read the strategy file \(ENOENT\)/,
  );
});

test("every number and duration of a strategy has a range", () => {
  rejects(
    { steps: [{ pause: { duration: "99999999999h" } }, { setWeight: 100 }] },
    's.yaml: steps[0].pause.duration: got "99999999999h"; allowed: at most 168h',
  );
  const gate = (vus: number) => ({
    name: "load",
    successCondition: "result == 1",
    provider: { loadtest: { scenario: "smoke", vus } },
  });
  rejects(
    { steps: [{ analysis: { metrics: [gate(100_000_000)] } }, { setWeight: 100 }] },
    "s.yaml: steps[0].analysis.metrics[0].provider.loadtest.vus: got 100000000; allowed: a whole number from 1 to 50000",
  );
});

test("conditions: arithmetic against the stable value, && and ||, and no data is never a pass", () => {
  const c = parseCondition("result <= stable * 2 + 0.05");
  assert.equal(c.usesStable, true);
  assert.equal(c.evaluate({ result: 0.2, stable: 0.1 }), true);
  assert.equal(c.evaluate({ result: 0.3, stable: 0.1 }), false);
  assert.throws(() => c.evaluate({ result: Number.NaN, stable: 0.1 }), /no data for result/);
  assert.throws(() => c.evaluate({ result: 0.1 }), /no data for stable/);
  const d = parseCondition("result < 0.01 || (result < 1 && result >= 0.5)");
  assert.equal(d.usesStable, false);
  assert.equal(d.evaluate({ result: 0.7 }), true);
  assert.equal(d.evaluate({ result: 0.2 }), false);
  assert.throws(() => parseCondition("process.exit(1)"), /cannot read/);
  assert.throws(() => parseCondition("result"), /expected <, <=/);
});

test("query templates get the canary and stable versions", () => {
  assert.equal(
    renderQuery('x{version="{{version}}",s="{{service}}"} / y{version="{{stableVersion}}"}', {
      version: "2.0",
      stableVersion: "1.0",
      service: "gateway",
    }),
    'x{version="2.0",s="gateway"} / y{version="1.0"}',
  );
});
