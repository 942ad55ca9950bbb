/**
 * `imctl group grow | rebalance | rollback`: the growth workflow of a group (move.ts) started, or rolled back, from
 * the command line. Everything is checked before anything changes: the group exists, the new count is allowed by the
 * stack, no other move of the group is open; then the target's lock is taken (one workflow per target) and the
 * platform plans the move.
 */
import { parseDuration } from "../../../../base/duration.ts";
import { loadSpec, SpecError } from "../../../../infra/lib/spec.ts";
import { UserError } from "../../errors.ts";
import { openTarget } from "../../targets/open.ts";
import { GroupMoveRefusal, type GroupTarget } from "../../targets/target.ts";
import { resolveStack } from "../stack.ts";
import { checkGroupId, readStatus, type GroupStatusResult } from "./index.ts";
import { GROUP_MESSAGES } from "./messages.ts";
import { ANALYSIS_DEFAULTS, describeLook, type AnalysisLimits } from "./analysis.ts";
import {
  ACTIVE_MOVE_PHASES,
  liveController,
  MOVE_DEFAULTS,
  MoveController,
  parseMove,
  readMove,
  requestRollback,
  whenAccepted,
  type MoveRecord,
  type MoveSettings,
} from "./move.ts";

export interface MoveOptions {
  stack?: string;
  /** grow: the new sub-group count (default: what the members need). */
  subGroups?: number;
  /** Seconds each step is observed (default 300). */
  stepPause?: string;
  /** Members switched per second (default 200). */
  rate?: number;
  maxBehind?: number;
  maxLag?: number;
  /** Analysis: delivery latency p99 limit, seconds (default 1). */
  maxLatencyP99?: number;
  /** Analysis: failed notifications to gateways per window (default 10). */
  maxNotifyErrors?: number;
  progress: (line: string) => void;
}

export interface MoveResult {
  groupId: string;
  kind: "grow" | "rebalance";
  moveId: string | null;
  phase: MoveRecord["phase"] | "NothingToMove";
  fromSubGroups: number;
  toSubGroups: number;
  moving: number;
  switched: number;
  steps: number[];
  stepsDone: number;
  elapsedSeconds: number;
  reason?: string;
  /** The analysis' limits the steps were observed against. */
  limits?: AnalysisLimits;
  lastMeasurement?: MoveRecord["measurements"][number];
}

function groupsSettings(stack: string | undefined) {
  try {
    return loadSpec(resolveStack(stack)).messaging.groups;
  } catch (err) {
    if (err instanceof SpecError) throw new UserError(err.message);
    throw err;
  }
}

/** --step-pause in seconds (checked at parse time, cli/src/commands/flags.ts). */
function seconds(d: string | undefined): number {
  if (d === undefined) return MOVE_DEFAULTS.stepPauseSeconds;
  return parseDuration(d, { units: ["ms", "s", "m"], to: "s" }) ?? MOVE_DEFAULTS.stepPauseSeconds;
}

/**
 * Refuses a group with a move open: running in another imctl, or open on the platform with nobody running it. A
 * record left active by a killed imctl whose move the platform has closed since is stale and is replaced.
 */
function requireNoMove(t: GroupTarget, id: string, open: GroupStatusResult["move"] | undefined): void {
  const rec = readMove(t.stateDir, id);
  const pid = rec && ACTIVE_MOVE_PHASES.includes(rec.phase) ? liveController(rec) : undefined;
  if (pid !== undefined) throw new UserError(GROUP_MESSAGES.moveRunning(id, pid));
  if (open?.startedBy === "auto") throw new UserError(GROUP_MESSAGES.autoMoveOpen(id, open.moveId));
  if (open) throw new UserError(GROUP_MESSAGES.moveOpen(id, open.moveId));
}

