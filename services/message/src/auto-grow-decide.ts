/**
 * What the automatic trigger of group growth (auto-grow.ts, docs/groups.md "Automatic growth") does with one group it
 * looked at: grow it, rebalance it, or leave it, and why. Pure: the caller reads the group and acts.
 */
import type { MoveActor, MoveState } from "./moves.ts";

/** One group as the trigger saw it. */
export interface GroupLook {
  groupId: string;
  members: number;
  subGroups: number;
  /** Members of each sub-group, index = sub-group. */
  subGroupMembers: number[];
  /** Members whose hash placement over the current count is not their sub-group (placed before the count grew). */
  pendingMoves: number;
  /** Members each sub-group would hold with every member in its hash placement over the current count. */
  placedSubGroupMembers: number[];
  /** The group's open move, else its last one; null: none ever. */
  lastMove: { moveId: string; state: MoveState; startedBy: MoveActor; closedAtMs: number | null } | null;
}

export interface AutoGrowPolicy {
  capacity: number;
  warnRatio: number;
  maxSubGroups: number;
  /** Least seconds from the end of the group's last move to an automatic one. */
  cooldownSeconds: number;
}

/** Why a group is left alone, as a stable word (logs and tests); the reason says it in full. */
export type SkipCode = "under_bar" | "move_open" | "rolled_back" | "cooldown" | "at_max";

export type AutoGrowDecision =
  | { groupId: string; action: "grow" | "rebalance"; from: number; to: number; reason: string }
  | { groupId: string; action: "skip"; code: SkipCode; reason: string };

/** Members past which a sub-group is in warn state (services/lib/sub-groups.ts warnState: strictly more). */
export const warnBar = (p: Pick<AutoGrowPolicy, "capacity" | "warnRatio">): number => p.capacity * p.warnRatio;

/**
 * The decision for one group. Leaves it alone when no sub-group is past the warn bar, while any move of it is open
 * (the database allows one; an operator's or an automatic one), when its last move was rolled back (an operator said
 * no, or the analysis failed: a human looks first, the SubGroupWarn alert keeps firing), and for `cooldownSeconds`
 * after its last move ended. Otherwise, when members placed before the count last grew are pending and their hash
 * placement over the current count puts every sub-group under the bar (or the group has maxSubGroups), it rebalances:
 * the cheapest move. Else it grows to the count at which the average sub-group is under the bar (at least one more,
 * at most maxSubGroups), which places the pending members too.
 */
export function decide(g: GroupLook, p: AutoGrowPolicy, nowMs: number): AutoGrowDecision {
  const skip = (code: SkipCode, reason: string): AutoGrowDecision => ({
    groupId: g.groupId,
    action: "skip",
    code,
    reason,
  });
  const bar = warnBar(p);
  const worst = Math.max(0, ...g.subGroupMembers);
  if (worst <= bar) return skip("under_bar", `no sub-group past its warn bar (most members ${worst}, bar ${bar})`);
  const last = g.lastMove;
  if (last?.state === "dual") return skip("move_open", `move ${last.moveId} is open (started by ${last.startedBy})`);
  if (last?.state === "rolled_back")
    return skip("rolled_back", `its last move ${last.moveId} was rolled back; an operator decides the next one`);
  if (last && last.closedAtMs !== null) {
    const left = last.closedAtMs + p.cooldownSeconds * 1000 - nowMs;
    if (left > 0) return skip("cooldown", `cooling down after move ${last.moveId} (${Math.ceil(left / 1000)} s left)`);
  }
  const why = `a sub-group has ${worst} members, past the warn bar ${bar}`;
  const atMost = g.subGroups >= p.maxSubGroups;
  const placedWorst = Math.max(0, ...g.placedSubGroupMembers);
  if (g.pendingMoves > 0 && (placedWorst <= bar || atMost))
    return {
      groupId: g.groupId,
      action: "rebalance",
      from: g.subGroups,
      to: g.subGroups,
      reason:
        `${why}; ${g.pendingMoves} members are not in their placement, ` +
        (atMost
          ? `and it has the most sub-groups allowed (${p.maxSubGroups})`
          : `placed they fill at most ${placedWorst}`),
    };
  if (atMost) return skip("at_max", `${why}, but it has the most sub-groups allowed (${p.maxSubGroups})`);
  const want = Math.min(p.maxSubGroups, Math.max(g.subGroups + 1, Math.ceil(g.members / bar)));
  return { groupId: g.groupId, action: "grow", from: g.subGroups, to: want, reason: `${why}; ${g.members} members` };
}

/** Groups past the bar first, the fullest sub-group first: the trigger starts one move at a time. */
export function byUrgency(a: GroupLook, b: GroupLook): number {
  return Math.max(0, ...b.subGroupMembers) - Math.max(0, ...a.subGroupMembers);
}

/** Members to switch by the end of a step: the step's share of the moving members, rounded up (as imctl's move.ts). */
export function stepTarget(moving: number, percent: number): number {
  return Math.min(moving, Math.ceil((moving * percent) / 100));
}

/**
 * The step a move resumes at from what the database holds (a new leader takes over a move another started, or a round
 * failed midway): the first whose share is not all switched. A step whose share is switched but whose observation
 * may not have ended is that step: it is observed again before the next one switches anybody.
 */
export function resumeStep(moving: number, switched: number, steps: readonly number[]): number {
  const i = steps.findIndex((pc) => stepTarget(moving, pc) >= switched);
  return i === -1 ? Math.max(0, steps.length - 1) : i;
}
