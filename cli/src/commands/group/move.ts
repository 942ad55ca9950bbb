/**
 * The growth and rebalance workflow of a group (docs/groups.md): a persisted state machine like the rollout. The
 * platform holds the move itself (`group_moves`: the moved set with its old placement, the dual write); this side
 * holds the workflow's record (`group-moves/<group>.json` under the target's state directory), drives the switch in
 * steps at a bounded rate, observes each step for a pause, and finishes or rolls back. An operator's rollback from
 * another terminal is an intent file the running controller takes at its next look.
 */
import { z } from "zod";
import { pidAlive } from "../../lib/process.ts";
import { actor, workflowRecords } from "../../lib/records.ts";
import { GroupMoveRefusal, type GroupTarget } from "../../targets/target.ts";
import { InternalError } from "../../errors.ts";
import {
  ANALYSIS_DEFAULTS,
  describeLook,
  judge,
  look,
  summarizeLooks,
  type AnalysisLimits,
  type Look,
} from "./analysis.ts";

export type MovePhase = "Switching" | "Finishing" | "Succeeded" | "RollingBack" | "RolledBack";
export const ACTIVE_MOVE_PHASES: readonly MovePhase[] = ["Switching", "Finishing", "RollingBack"];

/** One look at the group during a step's pause (analysis.ts); a metric is null when Prometheus had no sample. */
export interface MoveMeasurement extends Look {
  at: string;
  step: number;
  ok: boolean;
  /** The limits the look passed, when it failed. */
  failed?: string[];
}

export interface MoveRecord {
  apiVersion: 1;
  groupId: string;
  kind: "grow" | "rebalance";
  moveId: string;
  phase: MovePhase;
  fromSubGroups: number;
  toSubGroups: number;
  moving: number;
  switched: number;
  /** Percent of the moving members switched at each step (messaging.groups.switchSteps). */
  steps: number[];
  /** Steps done. */
  step: number;
  settings: MoveSettings;
  measurements: MoveMeasurement[];
  timeline: Array<{ at: string; what: string }>;
  /** Why the move was rolled back, when it was. */
  reason?: string;
  startedAt: string;
  updatedAt: string;
  startedBy: string;
  /** The imctl running the workflow now (an operator's rollback elsewhere leaves it an intent). */
  controllerPid?: number;
}

/** The workflow's settings; the analysis' limits are in analysis.ts (a record from before a limit existed lacks it). */
export interface MoveSettings extends AnalysisLimits {
  /** How long each step is observed, seconds. Default 300 (production); tests pass a second or two. */
  stepPauseSeconds: number;
  /** The move's own writes: members switched (or reverted) per second. Default 200. */
  ratePerSecond: number;
  /** Failed looks in a row that stop the move and roll it back. Default 3. */
  failureLimit: number;
}

export const MOVE_DEFAULTS: MoveSettings = {
  stepPauseSeconds: 300,
  ratePerSecond: 200,
  ...ANALYSIS_DEFAULTS,
  failureLimit: 3,
};

const records = (dir: string) => workflowRecords(dir, "group");
const stateFile = (g: string) => `${g}.json`;
const intentFile = (g: string) => `${g}.rollback.json`;

const recordShape = z
  .object({ apiVersion: z.literal(1), groupId: z.string(), moveId: z.string(), phase: z.string() })
  .passthrough();

export function readMove(dir: string, groupId: string): MoveRecord | undefined {
  const raw = records(dir).read(stateFile(groupId));
  if (raw === undefined) return undefined;
  recordShape.parse(raw);
  return raw as MoveRecord;
}

export function saveMove(dir: string, r: MoveRecord, what?: string): void {
  r.updatedAt = new Date().toISOString();
  if (what !== undefined) {
    r.timeline.push({ at: r.updatedAt, what });
    records(dir).audit({ subject: r.groupId, action: r.phase, detail: what, data: { move: r.moveId, step: r.step } });
  }
  records(dir).write(stateFile(r.groupId), r);
}

/** The live imctl running this group's move, if any. */
export function liveController(r: MoveRecord): number | undefined {
  return r.controllerPid !== undefined && r.controllerPid !== process.pid && pidAlive(r.controllerPid)
    ? r.controllerPid
    : undefined;
}

/** An operator asks the running controller to roll back. */
export function requestRollback(dir: string, groupId: string, reason: string): void {
  records(dir).write(intentFile(groupId), { reason, who: actor(), at: new Date().toISOString() });
}

