/**
 * `messaging.groups` of the platform spec: how large groups are split into sub-groups (docs/groups.md). Pure; the
 * services get these values as GROUP_* environment variables.
 */
import { z } from "zod";

/** Members one sub-group is sized for (its hard limit in the design). */
export const DEFAULT_SUB_GROUP_CAPACITY = 1000;
/** A sub-group past this share of its capacity is in warn state (the seed: warn at 900 of 1,000). */
export const DEFAULT_WARN_RATIO = 0.9;
/** Most sub-groups of one group. */
export const DEFAULT_MAX_SUB_GROUPS = 64;
/** The staged switch of a member move, in percent of the moving members (the seed's 10 % -> 30 % -> 100 %). */
export const DEFAULT_SWITCH_STEPS: readonly number[] = [10, 30, 100];

/**
 * Automatic growth is off unless a stack turns it on: a move adds fan-out work (dual write, backfills) beside whatever
 * traffic runs, so an operator opts in once a manual `imctl group grow` has been watched on that platform, and an
 * upgrade never starts moves nobody asked for. The SubGroupWarn alert fires either way.
 */
export const DEFAULT_AUTO_GROW = false;
/** How often the leader looks for sub-groups past their warn bar, seconds. */
export const DEFAULT_AUTO_GROW_INTERVAL_SECONDS = 60;
/** How long each step of an automatic move is observed, seconds (what `imctl group grow` defaults to). */
export const DEFAULT_AUTO_GROW_STEP_PAUSE_SECONDS = 300;
/** Least time from the end of a group's last move to an automatic move of it, seconds. */
export const DEFAULT_AUTO_GROW_COOLDOWN_SECONDS = 1800;

export const SWITCH_STEPS_ALLOWED = "increasing percentages from 1 to 100, ending at 100";

export const groupsSpec = z
  .object({
    /** Members one sub-group is sized for. Default 1000. */
    subGroupCapacity: z.number().int().min(2).max(1_000_000).default(DEFAULT_SUB_GROUP_CAPACITY),
    /** Share of the capacity past which a sub-group is in warn state. Default 0.9. */
    warnRatio: z.number().min(0.5).max(1).default(DEFAULT_WARN_RATIO),
    /** Most sub-groups of one group. Default 64. */
    maxSubGroups: z.number().int().min(1).max(1024).default(DEFAULT_MAX_SUB_GROUPS),
    /** The staged switch of a member move, percent of the moving members. Default [10, 30, 100]. */
    switchSteps: z
      .array(z.number().int().min(1).max(100))
      .min(1)
      .max(10)
      .default([...DEFAULT_SWITCH_STEPS])
      .refine((s) => s.every((v, i) => i === 0 || v > (s[i - 1] ?? 0)) && s[s.length - 1] === 100, {
        message: SWITCH_STEPS_ALLOWED,
      }),
    /** Grow a group by itself when a sub-group passes the warn bar (docs/groups.md). Default false. */
    autoGrow: z.boolean().default(DEFAULT_AUTO_GROW),
    /** Seconds between two looks of the automatic trigger. Default 60. */
    autoGrowIntervalSeconds: z.number().int().min(1).max(3600).default(DEFAULT_AUTO_GROW_INTERVAL_SECONDS),
    /** Seconds each step of an automatic move is observed. Default 300. */
    autoGrowStepPauseSeconds: z.number().int().min(1).max(3600).default(DEFAULT_AUTO_GROW_STEP_PAUSE_SECONDS),
    /** Least seconds from a group's last move to an automatic one. Default 1800. */
    autoGrowCooldownSeconds: z.number().int().min(0).max(604_800).default(DEFAULT_AUTO_GROW_COOLDOWN_SECONDS),
  })
  .strict();

export type GroupsSpec = z.infer<typeof groupsSpec>;

/**
 * The GROUP_* environment of user-center (places members, reports sub-groups) and the message service (the warn bar,
 * the automatic trigger).
 */
export function groupsEnv(g: GroupsSpec): Record<string, string> {
  return {
    GROUP_SUB_GROUP_CAPACITY: String(g.subGroupCapacity),
    GROUP_WARN_RATIO: String(g.warnRatio),
    GROUP_MAX_SUB_GROUPS: String(g.maxSubGroups),
    GROUP_SWITCH_STEPS: g.switchSteps.join(","),
    GROUP_AUTO_GROW: String(g.autoGrow),
    GROUP_AUTO_GROW_INTERVAL_S: String(g.autoGrowIntervalSeconds),
    GROUP_AUTO_GROW_STEP_PAUSE_S: String(g.autoGrowStepPauseSeconds),
    GROUP_AUTO_GROW_COOLDOWN_S: String(g.autoGrowCooldownSeconds),
  };
}
