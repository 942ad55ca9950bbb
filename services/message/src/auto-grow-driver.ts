/**
 * Drives one automatic move (docs/groups.md, "Automatic growth") through the same workflow as `imctl group grow`
 * (cli/src/commands/group/move.ts): the switch in the stack's steps at a bounded rate, each step observed for the
 * step pause, the finish; or, when a step's analysis fails, the rollback. Every step is a short transaction of
 * moves.ts, so the driver can stop between any two (shutdown, lease lost) and a new leader resumes from the database.
 * An operator's rollback wins: from its first batch the move refuses switches and the finish, and the driver stops.
 */
import type { Logger } from "pino";
import { ApiError } from "../../lib/errors.ts";
import { resumeStep, stepTarget } from "./auto-grow-decide.ts";
import { currentMove, finishMove, rollbackBatch, switchBatch, type BackfillDeps, type GroupMove } from "./moves.ts";
import type mysql from "mysql2/promise";

export interface DriverSettings {
  /** Percent of the moving members switched by the end of each step (messaging.groups.switchSteps). */
  switchSteps: number[];
  /** How long each step is observed, ms. */
  stepPauseMs: number;
  /** Members switched (or reverted) per second. */
  ratePerSecond: number;
  /** A sub-group's fan-out backlog above this many timeline entries is a failed look. */
  maxBehind: number;
  /** Failed looks in a row that roll the move back. */
  failureLimit: number;
}

/** As `imctl group grow`'s defaults (MOVE_DEFAULTS): 200 members a second, 1,000 entries behind, 3 looks. */
export const DRIVER_DEFAULTS = { ratePerSecond: 200, maxBehind: 1000, failureLimit: 3 } as const;

/**
 * finished / rolled_back: the driver ended the move; operator: someone else closed it or is rolling it back;
 * stopped: the driver let go (shutdown, lease lost) and the move stays open for the next leader.
 */
export type DriveOutcome = "finished" | "rolled_back" | "operator" | "stopped";

/** How long the finish waits for the old sub-groups' fan-out to pass the plan's head, as imctl's (2 minutes). */
const FINISH_TRIES = 120;

/** What the driver does to the move: moves.ts on the database (tests pass their own). */
export interface MoveOps {
  switchBatch(groupId: string, limit: number): Promise<{ move: GroupMove; changed: number }>;
  rollbackBatch(groupId: string, limit: number): Promise<{ changed: number; done: boolean }>;
  finishMove(groupId: string): Promise<unknown>;
  currentMove(groupId: string): Promise<GroupMove | null>;
  maxBehind(groupId: string): Promise<number>;
}

export function databaseOps(d: BackfillDeps): MoveOps {
  return {
    switchBatch: (g, limit) => switchBatch(d, g, limit),
    rollbackBatch: (g, limit) => rollbackBatch(d, g, limit, "auto"),
    finishMove: (g) => finishMove(d.db, g),
    currentMove: (g) => currentMove(d.db, g),
    maxBehind: (g) => maxBehind(d.db, g),
  };
}

export interface DriverHooks {
  /** False once the driver must let go: shutting down, or the leader lease lost. */
  keep: () => Promise<boolean>;
  log: Logger;
  sleep: (ms: number) => Promise<void>;
}

export class AutoMoveDriver {
  /** Why the move was rolled back, when the driver did it. */
  reason?: string;

  private readonly keep: DriverHooks["keep"];
  private readonly log: Logger;
  private readonly sleep: DriverHooks["sleep"];

  constructor(
    private readonly ops: MoveOps,
    private readonly s: DriverSettings,
    private readonly move: GroupMove,
    hooks: DriverHooks,
  ) {
    this.keep = hooks.keep;
    this.log = hooks.log;
    this.sleep = hooks.sleep;
  }

  private get g(): string {
    return this.move.groupId;
  }

  async run(): Promise<DriveOutcome> {
    try {
      if (this.move.rollbackBy === "operator") return "operator";
      if (this.move.rollbackBy === "auto") return await this.rollback();
      const r = await this.switchSteps();
      if (r === "rollback") return await this.rollback();
      return r === "next" ? await this.finish() : r;
    } catch (err) {
      // A conflict: the move was closed or rolled back by someone else between two of our steps.
      if (err instanceof ApiError && err.code === "conflict" && (await this.takenOver())) return "operator";
      throw err;
    }
  }

