/**
 * The BandwidthPlan file `imctl bandwidth plan` writes and `upgrade` applies: YAML an operator reviews (and may
 * edit: the verification settings, the window), validated with zod before anything changes. A bad field fails with
 * one line naming the field, the value and what is allowed.
 */
import { stringify } from "yaml";
import { excerpt } from "../../../../base/excerpt.ts";
import { InputFileError, parseInputYaml, readInputFile } from "../../../../infra/lib/input-file.ts";
import { z } from "zod";
import { durationPattern, parseDuration } from "../../../../base/duration.ts";
import { UserError } from "../../errors.ts";
import { MESSAGES } from "./messages.ts";

export const PLAN_API_VERSION = "imctl.im-platform/v1";

const bytesPerSecond = z
  .number()
  .int()
  .min(1024)
  .max(100 * 1024 ** 3);
const share = z.number().gt(0).max(1);
/** A duration of the plan: verification and watch last from 1 s to 7 days (the seed watches 24-48 h). */
const duration = z
  .string()
  .regex(durationPattern(["ms", "s", "m", "h"]), "a number with ms, s, m or h, e.g. 30s")
  .refine((v) => {
    const s = parseDuration(v, { units: ["ms", "s", "m", "h"], to: "s" }) ?? 0;
    return s >= 1 && s <= 7 * 86_400;
  }, "from 1s to 168h");
const instanceId = z.string().regex(/^gateway-[a-z0-9-]+$/, "a gateway instance id such as gateway-1");

const costLine = z
  .object({
    cloud: z.enum(["aws", "alicloud", "local"]),
    item: z.string(),
    monthlyUsd: z.number().nullable(),
    source: z.string(),
    checked: z.boolean(),
  })
  .strict();

const option = z
  .object({
    name: z.enum(["vertical", "horizontal", "cdn"]),
    summary: z.string(),
    /** Whether `upgrade` can apply it on this plan's target. */
    applicable: z.boolean(),
    reason: z.string().optional(),
    cost: z.array(costLine),
  })
  .strict();

const verticalChange = z
  .object({
    option: z.literal("vertical"),
    /** In order: the first is the canary; the rest follow after it verifies. */
    gateways: z
      .array(
        z
          .object({ instance: instanceId, fromBytesPerSecond: bytesPerSecond, toBytesPerSecond: bytesPerSecond })
          .strict(),
      )
      .min(1),
  })
  .strict();

const horizontalChange = z
  .object({
    option: z.literal("horizontal"),
    replicas: z.object({ from: z.number().int().min(1).max(1000), to: z.number().int().min(1).max(1000) }).strict(),
  })
  .strict();

export const bandwidthPlanSchema = z
  .object({
    apiVersion: z.literal(PLAN_API_VERSION),
    kind: z.literal("BandwidthPlan"),
    metadata: z
      .object({
        id: z.string().regex(/^[a-z0-9-]{1,80}$/, "lower-case letters, digits and '-'"),
        createdAt: z.string(),
        stack: z.string().min(1),
        target: z.enum(["local", "kubernetes"]),
      })
      .strict(),
    audit: z
      .object({
        since: duration,
        peakBytesPerSecond: z.number().min(0),
        p95BytesPerSecond: z.number().min(0),
        avgBytesPerSecond: z.number().min(0),
        flags: z.array(z.string()),
      })
      .strict(),
    capacity: z
      .object({
        growth: z.number().min(0).max(10),
        targetUtilisation: share,
        requiredTotalBytesPerSecond: z.number().min(0),
        requiredPerInstanceBytesPerSecond: z.number().min(0),
        requiredInstances: z.number().int().min(1).max(1000),
      })
      .strict(),
    options: z.array(option),
    /** What `upgrade` applies. */
    change: z.discriminatedUnion("option", [verticalChange, horizontalChange]),
    verify: z
      .object({
        /** A scenario of `imctl loadtest list`, run at the canary and after the full cut-over. */
        scenario: z.string().regex(/^[a-z0-9-]+$/, "a scenario name (imctl loadtest list)"),
        vus: z.number().int().min(2).max(20000),
        rate: z.number().gt(0).max(100000),
        duration,
        /** p99 delivery bound of the k6 thresholds, in ms. */
        maxP99Ms: z.number().gt(0).max(600000),
        /** Extra k6 settings, NAME=value. */
        env: z.array(z.string().regex(/^[A-Z][A-Z0-9_]*=.*$/, "NAME=value with an upper-case NAME")),
        /** Utilisation each changed instance must stay under during verification. */
        maxUtilisation: share,
      })
      .strict(),
    /** After the cut-over: how long the watch lasts (the seed watches 24-48 h; `--watch` overrides). */
    watch: z.object({ duration }).strict(),
    window: z
      .object({
        startHourUtc: z.number().int().min(0).max(23),
        hours: z.number().int().min(1).max(24),
        estimatedMinutes: z
          .number()
          .gt(0)
          .max(7 * 24 * 60),
        bestGuess: z.boolean(),
        note: z.string(),
      })
      .strict(),
    rollback: z.object({ steps: z.array(z.string()).min(1) }).strict(),
  })
  .strict();

