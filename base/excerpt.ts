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
  if (Array.isArray(value)) return `a list of ${value.length} item${value.length === 1 ? "" : "s"}`;
  if (value !== null && typeof value === "object") {
    const n = Object.keys(value).length;
    return `a mapping of ${n} key${n === 1 ? "" : "s"}`;
  }
  // Numbers, booleans, null: short already, but a bigint may not be.
  const s = String(value);
  return s.length > EXCERPT_CHARS ? `${s.slice(0, EXCERPT_CHARS)}…` : s;
}
