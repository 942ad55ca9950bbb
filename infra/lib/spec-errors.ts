/**
 * How a stack file's first problem becomes one line: what an issue allows, the value at its path, and the keys allowed
 * where an unknown key was found. Pure; spec.ts builds the message.
 */
import type { z } from "zod";

/**
 * The keys the schema allows in the mapping at `path` (through optional, default and list layers; in a union, the
 * option the document's discriminator picks, or every option's keys).
 */
export function allowedKeysAt(schema: z.core.$ZodType, raw: unknown, path: ReadonlyArray<PropertyKey>): string[] {
  type Def = {
    type: string;
    innerType?: z.core.$ZodType;
    in?: z.core.$ZodType;
    shape?: Record<string, z.core.$ZodType>;
    element?: z.core.$ZodType;
    valueType?: z.core.$ZodType;
    options?: z.core.$ZodType[];
    discriminator?: string;
  };
  const defOf = (t: z.core.$ZodType) => t._zod.def as Def;
  const unwrap = (t: z.core.$ZodType): z.core.$ZodType => {
    const def = defOf(t);
    if (def.innerType !== undefined) return unwrap(def.innerType);
    if (def.type === "pipe" && def.in !== undefined) return unwrap(def.in);
    return t;
  };
  /** The object options of a union that fit `value` (by its discriminator when there is one). */
  const objectsOf = (t: z.core.$ZodType, value: unknown): z.core.$ZodType[] => {
    const def = defOf(t);
    if (def.type !== "union") return [t];
    const options = (def.options ?? []).map(unwrap).filter((o) => defOf(o).type === "object");
    const disc = def.discriminator;
    if (disc === undefined || value === null || typeof value !== "object") return options;
    const picked = options.filter((o) => {
      const d = defOf(o).shape?.[disc];
      return d !== undefined && d._zod.values?.has((value as Record<string, never>)[disc]) === true;
    });
    return picked.length > 0 ? picked : options;
  };
  let types: z.core.$ZodType[] = [schema];
  let value: unknown = raw;
  for (const key of path) {
    types = types
      .map(unwrap)
      .flatMap((t) => objectsOf(t, value))
      .flatMap((t) => {
        const def = defOf(t);
        const next =
          def.type === "object" ? def.shape?.[String(key)] : def.type === "array" ? def.element : def.valueType;
        return next === undefined ? [] : [next];
      });
    value = value !== null && typeof value === "object" ? (value as Record<PropertyKey, unknown>)[key] : undefined;
  }
  const keys = types
    .map(unwrap)
    .flatMap((t) => objectsOf(t, value))
    .flatMap((t) => Object.keys(defOf(t).shape ?? {}));
  return [...new Set(keys)];
}

/** The value at `path` in parsed data; undefined where the path leaves it. */
export function valueAt(raw: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let cur: unknown = raw;
  for (const key of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

/** What a zod issue allows, in the words the stack errors use. */
export function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case "invalid_type":
      return `expected ${issue.expected}`;
    case "too_small":
      return `must be at least ${String(issue.minimum)}${issue.origin === "array" ? " items" : ""}`;
    case "too_big":
      return `must be at most ${String(issue.maximum)}${issue.origin === "array" ? " items" : ""}`;
    case "invalid_value":
      return `allowed: ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`;
    case "unrecognized_keys":
      return `unknown field(s) ${issue.keys.map((k) => JSON.stringify(k)).join(", ")}`;
    case "invalid_format":
      return issue.message;
    case "invalid_union":
      // A discriminated union (cluster.data.mode) whose discriminator matches none of its options.
      return "options" in issue && Array.isArray(issue.options)
        ? `allowed: ${issue.options.map((v) => JSON.stringify(v)).join(", ")}`
        : issue.message;
    default:
      return issue.message;
  }
}
