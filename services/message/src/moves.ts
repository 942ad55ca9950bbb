/**
 * Moves of a group's members between sub-groups (docs/groups.md, "Growth and rebalance as a workflow"): plan, switch
 * in batches, finish or roll back, each a short transaction under the group's row lock, and the backfill that tells
 * every member whose sub-group changed to fetch everything up to the group's head. `imctl group grow | rebalance |
 * rollback` drives these through the internal routes (routes-moves.ts) and owns the pace: each call switches or
 * reverts at most one batch, so the move's own writes are as slow as the workflow asks.
 */
import type mysql from "mysql2/promise";
import { inTransaction } from "../../lib/db.ts";
import { ApiError } from "../../lib/errors.ts";
import type { GroupViewReason, NotifyItem } from "../../lib/protocol.ts";
import { placeMember } from "../../lib/sub-groups.ts";
import { catchUpInbox } from "./inbox.ts";
import { coalesce, notify, type NotifyDeps } from "./notify.ts";

export type MoveState = "dual" | "done" | "rolled_back";
/** Who started a move, or asked for its rollback: an operator (imctl, through the internal routes) or auto-grow.ts. */
export type MoveActor = "operator" | "auto";

export interface GroupMove {
  moveId: string;
  groupId: string;
  fromSubGroups: number;
  toSubGroups: number;
  planHead: number;
  /** The lowest sub-group cursor at the plan: every member had every entry up to it. */
  planLow: number;
  /** Members whose sub-group the move changes. */
  moving: number;
  /** Of them, those whose group_members.sub_group is the new one now. */
  switched: number;
  state: MoveState;
  startedBy: MoveActor;
  /** Who asked for the move's rollback, once someone did: from then on it only goes back. */
  rollbackBy: MoveActor | null;
}

/** Most sub-groups one group may have anywhere (the stack's maxSubGroups is at most this). */
export const MAX_SUB_GROUPS = 1024;
const INSERT_CHUNK = 500;

type Conn = mysql.PoolConnection;

/**
 * Locks the group's row for a move's transaction (plan, switch, finish, rollback), each of which changes whom the
 * fan-outs serve, and raises its members_version with it: the message instances' held member lists (member-cache.ts)
 * are stale from this transaction's commit on. A transaction that is refused rolls the raise back with it.
 */
async function lockGroup(c: Conn, groupId: string): Promise<mysql.RowDataPacket> {
  const [[g]] = await c.query<mysql.RowDataPacket[]>(
    "SELECT group_id, head_seq, fanout_seq, sub_groups, diffusion FROM im_groups WHERE group_id = ? FOR UPDATE",
    [groupId],
  );
  if (!g) throw new ApiError("unknown_group", `no group ${groupId}`);
  await c.query("UPDATE im_groups SET members_version = members_version + 1 WHERE group_id = ?", [groupId]);
  return g;
}

async function openMove(c: Conn | mysql.Pool, groupId: string): Promise<mysql.RowDataPacket | undefined> {
  const [[m]] = await c.query<mysql.RowDataPacket[]>(
    "SELECT v.*, (SELECT COUNT(*) FROM group_move_members mm WHERE mm.move_id = v.move_id AND mm.switched = 1)" +
      " AS switched FROM group_moves v WHERE v.group_id = ? AND v.state = 'dual' ORDER BY v.move_id DESC LIMIT 1",
    [groupId],
  );
  return m;
}

function toMove(m: mysql.RowDataPacket): GroupMove {
  return {
    moveId: String(m.move_id),
    groupId: String(m.group_id),
    fromSubGroups: Number(m.from_sub_groups),
    toSubGroups: Number(m.to_sub_groups),
    planHead: Number(m.plan_head),
    planLow: Number(m.plan_low),
    moving: Number(m.moving),
    switched: Number(m.switched ?? 0),
    state: String(m.state) as MoveState,
    startedBy: actorOf(m.started_by) ?? "operator",
    rollbackBy: actorOf(m.rollback_by),
  };
}

function actorOf(v: unknown): MoveActor | null {
  return v === "auto" || v === "operator" ? v : null;
}

/** The group's open move, or its last one (null: the group never had one). */
export async function currentMove(db: mysql.Pool, groupId: string): Promise<GroupMove | null> {
  const open = await openMove(db, groupId);
  if (open) return toMove(open);
  const [[last]] = await db.query<mysql.RowDataPacket[]>(
    "SELECT v.*, (SELECT COUNT(*) FROM group_move_members mm WHERE mm.move_id = v.move_id AND mm.switched = 1)" +
      " AS switched FROM group_moves v WHERE v.group_id = ? ORDER BY v.move_id DESC LIMIT 1",
    [groupId],
  );
  return last ? toMove(last) : null;
}