export type BandwidthPlan = z.infer<typeof bandwidthPlanSchema>;
export type PlanOption = z.infer<typeof option>;
export type CostLine = z.infer<typeof costLine>;

/** The first problem of a parsed plan, as the one line a UserError carries. */
export function planProblem(file: string, raw: unknown): string | null {
  const r = bandwidthPlanSchema.safeParse(raw);
  if (r.success) return null;
  const issue = r.error.issues[0];
  if (issue === undefined) return MESSAGES.badPlanField(file, "(plan)", "?", "a BandwidthPlan");
  const path = issue.path.map(String);
  // An unknown field is named itself, not its parent object.
  if (issue.code === "unrecognized_keys" && issue.keys[0] !== undefined) path.push(issue.keys[0]);
  let value: unknown = raw;
  for (const k of path)
    value = value !== null && typeof value === "object" ? (value as Record<string, unknown>)[k] : undefined;
  let allowed = issue.message;
  if (issue.code === "unrecognized_keys")
    allowed = "no such field (remove it; a BandwidthPlan has only the fields plan writes)";
  else if (issue.code === "invalid_value") allowed = `one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
  else if (issue.code === "too_small") allowed = `at least ${String(issue.minimum)}`;
  else if (issue.code === "too_big") allowed = `at most ${String(issue.maximum)}`;
  else if (issue.code === "invalid_type") allowed = `a value of type ${issue.expected}`;
  else if (issue.code === "invalid_union") allowed = 'change.option "vertical" or "horizontal" with its fields';
  return MESSAGES.badPlanField(
    file,
    path.join(".") || "(plan)",
    value === undefined ? "nothing" : excerpt(value),
    allowed,
  );
}

/** Reads and validates a plan file; a bad file throws a UserError and nothing else happens. */
export function readPlan(file: string): BandwidthPlan {
  let text: string;
  try {
    text = readInputFile(file, "plan file");
  } catch (err) {
    if (!(err instanceof InputFileError)) throw err;
    // A missing file keeps the message operators know; a directory, a FIFO or an oversized file says which.
    throw new UserError(
      /\((ENOENT|EACCES)\)$/.test(err.message) ? MESSAGES.planMissing(file) : `--plan: ${err.message}`,
    );
  }
  let raw: unknown;
  try {
    raw = parseInputYaml(text, file, "plan file");
  } catch (err) {
    if (!(err instanceof InputFileError)) throw err;
    throw new UserError(
      MESSAGES.badPlanField(file, "(file)", "unparseable YAML", `a YAML BandwidthPlan (${err.message})`),
    );
  }
  const problem = planProblem(file, raw);
  if (problem !== null) throw new UserError(problem);
  return bandwidthPlanSchema.parse(raw);
}

export function renderPlanFile(plan: BandwidthPlan): string {
  return (
    "# A bandwidth upgrade plan by imctl bandwidth plan. Review it; edit verify or watch if needed; then\n" +
    `# imctl bandwidth upgrade --plan <this file> --yes\n${stringify(plan, { lineWidth: 0 })}`
  );
}
