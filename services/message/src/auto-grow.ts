/**
 * The automatic trigger of group growth (docs/groups.md, "Automatic growth"). Every message instance runs this loop;
 * the one holding the database lease `message.auto-grow` acts: it resumes an automatic move left open (a leader that
 * died or shut down), else looks at the groups large enough for a sub-group to pass the warn bar, decides
 * (auto-grow-decide.ts), plans at most one move (`started_by = 'auto'`) and drives it (auto-grow-driver.ts) to its
 * end. One automatic move at a time on the platform, a cooldown per group, nothing while any move of the group is
 * open: the database's one-open-move rule, under the group's row lock, settles a race with an operator's grow.
 */
import { hostname } from "node:os";
import { randomUUID } from "node:crypto";
import type mysql from "mysql2/promise";
import { z } from "zod";
import { intFrom, tlsFlag } from "../../lib/config.ts";
import { ApiError } from "../../lib/errors.ts";
import { DbLease } from "../../lib/lease.ts";
import { placeMember } from "../../lib/sub-groups.ts";
import {
  byUrgency,
  decide,
  warnBar,
  type AutoGrowDecision,
  type AutoGrowPolicy,
  type GroupLook,
} from "./auto-grow-decide.ts";
import {
  AutoMoveDriver,
  databaseOps,
  DRIVER_DEFAULTS,
  type DriveOutcome,
  type DriverSettings,
} from "./auto-grow-driver.ts";
import { currentMove, planMove, type BackfillDeps, type GroupMove, type MoveState } from "./moves.ts";

/** The GROUP_AUTO_GROW* environment, set from the stack's messaging.groups (the defaults are the stack's). */
export const autoGrowConfig = z.object({
  GROUP_AUTO_GROW: tlsFlag.default(false),
  GROUP_AUTO_GROW_INTERVAL_S: intFrom(1, 3600).default(60),
  GROUP_AUTO_GROW_STEP_PAUSE_S: intFrom(1, 3600).default(300),
  GROUP_AUTO_GROW_COOLDOWN_S: intFrom(0, 604_800).default(1800),
});

export const LEASE_NAME = "message.auto-grow";
/** A leader that stopped renewing is replaced after this long; every instance tries every LEASE_TTL_MS / 3. */
export const LEASE_TTL_MS = 15_000;
/** Groups looked at in one round, largest first (each costs a count of its members by sub-group). */
const CANDIDATES = 100;

export type AutoGrowSettings = AutoGrowPolicy &
  Omit<DriverSettings, "stepPauseMs"> & {
    intervalMs: number;
    stepPauseMs: number;
  };

export class AutoGrow {
  private closing = false;
  private wake?: () => void;
  private loop?: Promise<void>;
  /** This instance holds the lease (as of the last renewal, at most LEASE_TTL_MS / 3 ago). */
  private leader = false;
  private renewing = false;
  private renewal?: NodeJS.Timeout;
  private readonly lease: DbLease;
  /** The last decision per group: a decision that did not change is logged at debug only. */
  private readonly said = new Map<string, string>();

  constructor(
    private readonly d: BackfillDeps,
    private readonly s: AutoGrowSettings,
    instanceId: string,
  ) {
    // Replicas of one Deployment share INSTANCE_ID: the host name (the pod's) and a random part tell them apart.
    this.lease = new DbLease(d.db, LEASE_NAME, `${instanceId}/${hostname()}/${randomUUID().slice(0, 8)}`, LEASE_TTL_MS);
  }

  start(): void {
    this.d.log.info(
      { intervalS: this.s.intervalMs / 1000, stepPauseS: this.s.stepPauseMs / 1000, cooldownS: this.s.cooldownSeconds },
      "auto-grow: on; the instance holding the lease acts",
    );
    // The lease is renewed on its own timer, not by the rounds: a leader keeps it between rounds (no leader change
    // every interval) and loses it within a third of its time to live when it cannot reach the database.
    this.renewal = setInterval(() => void this.renew(), LEASE_TTL_MS / 3);
    this.loop = this.renew().then(() => this.run());
  }

