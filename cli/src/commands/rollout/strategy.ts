/**
 * A rollout strategy is data (as in Argo Rollouts): steps of `setWeight`, `pause` (for a duration, or until
 * promoted) and `analysis` (metrics measured every `interval`, judged by a success condition, with a failure
 * limit). Pure: parsing, validation, defaults and the query templates live here, apart from any I/O, so the
 * rules are unit-tested and a bad file is rejected before anything changes.
 */
import { excerpt } from "../../../../base/excerpt.ts";
import { InputFileError, parseInputYaml, readInputFile } from "../../../../infra/lib/input-file.ts";
import { z } from "zod";
import { durationPattern, parseDuration } from "../../../../base/duration.ts";
import { UserError } from "../../errors.ts";
import { MESSAGES } from "./messages.ts";
import { parseCondition } from "./condition.ts";

const DURATION = durationPattern(["ms", "s", "m", "h"]);

/** "30s" -> 30000. Throws a UserError naming `field` for anything else. */
export function durationMs(field: string, value: string): number {
  const ms = parseDuration(value, { units: ["ms", "s", "m", "h"], to: "ms" });
  if (ms === undefined)
    throw new UserError(`${field}: got ${JSON.stringify(value)}; allowed: a number with ms, s, m or h, e.g. 30s`);
  return ms;
}

/** A duration of the strategy (a pause, an interval, a gate's load): at most 7 days. */
const duration = z
  .string()
  .regex(DURATION, "a number with ms, s, m or h, e.g. 30s")
  .refine((v) => (parseDuration(v, { units: ["ms", "s", "m", "h"], to: "s" }) ?? 0) <= 7 * 86_400, "at most 168h");
const weight = z
  .number()
  .int("a whole number from 0 to 100")
  .min(0, "a whole number from 0 to 100")
  .max(100, "a whole number from 0 to 100");

/** Where a metric's value comes from: a PromQL query, or a k6 scenario run as a gate (its verdict is the value). */
const provider = z.union([
  z.object({ prometheus: z.object({ query: z.string().min(1) }).strict() }).strict(),
  z
    .object({
      loadtest: z
        .object({
          scenario: z.string().min(1),
          vus: z
            .number()
            .int()
            .min(1, "a whole number from 1 to 50000")
            .max(50_000, "a whole number from 1 to 50000")
            .optional(),
          rate: z.number().positive().max(1_000_000, "at most 1000000").optional(),
          duration: duration.optional(),
          maxP99: z.number().positive().max(600_000, "at most 600000 (ms)").optional(),
        })
        .strict(),
    })
    .strict(),
]);

const metric = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,40}$/, "lower-case letters, digits and '-'"),
    /** Time between two measurements. Default 30s. */
    interval: duration.optional(),
    /** Measurements to take (errors not counted). Default 3. */
    count: z.number().int().min(1).max(1000).optional(),
    /** e.g. "result <= 0.01" or "result <= stable * 2 + 0.05". */
    successCondition: z.string().min(1),
    /** Failed measurements tolerated; the next one fails the analysis. Default 0 (the first failure aborts). */
    failureLimit: z.number().int().min(0).max(1000, "a whole number from 0 to 1000").optional(),
    /** Consecutive measurement errors (no data, query failed) tolerated. Default 4. */
    consecutiveErrorLimit: z.number().int().min(0).max(1000, "a whole number from 0 to 1000").optional(),
    /** Inconclusive measurements tolerated before the rollout pauses. Default 0. */
    inconclusiveLimit: z.number().int().min(0).max(1000, "a whole number from 0 to 1000").optional(),
    /** Optional: when true the measurement is Failed; when neither condition holds it is Inconclusive. */
    failureCondition: z.string().min(1).optional(),
    provider,
  })
  .strict();

const step = z.union([
  z.object({ setWeight: weight }).strict(),
  z.object({ pause: z.object({ duration: duration.optional() }).strict() }).strict(),
  z.object({ analysis: z.object({ metrics: z.array(metric).min(1).max(20) }).strict() }).strict(),
]);

const strategySchema = z
  .object({
    /** Canary instances (pods) while the rollout runs. Default 1. */
    canaryReplicas: z.number().int().min(1).max(20).optional(),
    steps: z.array(step).min(1, "at least one step").max(100, "at most 100 steps"),
  })
  .strict();

export type MetricSpec = z.infer<typeof metric>;
export type CanaryStep = z.infer<typeof step>;