function takeRollbackIntent(dir: string, groupId: string): string | undefined {
  const r = records(dir);
  if (!r.exists(intentFile(groupId))) return undefined;
  const v = r.read(intentFile(groupId)) as { reason?: unknown; who?: unknown } | undefined;
  r.remove(intentFile(groupId));
  return `rollback asked by ${String(v?.who ?? "an operator")}: ${String(v?.reason ?? "")}`;
}

/** The platform's view of a move step's answer, checked. */
const moveShape = z.object({
  moveId: z.string(),
  fromSubGroups: z.number().int().min(1),
  toSubGroups: z.number().int().min(1),
  planHead: z.number().int().min(0),
  moving: z.number().int().min(0),
  switched: z.number().int().min(0),
  state: z.enum(["dual", "done", "rolled_back"]),
});
export type PlatformMove = z.infer<typeof moveShape>;
const stepShape = z.object({ move: moveShape, changed: z.number().int().min(0), done: z.boolean().optional() });

export function parseMove(raw: unknown): PlatformMove {
  const r = moveShape.safeParse(raw);
  if (!r.success) throw new InternalError(`the message service answered a move step with: ${r.error.message}`);
  return r.data;
}

/** Members to switch at a step: the step's share of the moving members, rounded up. */
export function stepTarget(moving: number, percent: number): number {
  return Math.min(moving, Math.ceil((moving * percent) / 100));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Refusals of a step that say "not now" (the message service's database queue full, an instance not ready). */
const RETRYABLE_STATUS = new Set([429, 503]);
/** Tries of one switch or rollback batch the platform refuses for now: about two minutes of backoff. */
export const STEP_ATTEMPTS = 30;

/** Full-jitter backoff before try `attempt + 1` of a refused step: 125 ms doubling up to 5 s. */
export function stepBackoffMs(attempt: number, random: () => number = Math.random): number {
  return Math.min(5000, 125 * 2 ** Math.min(attempt, 6)) * (0.5 + random() / 2);
}

/**
 * A call of a move step, tried again with backoff while the platform refuses it for now (429/503: nothing was done),
 * up to STEP_ATTEMPTS; any other refusal or error is thrown at once.
 */
export async function whenAccepted<T>(what: string, call: () => Promise<T>, say: (line: string) => void): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (!(err instanceof GroupMoveRefusal) || !RETRYABLE_STATUS.has(err.status) || attempt >= STEP_ATTEMPTS)
        throw err;
      say(`${what} refused for now (${err.code}: ${err.message}); trying again (${attempt})`);
      await sleep(stepBackoffMs(attempt));
    }
  }
}

/**
 * Runs a move from its record to Succeeded or RolledBack: the remaining switch steps, each observed, then finish;
 * or, when a step's analysis fails or an operator asks, the rollback. Saves the record at every transition.
 */
export class MoveController {
  private readonly t0 = Date.now();

  constructor(
    private readonly t: GroupTarget,
    private readonly r: MoveRecord,
    private readonly progress: (line: string) => void,
  ) {}

  private say(line: string): void {
    this.progress(`[${((Date.now() - this.t0) / 1000).toFixed(1)} s] group ${this.r.groupId}: ${line}`);
  }

  private save(what?: string): void {
    saveMove(this.t.stateDir, this.r, what);
    if (what !== undefined) this.say(what);
  }

  /**
   * One switch or rollback batch. A batch the platform refuses for now (overloaded: its database queue full under
   * the very load a move runs beside, seen in the group-fanout benchmark) is tried again with backoff instead of
   * ending the workflow with an open move; a batch is safe to repeat (each call takes the members not yet switched).
   */
  private async batchStep(step: "switch" | "rollback", limit: number): Promise<z.infer<typeof stepShape>> {
    const res = await whenAccepted(
      `${step} batch`,
      () => this.t.groupMove(this.r.groupId, step, { limit }),
      (l) => this.say(l),
    );
    return stepShape.parse(res);
  }

  private get batch(): number {
    return Math.max(1, Math.min(500, Math.floor(this.r.settings.ratePerSecond)));
  }

  async run(): Promise<MoveRecord> {
    this.r.controllerPid = process.pid;
    this.save();
    try {
      if (this.r.phase === "Switching") await this.switchSteps();
      if (this.r.phase === "Finishing") await this.finish();
      if (this.r.phase === "RollingBack") await this.rollback();
    } finally {
      delete this.r.controllerPid;
      this.save();
    }
    return this.r;
  }

