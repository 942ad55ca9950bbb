/**
 * Sub-groups in user-center (docs/groups.md): members placed when they join, the group's sub-group count raised when
 * it outgrows its sub-groups, and the status `imctl group status` shows. Members already in a group stay in their
 * sub-group here: moving them safely (dual write, staged switch, backfill) is the growth workflow's job.
 */
import type mysql from "mysql2/promise";
import { ApiError } from "../../lib/errors.ts";
import {
  placeMember,
  subGroupsNeeded,
  warnState,
  type SubGroupSettings,
  type WarnState,
} from "../../lib/sub-groups.ts";

/**
 * Places `fresh` (users not yet in the group) and grows the group's sub-group count to what its members will need.
 * The caller holds the group's row lock (FOR UPDATE), so the count, the head and the cursors cannot move meanwhile.
 * Returns the rows to insert into group_members: [group, user, joined_group_seq, sub_group].
 */
export async function placeJoining(
  c: mysql.PoolConnection,
  s: SubGroupSettings,
  groupId: string,
  g: { head: number; subGroups: number; memberCount: number; fanoutSeq: number },
  fresh: string[],
): Promise<Array<[string, string, number, number]>> {
  const n = Math.max(g.subGroups, subGroupsNeeded(g.memberCount + fresh.length, s));
  if (n > g.subGroups) {
    // Sub-group 0 takes over from the whole-group cursor; a new sub-group starts at the head, where its members join
    // (docs/groups.md, "Exactly once"). INSERT IGNORE: a row left by an earlier count is kept as it is.
    const cursors: Array<[string, number, number]> = [];
    if (g.subGroups === 1) cursors.push([groupId, 0, g.fanoutSeq]);
    for (let k = g.subGroups; k < n; k++) cursors.push([groupId, k, g.head]);
    await c.query("INSERT IGNORE INTO group_sub_groups (group_id, sub_group, fanout_seq) VALUES ?", [cursors]);
    await c.query("UPDATE im_groups SET sub_groups = ? WHERE group_id = ?", [n, groupId]);
  }
  return fresh.map((u) => [groupId, u, g.head, placeMember(u, n)]);
}

export interface SubGroupStatus {
  subGroup: number;
  members: number;
  state: WarnState;
  /** How far this sub-group's fan-out has processed the group's timeline. */
  fanoutSeq: number;
  /** Timeline entries past the cursor: the sub-group's fan-out backlog. */
  behind: number;
  /** Members here whose hash placement is another sub-group (moved by the growth workflow). */
  pendingMoves: number;
}

export interface GroupStatus {
  groupId: string;
  name: string;
  memberCount: number;
  diffusion: string;
  headSeq: number;
  subGroupCount: number;
  capacity: number;
  warnRatio: number;
  maxSubGroups: number;
  /** The sub-group count the members need now (more than subGroupCount: the group should grow). */
  neededSubGroups: number;
  /** The worst state of any sub-group. */
  state: WarnState;
  subGroups: SubGroupStatus[];
  /** The group's open move (docs/groups.md, growth and rebalance), or its last one; null: none ever. */
  move: MoveStatus | null;
}

export interface MoveStatus {
  moveId: string;
  /** 'dual' while open (planned, switching), then 'done' or 'rolled_back'. */
  state: string;
  fromSubGroups: number;
  toSubGroups: number;
  planHead: number;
  moving: number;
  switched: number;
  /** Who started it: "operator" (imctl) or "auto" (the message service's automatic trigger). */
  startedBy: string;
  /** Who asked for its rollback, once someone did. */
  rollbackBy: string | null;
}

const WORST: WarnState[] = ["ok", "warn", "over"];

/** A group's sub-groups as the database holds them now. */
export async function groupStatus(db: mysql.Pool, s: SubGroupSettings, groupId: string): Promise<GroupStatus> {
  const [[g]] = await db.query<mysql.RowDataPacket[]>(
    "SELECT group_id, name, member_count, diffusion, head_seq, fanout_seq, sub_groups FROM im_groups WHERE group_id = ?",
    [groupId],
  );
  if (!g) throw new ApiError("unknown_group", `no group ${groupId}`);
  const n = Number(g.sub_groups);
  const head = Number(g.head_seq);
  const [members] = await db.query<mysql.RowDataPacket[]>(
    "SELECT user_id, sub_group FROM group_members WHERE group_id = ?",
    [groupId],
  );
  const [cursors] = await db.query<mysql.RowDataPacket[]>(
    "SELECT sub_group, fanout_seq FROM group_sub_groups WHERE group_id = ?",
    [groupId],
  );
  const cursor = new Map(cursors.map((r) => [Number(r.sub_group), Number(r.fanout_seq)]));
  const count = Array.from({ length: n }, () => ({ members: 0, pendingMoves: 0 }));
  for (const m of members) {
    const at = Number(m.sub_group);
    const slot = count[at] ?? (count[at] = { members: 0, pendingMoves: 0 });
    slot.members++;
    if (placeMember(String(m.user_id), n) !== at) slot.pendingMoves++;
  }
  const subGroups = count.map((c, k) => {
    const fanoutSeq = n === 1 ? Number(g.fanout_seq) : (cursor.get(k) ?? 0);
    return { subGroup: k, ...c, state: warnState(c.members, s), fanoutSeq, behind: Math.max(0, head - fanoutSeq) };
  });
  const [[mv]] = await db.query<mysql.RowDataPacket[]>(
    "SELECT v.move_id, v.state, v.from_sub_groups, v.to_sub_groups, v.plan_head, v.moving, v.started_by, v.rollback_by," +
      " (SELECT COUNT(*) FROM group_move_members mm WHERE mm.move_id = v.move_id AND mm.switched = 1) AS switched" +
      " FROM group_moves v WHERE v.group_id = ? ORDER BY v.state = 'dual' DESC, v.move_id DESC LIMIT 1",
    [groupId],
  );
  const move: MoveStatus | null = mv
    ? {
        moveId: String(mv.move_id),
        state: String(mv.state),
        fromSubGroups: Number(mv.from_sub_groups),
        toSubGroups: Number(mv.to_sub_groups),
        planHead: Number(mv.plan_head),
        moving: Number(mv.moving),
        switched: Number(mv.switched),
        startedBy: String(mv.started_by),
        rollbackBy: mv.rollback_by === null ? null : String(mv.rollback_by),
      }
    : null;
  return {
    move,
    groupId: String(g.group_id),
    name: String(g.name),
    memberCount: Number(g.member_count),
    diffusion: String(g.diffusion),
    headSeq: head,
    subGroupCount: n,
    capacity: s.capacity,
    warnRatio: s.warnRatio,
    maxSubGroups: s.maxSubGroups,
    neededSubGroups: subGroupsNeeded(Number(g.member_count), s),
    state: WORST[Math.max(0, ...subGroups.map((x) => WORST.indexOf(x.state)))] ?? "ok",
    subGroups,
  };
}