function result(r: MoveRecord): MoveResult {
  const last = r.measurements[r.measurements.length - 1];
  return {
    groupId: r.groupId,
    kind: r.kind,
    moveId: r.moveId,
    phase: r.phase,
    fromSubGroups: r.fromSubGroups,
    toSubGroups: r.toSubGroups,
    moving: r.moving,
    switched: r.switched,
    steps: r.steps,
    stepsDone: r.step,
    elapsedSeconds: Math.round((Date.parse(r.updatedAt) - Date.parse(r.startedAt)) / 100) / 10,
    ...(r.reason !== undefined ? { reason: r.reason } : {}),
    limits: {
      maxBehind: r.settings.maxBehind ?? ANALYSIS_DEFAULTS.maxBehind,
      maxLagSeconds: r.settings.maxLagSeconds ?? ANALYSIS_DEFAULTS.maxLagSeconds,
      maxLatencyP99Seconds: r.settings.maxLatencyP99Seconds ?? ANALYSIS_DEFAULTS.maxLatencyP99Seconds,
      maxNotifyErrors: r.settings.maxNotifyErrors ?? ANALYSIS_DEFAULTS.maxNotifyErrors,
    },
    ...(last ? { lastMeasurement: last } : {}),
  };
}

/**
 * The platform plans the move; a conflict there is a move of the group planned since the status was read (the
 * platform's automatic trigger, another operator): refused like the check before it, and nothing changed.
 */
/** Plans the move; tried again while the platform refuses it for now (whenAccepted), refused for good on a conflict. */
async function plan(t: GroupTarget, id: string, to: number, progress: (line: string) => void): Promise<unknown> {
  try {
    return await whenAccepted("plan", () => t.groupMove(id, "plan", { subGroups: to }), progress);
  } catch (err) {
    if (err instanceof GroupMoveRefusal && err.status === 409)
      throw new UserError(GROUP_MESSAGES.planConflict(id, err.message));
    throw err;
  }
}

async function start(kind: "grow" | "rebalance", id: string, o: MoveOptions): Promise<MoveResult> {
  checkGroupId(id);
  const settings: MoveSettings = {
    stepPauseSeconds: seconds(o.stepPause),
    ratePerSecond: o.rate ?? MOVE_DEFAULTS.ratePerSecond,
    maxBehind: o.maxBehind ?? MOVE_DEFAULTS.maxBehind,
    maxLagSeconds: o.maxLag ?? MOVE_DEFAULTS.maxLagSeconds,
    maxLatencyP99Seconds: o.maxLatencyP99 ?? MOVE_DEFAULTS.maxLatencyP99Seconds,
    maxNotifyErrors: o.maxNotifyErrors ?? MOVE_DEFAULTS.maxNotifyErrors,
    failureLimit: MOVE_DEFAULTS.failureLimit,
  };
  const g = groupsSettings(o.stack);
  const t = await openTarget({ stack: o.stack }).groups();
  // Without the lag a move's analysis would judge on the backlog alone, quietly weaker than the workflow promises.
  if (t.metricsSource() === null) throw new UserError(GROUP_MESSAGES.noMetrics(resolveStack(o.stack)));
  const st = await readStatus(t, id);
  const has = st.subGroupCount;
  let to = has;
  if (kind === "grow") {
    const lo = has + 1;
    const hi = g.maxSubGroups;
    if (o.subGroups === undefined) {
      if (st.neededSubGroups <= has)
        throw new UserError(GROUP_MESSAGES.noGrowthNeeded(id, st.memberCount, has, lo, hi));
      to = st.neededSubGroups;
    } else {
      if (o.subGroups < lo || o.subGroups > hi)
        throw new UserError(GROUP_MESSAGES.badSubGroups(o.subGroups, lo, hi, has));
      to = o.subGroups;
    }
  }
  requireNoMove(t, id, st.move?.state === "dual" ? st.move : undefined);
  const pending = st.subGroups.reduce((n, s) => n + s.pendingMoves, 0);
  const now = new Date().toISOString();
  if (kind === "rebalance" && pending === 0)
    return {
      groupId: id,
      kind,
      moveId: null,
      phase: "NothingToMove",
      fromSubGroups: has,
      toSubGroups: has,
      moving: 0,
      switched: 0,
      steps: g.switchSteps,
      stepsDone: 0,
      elapsedSeconds: 0,
    };
  // The target lock is taken before the platform plans: a busy target rejects the start and changes nothing.
  const final = await t.withLock(`imctl group ${kind} ${id}`, async () => {
    const m = parseMove(await plan(t, id, to, o.progress));
    const rec: MoveRecord = {
      apiVersion: 1,
      groupId: id,
      kind,
      moveId: m.moveId,
      phase: "Switching",
      fromSubGroups: m.fromSubGroups,
      toSubGroups: m.toSubGroups,
      moving: m.moving,
      switched: m.switched,
      steps: [...g.switchSteps],
      step: 0,
      settings,
      measurements: [],
      timeline: [
        { at: now, what: `planned: ${m.moving} of ${st.memberCount} members move, ${has} -> ${to} sub-groups` },
      ],
      startedAt: now,
      updatedAt: now,
      startedBy: process.env.USER ?? "unknown",
    };
    o.progress(
      `group ${id}: move ${m.moveId} planned: ${m.moving} members move, ${has} -> ${to} sub-groups; dual write on`,
    );
    return new MoveController(t, rec, o.progress).run();
  });
  return result(final);
}

