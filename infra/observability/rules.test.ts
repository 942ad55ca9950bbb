import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { execa } from "execa";
import { parse } from "yaml";
import { z } from "zod";
import { toolPath } from "../../base/tools.mjs";
import { REPO_ROOT } from "../../base/root.mjs";
import { alertRules, metricNames, RULES_FILE, RULES_TEST_FILE } from "./rules.ts";

const ruleTests = z.object({
  tests: z.array(
    z.object({
      alert_rule_test: z.array(z.object({ alertname: z.string(), exp_alerts: z.array(z.unknown()) })).default([]),
    }),
  ),
});

/** The seed's alerts (issue 9), each by the rule that implements it. */
const SEED_ALERTS = [
  "HostCpuHigh",
  "PacketLossHigh",
  "MessageBacklogHigh",
  "BandwidthUtilisationHigh",
  "DeliveryLatencyP99High",
  "ErrorRateHigh",
  "RedisNodeDown",
  "KafkaBrokerDown",
  "DatabaseDown",
  "RedisReplicaLag",
];

describe("alert rules (promtool)", () => {
  it("are valid", async () => {
    const r = await execa(toolPath("promtool"), ["check", "rules", RULES_FILE], { reject: false });
    assert.equal(r.exitCode, 0, r.stdout + r.stderr);
  });

  it("fire on the series that should fire them and stay quiet otherwise", async () => {
    const r = await execa(toolPath("promtool"), ["test", "rules", RULES_TEST_FILE], { reject: false });
    assert.equal(r.exitCode, 0, r.stdout + r.stderr);
  });

  it("include every alert the seed asks for", () => {
    const names = alertRules().map((r) => r.alert);
    for (const a of SEED_ALERTS) assert.ok(names.includes(a), `missing alert ${a}`);
    assert.equal(new Set(names).size, names.length, "alert names are unique");
  });

  it("each have a promtool case where they fire and one where they stay quiet", () => {
    const cases = ruleTests.parse(parse(readFileSync(RULES_TEST_FILE, "utf8"))).tests.flatMap((t) => t.alert_rule_test);
    for (const { alert } of alertRules()) {
      const mine = cases.filter((c) => c.alertname === alert);
      assert.ok(
        mine.some((c) => c.exp_alerts.length > 0),
        `${alert}: no case where it fires`,
      );
      assert.ok(
        mine.some((c) => c.exp_alerts.length === 0),
        `${alert}: no case where it stays quiet`,
      );
    }
  });

  it("each carry a severity, a summary and a runbook that exists", () => {
    for (const r of alertRules()) {
      assert.match(r.labels.severity ?? "", /^(warning|critical)$/, r.alert);
      assert.ok(r.annotations.summary, `${r.alert}: no summary`);
      const runbook = r.annotations.runbook ?? "";
      assert.ok(
        runbook.startsWith("runbooks/") && existsSync(join(REPO_ROOT, runbook)),
        `${r.alert}: runbook ${JSON.stringify(runbook)} does not exist`,
      );
    }
  });

  it("each appear in the runbooks' index with their runbook", () => {
    const index = readFileSync(join(REPO_ROOT, "runbooks", "README.md"), "utf8");
    for (const r of alertRules()) {
      const row = index.split("\n").find((l) => l.startsWith(`| \`${r.alert}\` |`));
      assert.ok(row, `${r.alert} is missing from runbooks/README.md`);
      assert.ok(row.includes(`| ${r.labels.severity} |`), `${r.alert}: severity differs in runbooks/README.md`);
      const file = (r.annotations.runbook ?? "").replace(/^runbooks\//, "");
      if (file !== "README.md")
        assert.ok(row.includes(`](${file})`), `${r.alert}: runbooks/README.md links another runbook than ${file}`);
    }
  });

  it("reads metric names out of expressions, not label names or strings", () => {
    assert.deepEqual(
      metricNames('sum by (instance) (kafka_server_replicamanager_value{name="UnderReplicatedPartitions"}) > 0'),
      ["kafka_server_replicamanager_value"],
    );
    assert.deepEqual(
      metricNames('up{job="kafka"} == 0 or on (instance, job) kafka_server_kafkaserver_value{name="BrokerState"} != 3'),
      ["kafka_server_kafkaserver_value", "up"],
    );
    assert.deepEqual(metricNames("max by (instance, slave_ip) (redis_connected_slave_lag_seconds) > 5"), [
      "redis_connected_slave_lag_seconds",
    ]);
  });
});