/** A metric with every default resolved. */
export interface Metric extends Omit<
  MetricSpec,
  "interval" | "count" | "failureLimit" | "consecutiveErrorLimit" | "inconclusiveLimit"
> {
  intervalMs: number;
  count: number;
  failureLimit: number;
  consecutiveErrorLimit: number;
  inconclusiveLimit: number;
}

export type Step =
  { setWeight: number } | { pause: { durationMs: number | null } } | { analysis: { metrics: Metric[] } };

export interface Strategy {
  canaryReplicas: number;
  steps: Step[];
}

export const DEFAULTS = {
  intervalMs: 30_000,
  count: 3,
  failureLimit: 0,
  consecutiveErrorLimit: 4,
  inconclusiveLimit: 0,
  canaryReplicas: 1,
} as const;

/**
 * What the platform compares, per service: error rate, p99 latency and (for the gateway) delivery latency of the
 * canary version against the stable one. `{{version}}` and `{{stableVersion}}` are filled in; a condition's
 * `stable` is the same query run for the stable version.
 */
// An empty error series means no errors, not no data: hence "or vector(0)" in the numerators (no traffic at all
// still gives no data, an Error, never a pass).
const WINDOW = "1m";
export function defaultMetrics(service: string): MetricSpec[] {
  if (service === "gateway") {
    return [
      {
        name: "error-rate",
        successCondition: "result <= 0.01",
        provider: {
          prometheus: {
            query:
              `(sum(rate(im_gateway_frames_total{service="gateway",version="{{version}}",result!="ok"}[${WINDOW}])) ` +
              `or vector(0)) / sum(rate(im_gateway_frames_total{service="gateway",version="{{version}}"}[${WINDOW}]))`,
          },
        },
      },
      {
        name: "p99-latency",
        successCondition: "result <= stable * 2 + 0.05",
        provider: {
          prometheus: {
            query:
              "histogram_quantile(0.99, sum by (le) (rate(im_gateway_frame_duration_seconds_bucket" +
              `{service="gateway",version="{{version}}",type="send"}[${WINDOW}])))`,
          },
        },
      },
      {
        name: "delivery-latency",
        successCondition: "result <= stable * 2 + 0.05",
        provider: {
          prometheus: {
            query: `histogram_quantile(0.99, sum by (le) (rate(im_delivery_latency_seconds_bucket{service="gateway",version="{{version}}"}[${WINDOW}])))`,
          },
        },
      },
    ];
  }
  return [
    {
      name: "error-rate",
      successCondition: "result <= 0.01",
      provider: {
        prometheus: {
          query:
            `(sum(rate(im_requests_total{service="${service}",version="{{version}}",code=~"5.."}[${WINDOW}])) ` +
            `or vector(0)) / sum(rate(im_requests_total{service="${service}",version="{{version}}"}[${WINDOW}]))`,
        },
      },
    },
    {
      name: "p99-latency",
      successCondition: "result <= stable * 2 + 0.05",
      provider: {
        prometheus: {
          query: `histogram_quantile(0.99, sum by (le) (rate(im_request_duration_seconds_bucket{service="${service}",version="{{version}}"}[${WINDOW}])))`,
        },
      },
    },
  ];
}

/** The seed's progression: 10 %, then 30 %, then 100 %, each analysed against the stable version. */
export function defaultStrategy(service: string): z.input<typeof strategySchema> {
  const analysis = { analysis: { metrics: defaultMetrics(service) } };
  return { steps: [{ setWeight: 10 }, analysis, { setWeight: 30 }, analysis, { setWeight: 100 }] };
}