  /** True when the move is no longer ours to drive: closed, or an operator asked for its rollback. */
  private async takenOver(): Promise<boolean> {
    const m = await this.ops.currentMove(this.g);
    return m?.moveId !== this.move.moveId || m.state !== "dual" || m.rollbackBy === "operator";
  }

  private get batch(): number {
    return Math.max(1, Math.min(500, Math.floor(this.s.ratePerSecond)));
  }

  private async switchSteps(): Promise<"next" | "rollback" | DriveOutcome> {
    const steps = this.s.switchSteps;
    let switched = this.move.switched;
    for (let i = resumeStep(this.move.moving, switched, steps); i < steps.length; i++) {
      const pc = steps[i] ?? 100;
      const want = stepTarget(this.move.moving, pc);
      while (switched < want) {
        if (!(await this.keep())) return "stopped";
        const res = await this.ops.switchBatch(this.g, Math.min(this.batch, want - switched));
        switched = res.move.switched;
        if (res.changed === 0) break;
        await this.sleep((1000 * res.changed) / this.s.ratePerSecond);
      }
      this.log.info(
        { group: this.g, move: this.move.moveId, step: i + 1, steps: steps.length, percent: pc, switched },
        "auto-grow: step switched and backfilled; observing",
      );
      const r = await this.observe(i + 1);
      if (r !== "next") return r;
    }
    return "next";
  }

  /** Looks at the group once a second for the step pause. */
  private async observe(step: number): Promise<"next" | "rollback" | DriveOutcome> {
    const end = Date.now() + this.s.stepPauseMs;
    let failures = 0;
    do {
      if (!(await this.keep())) return "stopped";
      if (await this.takenOver()) return "operator";
      const behind = await this.ops.maxBehind(this.g);
      failures = behind > this.s.maxBehind ? failures + 1 : 0;
      if (failures >= this.s.failureLimit) {
        this.reason =
          `step ${step}: ${failures} looks in a row with a sub-group's fan-out ${behind} entries behind ` +
          `(at most ${this.s.maxBehind})`;
        return "rollback";
      }
      await this.sleep(Math.min(1000, Math.max(0, end - Date.now())));
    } while (Date.now() < end);
    return "next";
  }

  private async finish(): Promise<DriveOutcome> {
    for (let attempt = 1; ; attempt++) {
      if (!(await this.keep())) return "stopped";
      try {
        await this.ops.finishMove(this.g);
        return "finished";
      } catch (err) {
        // Unavailable: an old sub-group's fan-out has not passed the plan's head yet; it will.
        if (!(err instanceof ApiError) || err.code !== "unavailable" || attempt >= FINISH_TRIES) throw err;
        await this.sleep(1000);
      }
    }
  }

  private async rollback(): Promise<DriveOutcome> {
    this.log.warn({ group: this.g, move: this.move.moveId, reason: this.reason }, "auto-grow: rolling the move back");
    for (;;) {
      if (!(await this.keep())) return "stopped";
      const res = await this.ops.rollbackBatch(this.g, this.batch);
      if (res.done) return "rolled_back";
      await this.sleep((1000 * res.changed) / this.s.ratePerSecond);
    }
  }
}

/** Most timeline entries any of the group's sub-groups' fan-out is behind its head (the analysis of a look). */
export async function maxBehind(db: mysql.Pool, groupId: string): Promise<number> {
  const [[r]] = await db.query<mysql.RowDataPacket[]>(
    "SELECT g.head_seq, g.fanout_seq, g.sub_groups, (SELECT MIN(s.fanout_seq) FROM group_sub_groups s" +
      " WHERE s.group_id = g.group_id AND s.sub_group < g.sub_groups) AS low FROM im_groups g WHERE g.group_id = ?",
    [groupId],
  );
  if (!r) return 0;
  const low = Number(r.sub_groups) === 1 || r.low === null ? Number(r.fanout_seq) : Number(r.low);
  return Math.max(0, Number(r.head_seq) - low);
}
