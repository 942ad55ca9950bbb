/**
 * The value parsers of imctl's flags. Every numeric or duration flag has a range that makes sense for what it
 * controls, checked by commander while it parses the command line: before a handler runs, so before a stack is read,
 * a target is opened or `--yes` is looked at. A value out of range is a usage error naming the flag, an excerpt of the
 * value and the range.
 */
import { InvalidArgumentError } from "commander";
import { excerpt } from "../../../base/excerpt.ts";
import { parseDuration, type DurationUnit } from "../../../base/duration.ts";

const fmt = (n: number) => n.toLocaleString("en-US", { maximumFractionDigits: 6 });

/** A whole number from `min` to `max`. */
export function wholeNumber(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = /^\s*[+-]?\d+\s*$/.test(value) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`got ${excerpt(value)}; allowed: a whole number from ${fmt(min)} to ${fmt(max)}`);
    return n;
  };
}

/** A decimal number above `above` (exclusive) and at most `max`, or below `max` when `maxExclusive`. */
export function decimal(
  above: number,
  max: number,
  opts: { maxExclusive?: boolean; what?: string } = {},
): (value: string) => number {
  const upper = opts.maxExclusive === true ? `below ${fmt(max)}` : `at most ${fmt(max)}`;
  return (value) => {
    const n = /^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/.test(value) ? Number(value) : Number.NaN;
    if (!Number.isFinite(n) || n <= above || n > max || (opts.maxExclusive === true && n === max))
      throw new InvalidArgumentError(
        `got ${excerpt(value)}; allowed: ${opts.what ?? "a number"} above ${fmt(above)} and ${upper}`,
      );
    return n;
  };
}

/** A share of a capacity from `min` to `max` inclusive, e.g. 0.7. */
export function share(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = /^\s*(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/.test(value) ? Number(value) : Number.NaN;
    if (!Number.isFinite(n) || n < min || n > max)
      throw new InvalidArgumentError(`got ${excerpt(value)}; allowed: a share from ${min} to ${max}, e.g. 0.7`);
    return n;
  };
}

/** `seconds` in the largest of `units` that divides it, so the range is written in the syntax the flag takes. */
function spell(seconds: number, units: readonly DurationUnit[]): string {
  const size: Record<DurationUnit, number> = { d: 86_400, h: 3600, m: 60, s: 1, ms: 0.001 };
  const unit = (["d", "h", "m", "s", "ms"] as const).find((u) => units.includes(u) && seconds % size[u] === 0) ?? "s";
  return `${seconds / size[unit]}${unit}`;
}

/**
 * A duration with one of `units`, from `minSeconds` to `maxSeconds`. Returns the text unchanged (handlers keep
 * converting it themselves), so only the range is added here.
 */
export function duration(
  units: readonly DurationUnit[],
  minSeconds: number,
  maxSeconds: number,
): (value: string) => string {
  const list = units.join(", ");
  return (value) => {
    const s = parseDuration(value.trim(), { units, to: "s" });
    if (s === undefined || !(s >= minSeconds && s <= maxSeconds))
      throw new InvalidArgumentError(
        `got ${excerpt(value)}; allowed: ${spell(minSeconds, units)} to ${spell(maxSeconds, units)}, a number with ${list}`,
      );
    return value.trim();
  };
}

/** A growth as "20%", "20 %" or a share "0.2", from 0 to `maxPercent` %. Returns the text unchanged. */
export function growth(maxPercent: number): (value: string) => string {
  return (value) => {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(%?)\s*$/.exec(value);
    const share = m ? Number(m[1]) / (m[2] === "%" ? 100 : 1) : Number.NaN;
    if (!(share >= 0 && share <= maxPercent / 100))
      throw new InvalidArgumentError(
        `got ${excerpt(value)}; allowed: a percentage such as 20% (or a share such as 0.2), 0 to ${maxPercent} %`,
      );
    return value;
  };
}