/**
 * Plans a move to `toSubGroups` and starts its dual write: the moved set (every member whose jump-hash placement over
 * the new count is not its sub-group now) is persisted with the old placement, the new sub-groups' cursors start at
 * the head, and the count is raised. Refused while another move of the group is open, or to fewer sub-groups.
 */
export async function planMove(
  db: mysql.Pool,
  groupId: string,
  toSubGroups: number,
  startedBy: MoveActor = "operator",
): Promise<GroupMove> {
  return inTransaction(db, async (c) => {
    const g = await lockGroup(c, groupId);
    const open = await openMove(c, groupId);
    if (open) throw new ApiError("conflict", `group ${groupId} has an open move (${String(open.move_id)})`);
    const n = Number(g.sub_groups);
    if (!Number.isInteger(toSubGroups) || toSubGroups < n || toSubGroups > MAX_SUB_GROUPS)
      throw new ApiError("bad_request", `subGroups: got ${toSubGroups}; allowed: ${n} to ${MAX_SUB_GROUPS}`);
    const head = Number(g.head_seq);
    const [members] = await c.query<mysql.RowDataPacket[]>(
      "SELECT user_id, sub_group FROM group_members WHERE group_id = ? ORDER BY user_id",
      [groupId],
    );
    const moving = members
      .map((m) => ({
        u: String(m.user_id),
        from: Number(m.sub_group),
        to: placeMember(String(m.user_id), toSubGroups),
      }))
      .filter((m) => m.from !== m.to);
    const [[low]] = await c.query<mysql.RowDataPacket[]>(
      "SELECT MIN(fanout_seq) AS low FROM group_sub_groups WHERE group_id = ? AND sub_group < ?",
      [groupId, n],
    );
    const planLow = Math.min(
      head,
      n === 1 || low?.low === null || low?.low === undefined ? Number(g.fanout_seq) : Number(low.low),
    );
    const [ins] = await c.query<mysql.ResultSetHeader>(
      "INSERT INTO group_moves (group_id, from_sub_groups, to_sub_groups, plan_head, plan_low, moving, state," +
        " started_by) VALUES (?, ?, ?, ?, ?, ?, 'dual', ?)",
      [groupId, n, toSubGroups, head, planLow, moving.length, startedBy],
    );
    const moveId = String(ins.insertId);
    for (let i = 0; i < moving.length; i += INSERT_CHUNK)
      await c.query(
        "INSERT INTO group_move_members (move_id, group_id, user_id, old_sub_group, new_sub_group) VALUES ?",
        [moving.slice(i, i + INSERT_CHUNK).map((m) => [moveId, groupId, m.u, m.from, m.to])],
      );
    if (toSubGroups > n) {
      // As when members join past capacity (user-center): sub-group 0 takes over from the whole-group cursor, a new
      // sub-group starts at the head (its moving members are served by their old sub-group until then).
      const cursors: Array<[string, number, number]> = [];
      if (n === 1) cursors.push([groupId, 0, Number(g.fanout_seq)]);
      for (let k = n; k < toSubGroups; k++) cursors.push([groupId, k, head]);
      await c.query("INSERT IGNORE INTO group_sub_groups (group_id, sub_group, fanout_seq) VALUES ?", [cursors]);
      await c.query("UPDATE im_groups SET sub_groups = ? WHERE group_id = ?", [toSubGroups, groupId]);
    }
    return {
      moveId,
      groupId,
      fromSubGroups: n,
      toSubGroups,
      planHead: head,
      planLow,
      moving: moving.length,
      switched: 0,
      state: "dual",
      startedBy,
      rollbackBy: null,
    };
  });
}

async function requireOpen(c: Conn, groupId: string): Promise<mysql.RowDataPacket> {
  const m = await openMove(c, groupId);
  if (!m) throw new ApiError("conflict", `group ${groupId} has no open move`);
  return m;
}

/** A move someone asked to roll back only goes back: no switch, no finish (under the group's row lock). */
function refuseIfRollingBack(m: mysql.RowDataPacket): void {
  const by = actorOf(m.rollback_by);
  if (by !== null)
    throw new ApiError(
      "conflict",
      `move ${String(m.move_id)} is being rolled back (asked by ${by}); it only goes back`,
    );
}