export const grow = (id: string, o: MoveOptions) => start("grow", id, o);
export const rebalance = (id: string, o: MoveOptions) => start("rebalance", id, o);

/**
 * Rolls the group's move back: the running controller is asked (and this waits for it), or, when none runs (imctl
 * was killed), the rollback runs here under the target's lock.
 */
export async function rollback(
  id: string,
  o: { stack?: string; yes?: boolean; progress: (line: string) => void },
): Promise<MoveResult> {
  checkGroupId(id);
  const t = await openTarget({ stack: o.stack }).groups();
  const st = await readStatus(t, id);
  const open = st.move?.state === "dual" ? st.move : undefined;
  if (!open) throw new UserError(GROUP_MESSAGES.noMove(id));
  if (o.yes !== true) throw new UserError(GROUP_MESSAGES.confirmRollback(id, open.moveId, open.switched));
  let rec = readMove(t.stateDir, id);
  const pid = rec && rec.moveId === open.moveId ? liveController(rec) : undefined;
  if (pid !== undefined) {
    requestRollback(t.stateDir, id, "imctl group rollback");
    o.progress(`group ${id}: asked the move's controller (pid ${pid}) to roll back; waiting`);
    for (;;) {
      await new Promise((r) => setTimeout(r, 500));
      rec = readMove(t.stateDir, id);
      if (!rec || !ACTIVE_MOVE_PHASES.includes(rec.phase) || liveController(rec) === undefined) break;
    }
    if (rec && !ACTIVE_MOVE_PHASES.includes(rec.phase)) return result(rec);
  }
  const now = new Date().toISOString();
  const base: MoveRecord =
    rec && rec.moveId === open.moveId
      ? rec
      : {
          apiVersion: 1,
          groupId: id,
          kind: "grow",
          moveId: open.moveId,
          phase: "RollingBack",
          fromSubGroups: open.fromSubGroups,
          toSubGroups: open.toSubGroups,
          moving: open.moving,
          switched: open.switched,
          steps: [],
          step: 0,
          settings: { ...MOVE_DEFAULTS },
          measurements: [],
          timeline: [],
          startedAt: now,
          updatedAt: now,
          // An automatic move has no record here: the platform's trigger started it (docs/groups.md).
          startedBy: open.startedBy === "auto" ? "auto (messaging.groups.autoGrow)" : (process.env.USER ?? "unknown"),
        };
  base.phase = "RollingBack";
  base.reason =
    base.reason ??
    (open.startedBy === "auto"
      ? "rollback of an automatic move by an operator (imctl group rollback); the platform's driver stops"
      : "rollback by an operator (imctl group rollback)");
  const final = await t.withLock(`imctl group rollback ${id}`, () => new MoveController(t, base, o.progress).run());
  return result(final);
}

export function renderMove(r: MoveResult): string {
  if (r.phase === "NothingToMove")
    return `group ${r.groupId}: every member is in its hash placement over ${r.toSubGroups} sub-groups; nothing to move`;
  const lines = [
    `group ${r.groupId}: ${r.kind} ${r.fromSubGroups} -> ${r.toSubGroups} sub-groups, move ${r.moveId}: ${r.phase} ` +
      `after ${r.elapsedSeconds} s`,
    `${r.switched} of ${r.moving} moving members switched; steps ${r.steps.map((s) => `${s} %`).join(", ")} ` +
      `(${r.stepsDone} of ${r.steps.length} done)`,
  ];
  if (r.lastMeasurement) lines.push(`last look: ${describeLook(r.limits ?? ANALYSIS_DEFAULTS, r.lastMeasurement)}`);
  if (r.reason !== undefined) lines.push(`rolled back because: ${r.reason}`);
  return lines.join("\n");
}