  private intent(): boolean {
    const why = takeRollbackIntent(this.t.stateDir, this.r.groupId);
    if (why === undefined) return false;
    this.r.phase = "RollingBack";
    this.r.reason = why;
    this.save(why);
    return true;
  }

  private async switchSteps(): Promise<void> {
    const s = this.r.settings;
    for (; this.r.step < this.r.steps.length;) {
      const percent = this.r.steps[this.r.step] ?? 100;
      const want = stepTarget(this.r.moving, percent);
      while (this.r.switched < want) {
        if (this.intent()) return;
        const limit = Math.min(this.batch, want - this.r.switched);
        const res = await this.batchStep("switch", limit);
        this.r.switched = res.move.switched;
        this.save();
        if (res.changed === 0) break;
        await sleep((1000 * res.changed) / s.ratePerSecond);
      }
      this.save(
        `step ${this.r.step + 1}/${this.r.steps.length} (${percent} %): ${this.r.switched} of ${this.r.moving} ` +
          "members switched and backfilled; observing",
      );
      const failed = await this.observe(this.r.step + 1);
      if (failed !== undefined) {
        this.r.phase = "RollingBack";
        this.r.reason = failed;
        this.save(`analysis failed at step ${this.r.step + 1}: ${failed}; rolling back`);
        return;
      }
      if (this.r.phase !== "Switching") return;
      this.r.step++;
      this.save();
    }
    this.r.phase = "Finishing";
    this.save("every step passed; ending the dual write");
  }

  /**
   * Looks at the group once a second for the step's pause; the reason when the analysis failed. A failed look is a
   * progress line; the step's looks end in one line (the worst of each metric, the metrics that had no sample).
   */
  private async observe(step: number): Promise<string | undefined> {
    const s = this.r.settings;
    const end = Date.now() + s.stepPauseSeconds * 1000;
    const looks: MoveMeasurement[] = [];
    let failures = 0;
    do {
      if (this.intent()) return undefined;
      const m = await this.measure(step);
      looks.push(m);
      this.r.measurements.push(m);
      if (this.r.measurements.length > 200) this.r.measurements.shift();
      this.save();
      failures = m.ok ? 0 : failures + 1;
      if (!m.ok) this.say(`look failed (${failures} in a row), past ${m.failed?.join(", ")}: ${describeLook(s, m)}`);
      if (failures >= s.failureLimit)
        return `${failures} looks in a row past the limits (${m.failed?.join(", ")}; ${describeLook(s, m)})`;
      await sleep(Math.min(1000, Math.max(0, end - Date.now())));
    } while (Date.now() < end);
    this.save(`observed step ${step}/${this.r.steps.length}: ${summarizeLooks(s, looks)}`);
    return undefined;
  }

  private async measure(step: number): Promise<MoveMeasurement> {
    const l = await look(this.t, this.r.groupId);
    const failed = judge(this.r.settings, l);
    return { at: new Date().toISOString(), step, ...l, ok: failed.length === 0, ...(failed.length ? { failed } : {}) };
  }

  private async finish(): Promise<void> {
    // The old sub-groups must pass the plan's head first; they are behind only while their fan-out lags.
    for (let attempt = 1; ; attempt++) {
      if (this.intent()) return;
      try {
        const m = parseMove(await this.t.groupMove(this.r.groupId, "finish"));
        this.r.switched = m.switched;
        this.r.phase = "Succeeded";
        this.save(`finished: ${this.r.moving} members moved, ${this.r.toSubGroups} sub-groups`);
        return;
      } catch (err) {
        if (!(err instanceof GroupMoveRefusal) || err.status !== 503 || attempt >= 120) throw err;
        if (attempt === 1) this.say(err.message);
        await sleep(1000);
      }
    }
  }

  private async rollback(): Promise<void> {
    for (;;) {
      const res = await this.batchStep("rollback", this.batch);
      this.r.switched = res.move.switched;
      if (res.done === true) {
        this.r.phase = "RolledBack";
        this.save(
          `rolled back: every member in its old sub-group, ${this.r.fromSubGroups} sub-groups, ` +
            `${res.changed} members who joined meanwhile re-placed; all backfilled`,
        );
        return;
      }
      this.save();
      await sleep((1000 * res.changed) / this.r.settings.ratePerSecond);
    }
  }
}