  private async renew(): Promise<void> {
    if (this.renewing || this.closing) return;
    this.renewing = true;
    try {
      const held = await this.lease.hold().catch((err: Error) => {
        this.d.log.warn({ err: err.message }, "auto-grow: renewing the lease failed");
        return false;
      });
      if (held !== this.leader)
        this.d.log.info(
          { holder: this.lease.holder },
          held ? "auto-grow: took the lease" : "auto-grow: lost the lease",
        );
      this.leader = held;
      this.d.metrics.autoGrowLeader.set(held ? 1 : 0);
    } finally {
      this.renewing = false;
    }
  }

  /** Stops between two steps (an open move stays open for the next leader) and gives the lease up. */
  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.renewal);
    this.wake?.();
    await this.loop;
    this.d.metrics.autoGrowLeader.set(0);
    await this.lease.release().catch(() => undefined);
  }

  private sleep = (ms: number) =>
    new Promise<void>((r) => {
      const t = setTimeout(r, ms);
      this.wake = () => {
        clearTimeout(t);
        r();
      };
    });

  private async run(): Promise<void> {
    while (!this.closing) {
      try {
        if (this.leader) await this.round();
      } catch (err) {
        this.d.log.warn({ err: (err as Error).message }, "auto-grow: round failed; trying again next round");
      }
      if (!this.closing) await this.sleep(this.s.intervalMs);
    }
  }

  /** While driving: false once closing or the lease is lost (the driver lets go of the move between two steps). */
  private keep = (): Promise<boolean> => Promise.resolve(!this.closing && this.leader);

  private async round(): Promise<void> {
    const [open] = await this.d.db.query<mysql.RowDataPacket[]>(
      "SELECT group_id FROM group_moves WHERE state = 'dual' AND started_by = 'auto' ORDER BY move_id",
    );
    for (const r of open) {
      if (this.closing) return;
      const move = await currentMove(this.d.db, String(r.group_id));
      if (move?.state !== "dual" || move.rollbackBy === "operator") continue;
      this.d.log.info({ group: move.groupId, move: move.moveId }, "auto-grow: resuming an automatic move");
      await this.drive(move);
    }
    const looks = (await lookAtGroups(this.d.db, this.s)).sort(byUrgency);
    for (const look of looks) {
      if (this.closing) return;
      // Times are relative to the database's "now" (0): lastMove.closedAtMs is minus the last move's age.
      const dec = decide(look, this.s, 0);
      this.d.metrics.autoGrowDecisions.inc({ decision: dec.action });
      this.say(dec);
      if (dec.action === "skip") continue;
      let move: GroupMove;
      try {
        move = await planMove(this.d.db, dec.groupId, dec.to, "auto");
      } catch (err) {
        // An operator planned a move of the group since we looked (one open move per group): theirs goes on.
        if (err instanceof ApiError && err.code === "conflict") continue;
        throw err;
      }
      this.d.metrics.autoGrowMoves.inc({ event: "started", by: "auto" });
      this.d.log.info(
        { group: move.groupId, move: move.moveId, from: move.fromSubGroups, to: move.toSubGroups, moving: move.moving },
        `auto-grow: ${dec.action} started; dual write on`,
      );
      await this.drive(move);
      return; // one automatic move per round: the next round looks again
    }
  }

  /** One line per decision: at info when the group's decision changed, at debug when it is the same as last round. */
  private say(dec: AutoGrowDecision): void {
    const key = dec.action === "skip" ? `skip:${dec.code}` : `${dec.action}:${dec.from}:${dec.to}`;
    const same = this.said.get(dec.groupId) === key;
    this.said.set(dec.groupId, key);
    if (this.said.size > 10_000) this.said.clear();
    const to = dec.action === "skip" ? {} : { from: dec.from, to: dec.to };
    const line = { group: dec.groupId, decision: dec.action, reason: dec.reason, ...to };
    if (same) this.d.log.debug(line, "auto-grow: decision");
    else this.d.log.info(line, "auto-grow: decision");
  }

  private async drive(move: GroupMove): Promise<void> {
    const hooks = { keep: this.keep, log: this.d.log, sleep: this.sleep };
    const driver = new AutoMoveDriver(databaseOps(this.d), { ...this.s }, move, hooks);
    const out: DriveOutcome = await driver.run();
    const at = { group: move.groupId, move: move.moveId };
    if (out === "finished") {
      this.d.metrics.autoGrowMoves.inc({ event: "finished", by: "auto" });
      this.d.log.info({ ...at, to: move.toSubGroups, moved: move.moving }, "auto-grow: move finished");
    } else if (out === "rolled_back") {
      this.d.metrics.autoGrowMoves.inc({ event: "rolled_back", by: "auto" });
      this.d.log.warn({ ...at, reason: driver.reason }, "auto-grow: move rolled back by its analysis");
    } else if (out === "operator") {
      this.d.metrics.autoGrowMoves.inc({ event: "rolled_back", by: "operator" });
      this.d.log.warn(at, "auto-grow: an operator rolled the move back (or closed it); stopped driving it");
    } else this.d.log.info(at, "auto-grow: let go of the move (shutdown or lease lost); the next leader resumes it");
  }
}

