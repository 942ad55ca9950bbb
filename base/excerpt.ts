/**
 * How an error quotes a value it got from outside (a flag, a field of a stack file): JSON-quoted and cut to a short
 * excerpt, so an error can name the value without ever echoing a whole file (a .env, a key, a 50 MB line) back.
 */

/** Most characters of a value an error quotes. */
export const EXCERPT_CHARS = 80;

/** `value` as an error shows it: strings JSON-quoted and cut to EXCERPT_CHARS; objects and arrays by their shape. */
export function excerpt(value: unknown): string {
  if (value === undefined) return "missing";
  if (typeof value === "string") {
    const cut = value.length > EXCERPT_CHARS ? `${value.slice(0, EXCERPT_CHARS)}…` : value;
    return `${JSON.stringify(cut)}${value.length > EXCERPT_CHARS ? ` (${value.length} characters)` : ""}`;
  }
  if (value !== null && typeof value === "object") {
    // A small object reads best as itself; a large one (a whole document) only by its shape.
    const small = shortJson(value);
    if (small !== undefined) return small;
  }
  if (Array.isArray(value)) return `a list of ${value.length} item${value.length === 1 ? "" : "s"}`;
  if (value !== null && typeof value === "object") {
    const n = Object.keys(value).length;
    return `a mapping of ${n} key${n === 1 ? "" : "s"}`;
  }
  // Numbers, booleans, null: short already, but a bigint may not be.
  const s = String(value);
  return s.length > EXCERPT_CHARS ? `${s.slice(0, EXCERPT_CHARS)}…` : s;
}

/** Compact JSON of `value` when it has at most EXCERPT_CHARS characters; undefined otherwise (or when it has none). */
function shortJson(value: object): string | undefined {
  // Walk only as far as the limit allows, so a huge object costs nothing to describe.
  let budget = EXCERPT_CHARS;
  const fits = (v: unknown, depth: number): boolean => {
    if (--budget < 0 || depth > 8) return false;
    if (v !== null && typeof v === "object") {
      for (const k in v) {
        budget -= k.length;
        if (!fits((v as Record<string, unknown>)[k], depth + 1)) return false;
      }
    } else if (typeof v === "string") budget -= v.length;
    return budget >= 0;
  };
  if (!fits(value, 0)) return undefined;
  const json = JSON.stringify(value);
  return json !== undefined && json.length <= EXCERPT_CHARS ? json : undefined;
}