/**
 * Switches (or, with `back` set to who asked, reverts) at most `limit` members of the open move: their sub_group
 * becomes the new (the old) one. Both stay served by both sub-groups while the move is open. The first revert marks
 * the move as rolling back, so a switch that comes later (the automatic driver, a grow) is refused rather than pulling
 * the move the other way. Returns the members changed.
 */
async function switchSome(db: mysql.Pool, groupId: string, limit: number, back: MoveActor | null): Promise<string[]> {
  return inTransaction(db, async (c) => {
    await lockGroup(c, groupId);
    const m = await requireOpen(c, groupId);
    if (back === null) refuseIfRollingBack(m);
    else if (m.rollback_by === null)
      await c.query("UPDATE group_moves SET rollback_by = ? WHERE move_id = ?", [back, m.move_id]);
    const [rows] = await c.query<mysql.RowDataPacket[]>(
      "SELECT user_id FROM group_move_members WHERE move_id = ? AND switched = ? ORDER BY user_id LIMIT ?",
      [m.move_id, back !== null ? 1 : 0, limit],
    );
    const users = rows.map((r) => String(r.user_id));
    if (users.length === 0) return [];
    await c.query(
      "UPDATE group_members gm JOIN group_move_members mm ON mm.group_id = gm.group_id AND mm.user_id = gm.user_id" +
        ` SET gm.sub_group = mm.${back !== null ? "old_sub_group" : "new_sub_group"}, mm.switched = ?` +
        " WHERE mm.move_id = ? AND mm.user_id IN (?)",
      [back !== null ? 0 : 1, m.move_id, users],
    );
    return users;
  });
}

export interface StepResult {
  move: GroupMove;
  /** Members switched (or reverted) by this call, each backfilled. */
  changed: number;
}

/** One batch of the switch: at most `limit` members to their new sub-group, then their backfill. */
export async function switchBatch(d: BackfillDeps, groupId: string, limit: number): Promise<StepResult> {
  const users = await switchSome(d.db, groupId, limit, null);
  const move = await currentMove(d.db, groupId);
  if (!move) throw new ApiError("conflict", `group ${groupId} has no move`);
  await backfill(d, groupId, move.planLow, users, "move");
  return { move, changed: users.length };
}

/**
 * Ends the dual write once every moving member is switched and every old sub-group's fan-out has passed the plan's
 * head (from there on the new sub-groups serve the moved members alone; before it, only their old one did).
 */
export async function finishMove(db: mysql.Pool, groupId: string): Promise<GroupMove> {
  return inTransaction(db, async (c) => {
    await lockGroup(c, groupId);
    const open = await requireOpen(c, groupId);
    refuseIfRollingBack(open);
    const m = toMove(open);
    if (m.switched < m.moving)
      throw new ApiError(
        "conflict",
        `move ${m.moveId}: ${m.switched} of ${m.moving} members switched; switch the rest`,
      );
    const [behind] = await c.query<mysql.RowDataPacket[]>(
      "SELECT s.sub_group, s.fanout_seq FROM group_sub_groups s WHERE s.group_id = ? AND s.fanout_seq < ? AND" +
        " s.sub_group IN (SELECT DISTINCT old_sub_group FROM group_move_members WHERE move_id = ?)",
      [groupId, m.planHead, m.moveId],
    );
    if (behind.length > 0) {
      const b = behind[0] as mysql.RowDataPacket;
      throw new ApiError(
        "unavailable",
        `sub-group ${String(b.sub_group)}'s fan-out is at ${String(b.fanout_seq)}, behind the move's plan head ` +
          `${m.planHead}; finish again once it caught up`,
        1000,
      );
    }
    await c.query("UPDATE group_moves SET state = 'done', closed_at = CURRENT_TIMESTAMP(3) WHERE move_id = ?", [
      m.moveId,
    ]);
    return { ...m, state: "done" };
  });
}

/**
 * One batch of a rollback: at most `limit` switched members back to their old sub-group, then their backfill. When
 * none is left, the move is closed: members who joined during it into a sub-group the old count does not have are
 * placed over the old count, every cursor goes back to the lowest of them (a replay repeats work, never skips it),
 * the count returns to the old one, and they are backfilled too. `done` once closed.
 */
