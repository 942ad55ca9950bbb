/**
 * The platform's alert rules file (platform.rules.yml) as data: both targets load the file itself; this module
 * lets the Pulumi program ship it as a PrometheusRule and lets tests and dashboards check which metrics it reads.
 * No Pulumi import: `imctl doctor` and the unit tests use it too.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { z } from "zod";

export const RULES_DIR = join(import.meta.dirname, "rules");
export const RULES_FILE = join(RULES_DIR, "platform.rules.yml");
export const RULES_TEST_FILE = join(RULES_DIR, "platform.rules.test.yml");

const alertRule = z.object({
  alert: z.string(),
  expr: z.string(),
  for: z.string().optional(),
  labels: z.record(z.string(), z.string()).default({}),
  annotations: z.record(z.string(), z.string()).default({}),
});
const rulesFile = z.object({ groups: z.array(z.object({ name: z.string(), rules: z.array(alertRule) })) });

export type AlertRule = z.infer<typeof alertRule>;
export type RuleGroups = z.infer<typeof rulesFile>["groups"];

/** The rule groups, in the shape a PrometheusRule's `spec.groups` takes. */
export function loadRuleGroups(file: string = RULES_FILE): RuleGroups {
  return rulesFile.parse(parse(readFileSync(file, "utf8"))).groups;
}

export function alertRules(groups: RuleGroups = loadRuleGroups()): AlertRule[] {
  return groups.flatMap((g) => g.rules);
}

// Metric families of the platform: the services (im_), the exporters and the Kafka JMX agent, and `up`.
const METRIC = /\b(?:(?:im|node|redis|kafka|mysql|nginx)_[A-Za-z0-9_]+|up|ALERTS)\b/g;

/** The metric names a PromQL expression reads (label matchers and strings removed first). */
export function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, "{}")
    .replace(/\b(?:by|on|without|ignoring|group_left|group_right)\s*\([^)]*\)/g, "");
  return [...new Set(bare.match(METRIC) ?? [])].sort();
}