/** The settings of the loop from the service's configuration. */
export function autoGrowSettings(
  cfg: z.infer<typeof autoGrowConfig>,
  g: { capacity: number; warnRatio: number; maxSubGroups: number; switchSteps: number[] },
): AutoGrowSettings {
  return {
    ...g,
    ...DRIVER_DEFAULTS,
    cooldownSeconds: cfg.GROUP_AUTO_GROW_COOLDOWN_S,
    intervalMs: cfg.GROUP_AUTO_GROW_INTERVAL_S * 1000,
    stepPauseMs: cfg.GROUP_AUTO_GROW_STEP_PAUSE_S * 1000,
  };
}

/**
 * The groups that could have a sub-group past the warn bar (more members than the bar, by index), largest first,
 * each with its members by sub-group; a group none of whose sub-groups passes the bar is dropped before its members
 * are read one by one (for the pending moves and their placement).
 */
async function lookAtGroups(db: mysql.Pool, s: AutoGrowSettings): Promise<GroupLook[]> {
  const bar = warnBar(s);
  const [groups] = await db.query<mysql.RowDataPacket[]>(
    "SELECT group_id, member_count, sub_groups FROM im_groups WHERE member_count > ? ORDER BY member_count DESC LIMIT ?",
    [Math.floor(bar), CANDIDATES],
  );
  const looks: GroupLook[] = [];
  for (const g of groups) {
    const id = String(g.group_id);
    const n = Number(g.sub_groups);
    const [counts] = await db.query<mysql.RowDataPacket[]>(
      "SELECT sub_group, COUNT(*) AS c FROM group_members WHERE group_id = ? GROUP BY sub_group",
      [id],
    );
    const perSub = Array.from({ length: n }, () => 0);
    for (const c of counts) perSub[Number(c.sub_group)] = Number(c.c);
    if (Math.max(0, ...perSub) <= bar) continue;
    const [members] = await db.query<mysql.RowDataPacket[]>(
      "SELECT user_id, sub_group FROM group_members WHERE group_id = ?",
      [id],
    );
    const placed = Array.from({ length: n }, () => 0);
    let pending = 0;
    for (const m of members) {
      const k = placeMember(String(m.user_id), n);
      placed[k] = (placed[k] ?? 0) + 1;
      if (k !== Number(m.sub_group)) pending++;
    }
    const [[mv]] = await db.query<mysql.RowDataPacket[]>(
      "SELECT move_id, state, started_by, TIMESTAMPDIFF(MICROSECOND, closed_at, NOW(3)) DIV 1000 AS age_ms" +
        " FROM group_moves WHERE group_id = ? ORDER BY state = 'dual' DESC, move_id DESC LIMIT 1",
      [id],
    );
    const ageMs = mv?.age_ms === null || mv?.age_ms === undefined ? null : Number(mv.age_ms);
    looks.push({
      groupId: id,
      members: members.length,
      subGroups: n,
      subGroupMembers: perSub,
      pendingMoves: pending,
      placedSubGroupMembers: placed,
      // The database's clock dates the last move (its age in ms, negative, the present being 0): instance clocks do not matter.
      lastMove: mv
        ? {
            moveId: String(mv.move_id),
            state: String(mv.state) as MoveState,
            startedBy: mv.started_by === "auto" ? "auto" : "operator",
            closedAtMs: ageMs === null ? null : -ageMs,
          }
        : null,
    });
  }
  return looks;
}
