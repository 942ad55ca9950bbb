import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { REPO_ROOT } from "../../base/root.mjs";
import { KAFKA_JMX_BEANS, KAFKA_JMX_EXPORTER_CONFIG } from "./kafka-jmx.ts";

/** Where the platform reads the brokers' JMX series: alert rules, dashboards, imctl doctor. */
const READERS = [
  "infra/observability/rules/platform.rules.yml",
  "infra/observability/dashboards/platform-rows.ts",
  "infra/observability/dashboards/service-dashboards.ts",
  "cli/src/commands/doctor/index.ts",
];

/** The series name and `name` label the exporter gives a bean (lowercased `domain_type_value`). */
function seriesOf(bean: string): string {
  const m = /^([a-z.]+):type=(\w+),name=(\w+)$/.exec(bean);
  assert.ok(m, `not an exact bean name: ${bean}`);
  return `${m[1]!.replace(/\./g, "_")}_${m[2]!.toLowerCase()}_value{name="${m[3]}"}`;
}

describe("the Kafka JMX exporter's configuration", () => {
  it("exports every broker series the rules, dashboards and doctor read, by exact bean name", () => {
    const exported = new Set(KAFKA_JMX_BEANS.map(seriesOf));
    const read = new Set<string>();
    for (const file of READERS) {
      const text = readFileSync(join(REPO_ROOT, file), "utf8");
      // kafka_server_replicamanager_value{name="X"} and the dashboards' sel("kafka_..._value", scope, 'name="X"')
      for (const m of text.matchAll(/(kafka_[a-z]+_[a-z]+_value)(?:\{|", [a-z]+, ')name="(\w+)"/g))
        read.add(`${m[1]}{name="${m[2]}"}`);
    }
    assert.ok(read.size >= 4, `found only ${[...read].join(", ")}: the pattern no longer matches the readers`);
    for (const s of read) assert.ok(exported.has(s), `${s} is read but its bean is not in KAFKA_JMX_BEANS`);
  });

  it("lists only exact bean names, no patterns (a scrape reads every attribute of every match)", () => {
    for (const b of KAFKA_JMX_BEANS) assert.doesNotMatch(b, /\*/);
    for (const b of KAFKA_JMX_BEANS) assert.ok(KAFKA_JMX_EXPORTER_CONFIG.includes(`  - "${b}"\n`));
  });
});
