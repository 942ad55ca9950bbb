/**
 * The one duration syntax of the project: a number and a unit, e.g. "500ms", "30s", "1.5m", "2h", "7d", as CLI flags,
 * strategy and plan files take it. Each caller says which units it allows and keeps its own error message (tests
 * assert them verbatim); this module only matches and converts. loadtests/ (k6, not Node) keeps its own copy.
 */

export type DurationUnit = "ms" | "s" | "m" | "h" | "d";

/** The units most callers allow. */
export const DURATION_UNITS: readonly DurationUnit[] = ["ms", "s", "m", "h"];

const IN_MS: Record<DurationUnit, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const IN_SECONDS: Record<DurationUnit, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86_400 };

/** The pattern of a duration with `units`, e.g. /^(\d+(?:\.\d+)?)(ms|s|m|h)$/ (for schemas that take a RegExp). */
export function durationPattern(units: readonly DurationUnit[] = DURATION_UNITS): RegExp {
  return new RegExp(`^(\\d+(?:\\.\\d+)?)(${units.join("|")})$`);
}

/**
 * `value` in `to` ("ms" or "s"), or undefined when it is not a number followed by one of `units`.
 * Zero is a valid duration here; callers that need more than zero check it themselves.
 */
export function parseDuration(
  value: string,
  opts: { units?: readonly DurationUnit[]; to: "ms" | "s" },
): number | undefined {
  const m = durationPattern(opts.units).exec(value);
  if (!m) return undefined;
  const table = opts.to === "ms" ? IN_MS : IN_SECONDS;
  return Number(m[1]) * table[m[2] as DurationUnit];
}
