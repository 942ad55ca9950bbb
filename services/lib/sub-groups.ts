/**
 * Sub-groups of large groups (docs/groups.md): where a member is placed, how many sub-groups a group needs, and when a
 * sub-group is in warn state. Pure; user-center places members with it, the message service and `imctl group status`
 * report with it.
 */
import { z } from "zod";
import { intFrom } from "./config.ts";

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const MASK64 = 0xffffffffffffffffn;

/** FNV-1a, 32 bits, of a string's UTF-16 code units: a cheap spread of keys over slices or lanes within a process. */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** FNV-1a, 64 bits, of a string's UTF-8 bytes: a stable hash of a user id, the same in every process and release. */
export function fnv1a64(s: string): bigint {
  let h = FNV_OFFSET;
  for (const b of Buffer.from(s, "utf8")) h = ((h ^ BigInt(b)) * FNV_PRIME) & MASK64;
  return h;
}

/**
 * Jump consistent hash (Lamping and Veach, 2014): a bucket in [0, buckets) for a 64-bit key. Growing from n to n'
 * buckets moves only 1 - n/n' of the keys, and each of them to one of the new buckets, so growing a group never moves
 * a member between two sub-groups that already exist.
 */
export function jumpHash(key: bigint, buckets: number): number {
  let k = key & MASK64;
  let b = -1;
  let j = 0;
  while (j < buckets) {
    b = j;
    k = (k * 2862933555777941757n + 1n) & MASK64;
    j = Math.floor(((b + 1) * 2 ** 31) / (Number(k >> 33n) + 1));
  }
  return b;
}

/** The sub-group a member belongs in when its group has `subGroups` sub-groups. */
export function placeMember(userId: string, subGroups: number): number {
  if (!Number.isInteger(subGroups) || subGroups < 1) throw new RangeError(`subGroups: got ${subGroups}; at least 1`);
  return jumpHash(fnv1a64(userId), subGroups);
}

export interface SubGroupSettings {
  /** Members one sub-group is sized for. */
  capacity: number;
  /** Share of the capacity past which a sub-group is in warn state. */
  warnRatio: number;
  /** Most sub-groups of one group. */
  maxSubGroups: number;
  /** The staged switch of a member move, percent of the moving members (the growth workflow, docs/groups.md). */
  switchSteps: number[];
}

/** The sub-groups a group of `members` needs: one per `capacity` members, at least 1, at most `maxSubGroups`. */
export function subGroupsNeeded(members: number, s: Pick<SubGroupSettings, "capacity" | "maxSubGroups">): number {
  return Math.min(s.maxSubGroups, Math.max(1, Math.ceil(members / s.capacity)));
}

export type WarnState = "ok" | "warn" | "over";

/** "over" past the capacity, "warn" past the warn ratio of it (900 of 1,000 at 0.9 is still ok), else "ok". */
export function warnState(members: number, s: Pick<SubGroupSettings, "capacity" | "warnRatio">): WarnState {
  if (members > s.capacity) return "over";
  return members > s.capacity * s.warnRatio ? "warn" : "ok";
}

/** The GROUP_* environment (set from the stack's messaging.groups; the defaults are the stack's). */
export const subGroupConfig = z.object({
  GROUP_SUB_GROUP_CAPACITY: intFrom(2, 1_000_000).default(1000),
  GROUP_WARN_RATIO: z.coerce.number().min(0.5).max(1).default(0.9),
  GROUP_MAX_SUB_GROUPS: intFrom(1, 1024).default(64),
  GROUP_SWITCH_STEPS: z
    .string()
    .regex(/^[0-9]{1,3}(,[0-9]{1,3})*$/, "comma-separated percentages, e.g. 10,30,100")
    .default("10,30,100")
    .transform((s) => s.split(",").map(Number))
    .refine((s) => s.every((v, i) => v >= 1 && v > (s[i - 1] ?? 0)) && s[s.length - 1] === 100, {
      message: "increasing percentages from 1 to 100, ending at 100",
    }),
});

export function subGroupSettings(cfg: z.infer<typeof subGroupConfig>): SubGroupSettings {
  return {
    capacity: cfg.GROUP_SUB_GROUP_CAPACITY,
    warnRatio: cfg.GROUP_WARN_RATIO,
    maxSubGroups: cfg.GROUP_MAX_SUB_GROUPS,
    switchSteps: cfg.GROUP_SWITCH_STEPS,
  };
}
