/**
 * The value parsers of imctl's flags. Every numeric or duration flag has a range that makes sense for what it
 * controls, checked by commander while it parses the command line: before a handler runs, so before a stack is read,
 * a target is opened or `--yes` is looked at. A value out of range is a usage error naming the flag, an excerpt of the
 * value and the range.
 */
import { withoutCredentials } from "../credentials.ts";
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

/*
 * String flags with a format. Like the numbers above, each is checked while commander parses the command line, so a
 * malformed value is refused before a stack is read, a target opened or `--yes` looked at. Flags with a closed set of
 * values use commander's `choices()` (main.ts words its refusal the same way).
 */

/** Control characters (a newline included): a value holding one would break the one-line error and the audit log. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** A check of `value` by `ok`, refused with "got <excerpt>; allowed: <allowed>" (the value as `shown`). */
export function format(
  ok: (value: string) => boolean,
  allowed: string,
  shown: (value: string) => string = (v) => v,
): (value: string) => string {
  return (value) => {
    if (!ok(value)) throw new InvalidArgumentError(`got ${excerpt(shown(value))}; allowed: ${allowed}`);
    return value;
  };
}

/** A URL as an error quotes it: a user and password in it are replaced by "***", never printed. */
export { withoutCredentials };

/**
 * An http(s) URL: a host, an optional port (1-65535), a path only when `path`, and no user or password (a URL is
 * printed in progress lines and reports, so it must hold no secret).
 */
export function isHttpUrl(value: string, opts: { path?: boolean } = {}): boolean {
  if (value.length > 2048 || CONTROL.test(value) || /\s/.test(value) || !/^https?:\/\/[^/?#]/i.test(value))
    return false;
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return false;
  }
  if (u.hostname === "" || u.username !== "" || u.password !== "") return false;
  return opts.path === true || ((u.pathname === "/" || u.pathname === "") && u.search === "" && u.hash === "");
}

/** A Kubernetes object name (DNS subdomain: lower-case letters, digits, '-' and '.', at most 253). */
export const K8S_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
/** A Kubernetes namespace (DNS label: lower-case letters, digits and '-', at most 63). */
export const K8S_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** A label value such as a topology.kubernetes.io/zone. */
export const LABEL_VALUE = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
/** An image tag: letters, digits, '.', '_', '-', at most 128, starting with a letter or digit. */
export const IMAGE_TAG = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** An image repository: an optional registry host[:port], then lower-case path components. */
const IMAGE_REPO =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::\d{1,5})?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;

/** Printable text of 1 to `max` characters on one line. */
export function text(max: number, what: string): (value: string) => string {
  return format(
    (v) => v.trim().length > 0 && v.length <= max && !CONTROL.test(v),
    `${what}, 1 to ${fmt(max)} characters on one line`,
  );
}

/** A PromQL expression: one line of at most 2,000 characters, brackets and quotes balanced. */
export function isPromql(value: string): boolean {
  if (value.trim() === "" || value.length > 2000 || CONTROL.test(value)) return false;
  const open: string[] = [];
  const pairs: Record<string, string> = { ")": "(", "]": "[", "}": "{" };
  let quote: string | null = null;
  for (let i = 0; i < value.length; i++) {
    const c = value[i] ?? "";
    if (quote !== null) {
      if (c === "\\") i++;
      else if (c === quote) quote = null;
    } else if (c === '"' || c === "'" || c === "`") quote = c;
    else if (c === "(" || c === "[" || c === "{") open.push(c);
    else if (c in pairs && open.pop() !== pairs[c]) return false;
  }
  return quote === null && open.length === 0;
}

/** `NAME=value` pairs of a repeatable flag (`-e A=1 -e B=2`): an upper-case NAME, a value of at most 4,096. */
export function envPair(value: string, previous: string[] | undefined): string[] {
  if (!/^[A-Z][A-Z0-9_]{0,127}=[\s\S]{0,4096}$/.test(value) || value.includes("\0"))
    throw new InvalidArgumentError(`got ${excerpt(value)}; allowed: NAME=value with an upper-case NAME`);
  return [...(previous ?? []), value];
}

/** The string flags' formats, shared by the commands that take them. */
export const STRINGS = {
  prometheus: format(
    (v) => isHttpUrl(v, { path: true }),
    "a Prometheus base URL (http:// or https://, no credentials), e.g. http://127.0.0.1:9090",
    withoutCredentials,
  ),
  edge: format(
    (v) => isHttpUrl(v, { path: true }),
    "the platform's edge URL (http:// or https://, no credentials), e.g. https://im.example.com",
    withoutCredentials,
  ),
  /** loadtest run --target: the word local, or an edge URL without a path. */
  localOrEdge: format(
    (v) => v === "local" || isHttpUrl(v),
    `"local" or the platform's edge URL, e.g. http://127.0.0.1:18080`,
    withoutCredentials,
  ),
  /** loadtest testrun --target: the edge as the runner pods reach it. */
  runnerEdge: format(
    (v) => isHttpUrl(v),
    "the platform's edge URL as the runner pods reach it, e.g. https://im.example.com (the stack's kubernetes.ingress.host)",
    withoutCredentials,
  ),
  namespace: format(
    (v) => K8S_LABEL.test(v),
    "a Kubernetes namespace (lower-case letters, digits and '-', at most 63)",
  ),
  context: text(253, "a kubeconfig context name"),
  imageRepo: format(
    (v) => v.length <= 255 && IMAGE_REPO.test(v),
    "an image repository such as registry.example.com/im (lower-case path, at most 255 characters)",
  ),
  imageTag: format(
    (v) => IMAGE_TAG.test(v),
    "an image tag of letters, digits, '.', '_' and '-' (at most 128, starting with a letter or digit)",
  ),
  /** drill run --instance: a component id (gateway-2, mariadb), a pod or a node name; the fault narrows it further. */
  instance: format((v) => K8S_NAME.test(v), "a component id such as gateway-2 or redis-3, or a pod or node name"),
  workload: format((v) => K8S_NAME.test(v), "a Deployment or StatefulSet name, e.g. gateway-stable"),
  zone: format((v) => LABEL_VALUE.test(v), "a topology.kubernetes.io/zone value, e.g. zone-b"),
  guard: format(isPromql, "a PromQL expression on one line (at most 2,000 characters, brackets and quotes closed)"),
  reason: text(500, "a reason"),
  upgradeId: format(
    (v) => /^[a-z0-9][a-z0-9-]{0,127}$/.test(v),
    "an upgrade id as imctl bandwidth status shows it (lower-case letters, digits and '-')",
  ),
};