export async function rollbackBatch(
  d: BackfillDeps,
  groupId: string,
  limit: number,
  by: MoveActor = "operator",
): Promise<StepResult & { done: boolean }> {
  const users = await switchSome(d.db, groupId, limit, by);
  const before = await currentMove(d.db, groupId);
  if (!before) throw new ApiError("conflict", `group ${groupId} has no move`);
  if (users.length > 0) {
    await backfill(d, groupId, before.planLow, users, "rollback");
    return { move: before, changed: users.length, done: false };
  }
  const replaced = await inTransaction(d.db, async (c) => {
    await lockGroup(c, groupId);
    const m = toMove(await requireOpen(c, groupId));
    const n = m.fromSubGroups;
    const [joiners] = await c.query<mysql.RowDataPacket[]>(
      "SELECT user_id FROM group_members WHERE group_id = ? AND sub_group >= ? ORDER BY user_id",
      [groupId, n],
    );
    for (const j of joiners)
      await c.query("UPDATE group_members SET sub_group = ? WHERE group_id = ? AND user_id = ?", [
        placeMember(String(j.user_id), n),
        groupId,
        j.user_id,
      ]);
    const [[low]] = await c.query<mysql.RowDataPacket[]>(
      "SELECT MIN(fanout_seq) AS low FROM group_sub_groups WHERE group_id = ?",
      [groupId],
    );
    if (low?.low !== null && low?.low !== undefined) {
      await c.query("UPDATE group_sub_groups SET fanout_seq = LEAST(fanout_seq, ?) WHERE group_id = ?", [
        low.low,
        groupId,
      ]);
      if (n === 1)
        await c.query("UPDATE im_groups SET fanout_seq = LEAST(fanout_seq, ?) WHERE group_id = ?", [low.low, groupId]);
    }
    await c.query("UPDATE im_groups SET sub_groups = ? WHERE group_id = ?", [n, groupId]);
    await c.query("UPDATE group_moves SET state = 'rolled_back', closed_at = CURRENT_TIMESTAMP(3) WHERE move_id = ?", [
      m.moveId,
    ]);
    return joiners.map((j) => String(j.user_id));
  });
  await backfill(d, groupId, before.planLow, replaced, "rollback");
  const after = await currentMove(d.db, groupId);
  return { move: after ?? { ...before, state: "rolled_back" }, changed: replaced.length, done: true };
}

export type BackfillDeps = NotifyDeps & { db: mysql.Pool };

/**
 * Tells `users` (members whose sub-group changed) to fetch everything up to the group's head. Read diffusion: a
 * notification at the head; the client pulls the timeline after its last groupSeq. Write diffusion: the group's
 * messages since the plan's lowest cursor that a member lacks are written into its inbox first, in groupSeq order
 * (catchUpInbox), then a notification at its inbox head. Then each gets a `gview` push (`view`: why), so a client
 * re-reads what it caches of the group; it rides on the move's own batches, so it is as rate-limited as the move.
 */
export async function backfill(
  d: BackfillDeps,
  groupId: string,
  sinceSeq: number,
  users: string[],
  view: GroupViewReason,
): Promise<number> {
  if (users.length === 0) return 0;
  const [[g]] = await d.db.query<mysql.RowDataPacket[]>(
    "SELECT diffusion, head_seq FROM im_groups WHERE group_id = ?",
    [groupId],
  );
  if (!g) return 0;
  const head = Number(g.head_seq);
  const items: NotifyItem[] = [];
  if (String(g.diffusion) === "read") {
    for (const userId of users) items.push({ userId, group: groupId, groupSeq: head });
  } else {
    const [[low]] = await d.db.query<mysql.RowDataPacket[]>(
      "SELECT MIN(fanout_seq) AS low FROM group_sub_groups WHERE group_id = ?",
      [groupId],
    );
    const from = Math.min(sinceSeq, low?.low === null || low?.low === undefined ? sinceSeq : Number(low.low));
    const [rows] = await d.db.query<mysql.RowDataPacket[]>(
      "SELECT user_id, joined_group_seq FROM group_members WHERE group_id = ? AND user_id IN (?) ORDER BY user_id",
      [groupId, users],
    );
    // In groupSeq order per member, after whatever it has: a backfill never puts a later message before an earlier one.
    for (const r of rows) {
      const it = await catchUpInbox(d.db, groupId, String(r.user_id), Number(r.joined_group_seq), from, head);
      if (it) items.push(it);
    }
  }
  await notify(d, coalesce(items));
  // A request of its own: a gateway of an older release refuses a request holding an item it does not know (400),
  // and must not take the backfill's notifications down with it; the refusal is counted, the client syncs later.
  await notify(
    d,
    users.map((userId) => ({ userId, group: groupId, view })),
  );
  return items.length;
}