function issuePath(path: ReadonlyArray<PropertyKey>): string {
  return path
    .map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`))
    .join("")
    .replace(/^\./, "");
}

function valueAt(raw: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let v = raw;
  for (const p of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

/**
 * Validates a strategy (as parsed from YAML or JSON) and resolves every default once. Rejects, with one line
 * naming the field: a weight outside 0 to 100, an unknown step, steps that never reach 100 %, conditions that
 * do not parse, and a `stable` in a load-test condition (a gate has no stable counterpart).
 */
export function resolveStrategy(raw: unknown, source = "strategy"): Strategy {
  const r = strategySchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues.find((i) => i.code !== "invalid_union") ?? r.error.issues[0];
    const unionIssue = r.error.issues[0];
    // A union's own message ("Invalid input") says nothing: name the step kinds instead.
    if (unionIssue?.code === "invalid_union" && unionIssue.path.length === 2 && unionIssue.path[0] === "steps") {
      const p = unionIssue.path;
      const field = weightIssue(raw, p);
      if (field) throw new UserError(field(source));
      throw new UserError(MESSAGES.strategyStep(source, issuePath(p), valueAt(raw, p)));
    }
    const p = issue?.path ?? [];
    throw new UserError(
      `${source}: ${issuePath(p) || "(top level)"}: got ${valueAt(raw, p) === undefined ? "nothing" : excerpt(valueAt(raw, p))}; ` +
        `allowed: ${issue?.message ?? "see runbooks/canary-release.md"}`,
    );
  }
  const s = r.data;
  const steps: Step[] = s.steps.map((st, i): Step => {
    if ("setWeight" in st) return { setWeight: st.setWeight };
    if ("pause" in st)
      return {
        pause: {
          durationMs:
            st.pause.duration === undefined
              ? null
              : durationMs(`${source}: steps[${i}].pause.duration`, st.pause.duration),
        },
      };
    return {
      analysis: {
        metrics: st.analysis.metrics.map((m, j) => {
          const at = `${source}: steps[${i}].analysis.metrics[${j}]`;
          for (const [k, cond] of [
            ["successCondition", m.successCondition],
            ["failureCondition", m.failureCondition],
          ] as const) {
            if (cond === undefined) continue;
            try {
              const c = parseCondition(cond);
              if (c.usesStable && "loadtest" in m.provider)
                throw new Error("a load-test gate has no stable value: use result only");
            } catch (err) {
              throw new UserError(`${at}.${k}: got ${JSON.stringify(cond)}; ${(err as Error).message}`);
            }
          }
          return {
            name: m.name,
            successCondition: m.successCondition,
            ...(m.failureCondition === undefined ? {} : { failureCondition: m.failureCondition }),
            provider: m.provider,
            intervalMs: m.interval === undefined ? DEFAULTS.intervalMs : durationMs(`${at}.interval`, m.interval),
            count: m.count ?? DEFAULTS.count,
            failureLimit: m.failureLimit ?? DEFAULTS.failureLimit,
            consecutiveErrorLimit: m.consecutiveErrorLimit ?? DEFAULTS.consecutiveErrorLimit,
            inconclusiveLimit: m.inconclusiveLimit ?? DEFAULTS.inconclusiveLimit,
          };
        }),
      },
    };
  });
  const weights = steps.flatMap((st) => ("setWeight" in st ? [st.setWeight] : []));
  if (weights.at(-1) !== 100) {
    throw new UserError(MESSAGES.strategyNever100(source, weights.at(-1)));
  }
  return { canaryReplicas: s.canaryReplicas ?? DEFAULTS.canaryReplicas, steps };
}

/** A weight outside 0..100 gets the message operators look for, not a union error. */
function weightIssue(raw: unknown, path: ReadonlyArray<PropertyKey>): ((source: string) => string) | null {
  const st = valueAt(raw, path);
  if (st === null || typeof st !== "object" || !("setWeight" in st)) return null;
  const w = (st as { setWeight: unknown }).setWeight;
  if (typeof w === "number" && Number.isInteger(w) && w >= 0 && w <= 100) return null;
  return (source) => MESSAGES.strategyWeight(source, issuePath(path), w);
}

/** Reads a strategy file (YAML or JSON); without one, the default strategy of the service. */
export function loadStrategy(service: string, file?: string): Strategy {
  if (file === undefined) return resolveStrategy(defaultStrategy(service), "default strategy");
  let raw: unknown;
  try {
    raw = parseInputYaml(readInputFile(file, "strategy file"), file, "strategy file");
  } catch (err) {
    if (err instanceof InputFileError) throw new UserError(`--strategy: ${err.message}`);
    throw err;
  }
  return resolveStrategy(raw, file);
}

/** Fills a query template. */
export function renderQuery(
  template: string,
  vars: { version: string; stableVersion: string; service: string },
): string {
  return template
    .replaceAll("{{version}}", vars.version)
    .replaceAll("{{stableVersion}}", vars.stableVersion)
    .replaceAll("{{service}}", vars.service);
}

/** One line per step, for status and for the start summary. */
export function describeStep(st: Step): string {
  if ("setWeight" in st) return `setWeight ${st.setWeight}`;
  if ("pause" in st)
    return st.pause.durationMs === null ? "pause until promoted" : `pause ${st.pause.durationMs / 1000}s`;
  return `analysis (${st.analysis.metrics.map((m) => m.name).join(", ")})`;
}
