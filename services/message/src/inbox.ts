/**
 * The inbox SQL of the fan-out: a group's timeline entries written into its members' inboxes (write diffusion), or
 * named to them for a pull (read diffusion), from the group's persisted fan-out cursor, or for a group split into
 * sub-groups from each sub-group's own cursor (docs/groups.md). Replays write nothing twice.
 */
import type mysql from "mysql2/promise";
import { inTransaction } from "../../lib/db.ts";
import { subGroupKey, type MemberCache } from "./member-cache.ts";
import type { Presence } from "./notify.ts";
import {
  consecutiveRun,
  MAX_PUSHED_MESSAGES,
  type FanoutEvent,
  type PushedMessage,
  type NotifyItem,
} from "../../lib/protocol.ts";

const CHUNK = 200;

/**
 * Writes one group message into the inboxes of `members` (write diffusion), once per member. Two fan-outs may write
 * one message for one member at once (the old and the new sub-group of a member in a move, a backfill): each first
 * locks the members' seq rows, then reads which of them already have the message with a locking read (the latest
 * committed rows, on MariaDB and TiDB alike), so the second finds the first's rows and writes nothing.
 */
export async function writeInboxes(
  db: mysql.Pool,
  messageId: string,
  members: string[],
  ts: number | undefined,
): Promise<NotifyItem[]> {
  const out: NotifyItem[] = [];
  for (let i = 0; i < members.length; i += CHUNK) {
    const chunk = members.slice(i, i + CHUNK);
    const seqs = await inTransaction(db, async (c) => {
      // One statement locks every member's seq row (created at 0 if new), in user_id order: no deadlock.
      await c.query("INSERT INTO user_seq (user_id, last_seq) VALUES ? ON DUPLICATE KEY UPDATE last_seq = last_seq", [
        chunk.map((u) => [u, 0]),
      ]);
      const [done] = await c.query<mysql.RowDataPacket[]>(
        "SELECT user_id, seq FROM inbox WHERE message_id = ? AND user_id IN (?) FOR UPDATE",
        [messageId, chunk],
      );
      const have = new Map(done.map((r) => [String(r.user_id), Number(r.seq)]));
      const todo = chunk.filter((u) => !have.has(u));
      if (todo.length > 0) {
        // One statement locks every receiver's seq row, in user_id order (no deadlock with other fan-outs).
        await c.query(
          "INSERT INTO user_seq (user_id, last_seq) VALUES ? ON DUPLICATE KEY UPDATE last_seq = last_seq + 1",
          [todo.map((u) => [u, 1])],
        );
        const [now] = await c.query<mysql.RowDataPacket[]>(
          "SELECT user_id, last_seq FROM user_seq WHERE user_id IN (?)",
          [todo],
        );
        const assigned = now.map((r) => [String(r.user_id), Number(r.last_seq)] as const);
        await c.query("INSERT INTO inbox (user_id, seq, message_id) VALUES ?", [
          assigned.map(([u, s]) => [u, s, messageId]),
        ]);
        for (const [u, s] of assigned) have.set(u, s);
      }
      return have;
    });
    for (const [userId, seq] of seqs) out.push(ts === undefined ? { userId, seq } : { userId, seq, ts });
  }
  return out;
}

type GroupEvent = Extract<FanoutEvent, { kind: "group" }> & { ts?: number };
type SubGroupEvent = Extract<FanoutEvent, { kind: "subgroup" }>;

/** A group's timeline entries (from, to], in group order: with their bodies for read diffusion, ids only for write. */
async function timeline(
  db: mysql.Pool,
  group: string,
  diffusion: string,
  from: number,
  to: number,
): Promise<mysql.RowDataPacket[]> {
  const [entries] = await db.query<mysql.RowDataPacket[]>(
    (diffusion === "read"
      ? "SELECT t.group_seq, t.message_id, m.sender_id, m.body, m.created_at"
      : "SELECT t.group_seq, t.message_id, m.sender_id") +
      " FROM group_timeline t JOIN messages m ON m.message_id = t.message_id" +
      " WHERE t.group_id = ? AND t.group_seq > ? AND t.group_seq <= ? ORDER BY t.group_seq",
    [group, from, to],
  );
  return entries;
}

/** A group's timeline entries (from, to] fanned out to `rows` (members), by the group's diffusion. */
async function fanOutRange(
  db: mysql.Pool,
  group: string,
  diffusion: string,
  range: { from: number; to: number; ts: number | undefined },
  rows: mysql.RowDataPacket[],
  read?: mysql.RowDataPacket[],
): Promise<NotifyItem[]> {
  // Read diffusion pushes the newest entries themselves (their bodies); write diffusion needs only their ids. A
  // caller that read a wider range for several sub-groups passes it: this range's part of it is used.
  const entries = read
    ? read.filter((e) => Number(e.group_seq) > range.from && Number(e.group_seq) <= range.to)
    : await timeline(db, group, diffusion, range.from, range.to);
  if (diffusion === "read") return readPushes(group, entries, rows, range.ts);
  const ts = range.ts;
  const out: NotifyItem[] = [];
  // Write diffusion of a moving member: in order, from its move's plan (catchUpInbox); everyone else per entry.
  const moving = rows.filter((r) => r.low !== null && r.low !== undefined);
  const staying = rows.filter((r) => r.low === null || r.low === undefined);
  for (const r of moving) {
    const it = await catchUpInbox(
      db,
      group,
      String(r.user_id),
      Number(r.joined_group_seq),
      Number(r.low),
      range.to,
      ts,
    );
    if (it) out.push(it);
  }
  for (const e of entries) {
    const groupSeq = Number(e.group_seq);
    const sender = String(e.sender_id);
    const members = staying
      .filter((r) => Number(r.joined_group_seq) < groupSeq && String(r.user_id) !== sender)
      .map((r) => String(r.user_id));
    out.push(...(await writeInboxes(db, String(e.message_id), members, ts)));
  }
  return out;
}

/**
 * Read diffusion: one `gnotify` per member at the newest entry of the range it should hear of (joined before it, not
 * its own), with the entries themselves riding along: the newest consecutive run (at most MAX_PUSHED_MESSAGES) of
 * those after the member joined, so a member whose cursor is just below takes them without a pull. Members with the
 * same run share one array, which notify() turns into one push for all of them per gateway.
 */
export function readPushes(
  group: string,
  entries: mysql.RowDataPacket[],
  rows: mysql.RowDataPacket[],
  ts: number | undefined,
): NotifyItem[] {
  if (entries.length === 0) return [];
  const pushed: PushedMessage[] = entries.map((e) => ({
    seq: Number(e.group_seq),
    messageId: String(e.message_id),
    from: String(e.sender_id),
    body: String(e.body),
    ts: new Date(e.created_at as string | Date).getTime(),
  }));
  const runs = new Map<string, PushedMessage[]>();
  const out: NotifyItem[] = [];
  for (const r of rows) {
    const userId = String(r.user_id);
    const joined = Number(r.joined_group_seq);
    // The newest entry it should hear of: after it joined, and not its own (a sender is not notified of its send).
    let last = pushed.length - 1;
    while (last >= 0 && (pushed[last]!.seq <= joined || pushed[last]!.from === userId)) last--;
    if (last < 0) continue;
    const end = pushed[last]!;
    let first = Math.max(0, last + 1 - MAX_PUSHED_MESSAGES);
    while (pushed[first]!.seq <= joined) first++;
    const key = `${first}:${last}`;
    let msgs = runs.get(key);
    // The timeline has no holes (group seqs are allocated under the group's row lock); checked all the same.
    if (!msgs) runs.set(key, (msgs = consecutiveRun(pushed.slice(first, last + 1), end.seq)));
    const it: NotifyItem = { userId, group, groupSeq: end.seq, msgs };
    out.push(ts === undefined ? it : { ...it, ts });
  }
  return out;
}

/** What a group event came to: notifications, or (for a group with several sub-groups) the sub-groups to split into. */
export type GroupFanout = { items: NotifyItem[] } | { subGroups: number };

/**
 * Fans out a group's timeline up to the event's group seq, in group order, from the group's persisted cursor.
 * An event that arrives after a later one of the same group finds its entry already processed. A group with more
 * than one sub-group is not fanned out here: the caller splits the event into one record per sub-group.
 */
export async function fanOutGroup(db: mysql.Pool, ev: GroupEvent, cache?: MemberCache): Promise<GroupFanout> {
  const [[g]] = await db.query<mysql.RowDataPacket[]>(
    "SELECT diffusion, fanout_seq, sub_groups, members_version FROM im_groups WHERE group_id = ?",
    [ev.group],
  );
  if (!g) return { items: [] };
  if (Number(g.sub_groups) > 1) return { subGroups: Number(g.sub_groups) };
  if (ev.groupSeq <= Number(g.fanout_seq)) return { items: [] };
  const rows = await groupMembers(db, ev.group, Number(g.members_version), cache);
  const range = { from: Number(g.fanout_seq), to: ev.groupSeq, ts: ev.ts };
  const items = await fanOutRange(db, ev.group, String(g.diffusion), range, rows);
  await db.query("UPDATE im_groups SET fanout_seq = GREATEST(fanout_seq, ?) WHERE group_id = ?", [
    ev.groupSeq,
    ev.group,
  ]);
  return { items };
}

/**
 * A whole group's members in user_id order: from `cache` while it holds them at `version` (the group's
 * members_version as the caller read it), else read with the version of the same statement and held.
 */
async function groupMembers(
  db: mysql.Pool,
  group: string,
  version: number,
  cache: MemberCache | undefined,
): Promise<mysql.RowDataPacket[]> {
  const held = cache?.get(group, version);
  if (held) return held;
  const [rows] = await db.query<mysql.RowDataPacket[]>(
    "SELECT m.user_id, m.joined_group_seq, g.members_version FROM im_groups g" +
      " JOIN group_members m ON m.group_id = g.group_id WHERE g.group_id = ? ORDER BY m.user_id",
    [group],
  );
  if (rows.length > 0) cache?.set(group, Number(rows[0]!.members_version), rows);
  return rows;
}

/** Where users are connected (presence.ts lookup): a user absent from the map is offline. */
export type Online = (userIds: string[]) => Promise<Map<string, string[]>>;

/** What fanOutSubGroups came to; `advance` moves the sub-groups' cursors and is run beside the notifying. */
export interface SubGroupFanout {
  items: NotifyItem[];
  /** Members per sub-group (for its metrics). */
  members: Map<number, number>;
  /** With `online`: every member it looked up (the items' users among them), and where the online ones are. */
  presence?: Presence;
  advance(): Promise<void>;
}

/**
 * Fans out sub-groups of one large group, each up to its record's group seq from that sub-group's own cursor, to that
 * sub-group's members only. Each member is in one sub-group, so its notifications come from one key and one cursor,
 * in groupSeq order. The sub-groups of a batch are read together: one statement for their cursors, one for their
 * members, one for the timeline they need and one for the new cursors, whatever their number.
 *
 * The reads overlap (docs/groups.md, "Fan-out workers"): the cursors and the members at once, then the timeline
 * beside the members' presence look-up (`online`); read diffusion builds pushes for the online members only, and
 * the caller moves the cursors (`advance`) while it notifies. Write diffusion writes every member's inbox.
 */
export async function fanOutSubGroups(
  db: mysql.Pool,
  group: string,
  evs: SubGroupEvent[],
  online?: Online,
  cache?: MemberCache,
): Promise<SubGroupFanout> {
  const members = new Map<number, number>();
  const subs = [...new Set(evs.map((e) => e.subGroup))];
  // With every sub-group's list held at one version, the members are read only if the version has moved since.
  const keys = subs.map((k) => subGroupKey(group, k));
  const heldAt = cache?.versionOfAll(keys);
  if (heldAt === undefined) cache?.missed(keys.length);
  const [[cursors], fresh] = await Promise.all([
    db.query<mysql.RowDataPacket[]>(
      "SELECT g.diffusion, g.members_version, s.sub_group, s.fanout_seq FROM im_groups g" +
        " LEFT JOIN group_sub_groups s ON s.group_id = g.group_id AND s.sub_group IN (?) WHERE g.group_id = ?",
      [subs, group],
    ),
    heldAt === undefined ? subGroupsMembers(db, group, subs, cache) : undefined,
  ]);
  const nothing = { items: [], members, advance: () => Promise.resolve() };
  if (cursors.length === 0) return nothing;
  const rowsOf =
    fresh ??
    held(subs, cache?.getAll(keys, Number(cursors[0]!.members_version))) ??
    (await subGroupsMembers(db, group, subs, cache));
  const diffusion = String(cursors[0]!.diffusion);
  // No cursor row (cannot happen while user-center creates them with the count): start from the beginning, which
  // repeats work but skips nothing.
  const cursorOf = new Map(
    cursors.filter((r) => r.sub_group !== null).map((r) => [Number(r.sub_group), Number(r.fanout_seq)]),
  );
  for (const k of subs) members.set(k, rowsOf.get(k)?.length ?? 0);
  const due = evs
    .map((ev) => ({ ev, from: cursorOf.get(ev.subGroup) ?? 0 }))
    .filter(({ ev, from }) => ev.groupSeq > from);
  if (due.length === 0) return nothing;
  const looked = [...new Set(due.flatMap(({ ev }) => (rowsOf.get(ev.subGroup) ?? []).map((r) => String(r.user_id))))];
  const [read, where] = await Promise.all([
    timeline(db, group, diffusion, Math.min(...due.map((x) => x.from)), Math.max(...due.map((x) => x.ev.groupSeq))),
    online?.(looked),
  ]);
  // Read diffusion pushes to the online only; write diffusion writes every member's inbox.
  const served = (rows: mysql.RowDataPacket[]) =>
    where && diffusion === "read" ? rows.filter((r) => where.has(String(r.user_id))) : rows;
  const parts = await Promise.all(
    due.map(({ ev, from }) =>
      fanOutRange(
        db,
        group,
        diffusion,
        { from, to: ev.groupSeq, ts: ev.ts },
        served(rowsOf.get(ev.subGroup) ?? []),
        read,
      ),
    ),
  );
  const advance = async (): Promise<void> => {
    await db.query(
      "INSERT INTO group_sub_groups (group_id, sub_group, fanout_seq) VALUES ?" +
        " ON DUPLICATE KEY UPDATE fanout_seq = GREATEST(fanout_seq, VALUES(fanout_seq))",
      [due.map(({ ev }) => [group, ev.subGroup, ev.groupSeq])],
    );
  };
  return { items: parts.flat(), members, ...(where ? { presence: { looked, where } } : {}), advance };
}

/**
 * The members each sub-group's fan-out serves: those placed in it, and while a move of the group is open (dual write,
 * docs/groups.md) every moving member whose old or new sub-group it is, so a member in the middle of a move is served
 * by both (a repeated notification, never a missing one).
 */
export async function subGroupsMembers(
  db: mysql.Pool,
  group: string,
  subs: number[],
  cache?: MemberCache,
): Promise<Map<number, mysql.RowDataPacket[]>> {
  // `low` is set for a moving member: the lowest cursor of its move's plan. In a write-diffusion group a move closed
  // in the last minute still counts, so a batch that read the members before the close and one that reads them after
  // never interleave their inbox writes. A read-diffusion group's member is served by its new sub-group before the
  // close and after it, and an old batch's late push is a repeat the client drops, so its moves count until the
  // close (a group never goes back from read to write diffusion): the first fan-outs after a move serve no one twice.
  // One statement (one snapshot). The moves' branch starts from the group's open or just-closed moves (STRAIGHT_JOIN):
  // with none it reads nothing, where a plan led by the members' sub-group indexes read every member of every past
  // move in that sub-group on every fan-out (MariaDB 0.17 cores for a 10-sub-group group at 2 messages a second, 10x
  // the same group on one key). Members in both branches are merged here, not by a GROUP BY over a temporary table.
  // The last branch is the group's members_version, read in the same statement (snapshot) as the lists it versions.
  const [rows] = await db.query<mysql.RowDataPacket[]>(
    "SELECT user_id, joined_group_seq, NULL AS low, sub_group AS a, NULL AS b, NULL AS v FROM group_members" +
      " WHERE group_id = ? AND sub_group IN (?)" +
      " UNION ALL SELECT STRAIGHT_JOIN m.user_id, m.joined_group_seq, v.plan_low AS low, mm.old_sub_group AS a," +
      " mm.new_sub_group AS b, NULL AS v FROM group_moves v" +
      " JOIN im_groups g ON g.group_id = v.group_id" +
      " JOIN group_move_members mm ON mm.move_id = v.move_id" +
      " JOIN group_members m ON m.group_id = mm.group_id AND m.user_id = mm.user_id" +
      " WHERE v.group_id = ? AND (v.state = 'dual'" +
      " OR (g.diffusion = 'write' AND v.closed_at > CURRENT_TIMESTAMP(3) - INTERVAL 60 SECOND))" +
      " AND (mm.old_sub_group IN (?) OR mm.new_sub_group IN (?))" +
      " UNION ALL SELECT NULL, NULL, NULL, NULL, NULL, members_version FROM im_groups WHERE group_id = ?",
    [group, subs, group, subs, subs, group],
  );
  const bySub = new Map<number, Map<string, mysql.RowDataPacket>>(subs.map((k) => [k, new Map()]));
  let version: number | undefined;
  for (const r of rows) {
    if (r.user_id === null) {
      version = Number(r.v);
      continue;
    }
    const id = String(r.user_id);
    const row = { user_id: r.user_id, joined_group_seq: r.joined_group_seq, low: r.low } as mysql.RowDataPacket;
    for (const k of new Set([r.a, r.b].filter((x) => x !== null).map(Number))) {
      const byUser = bySub.get(k);
      if (byUser === undefined) continue; // the other side of a move, not asked for
      const had = byUser.get(id);
      if (had === undefined) byUser.set(id, row);
      else if (row.low !== null && (had.low === null || Number(row.low) < Number(had.low)))
        byUser.set(id, { ...had, low: row.low } as mysql.RowDataPacket);
    }
  }
  // In user_id order, as the inbox writes lock members' seq rows (no deadlock between fan-outs).
  const out = new Map(
    [...bySub].map(([k, byUser]) => [
      k,
      [...byUser.values()].sort((x, y) => compareIds(String(x.user_id), String(y.user_id))),
    ]),
  );
  // A list with a moving member is not held: whether a closed move still counts depends on the clock, not only on
  // the version. Every other list stays right until the version moves.
  if (cache && version !== undefined)
    for (const [k, list] of out)
      if (list.every((r) => r.low === null || r.low === undefined)) cache.set(subGroupKey(group, k), version, list);
  return out;
}

const held = (subs: number[], lists: mysql.RowDataPacket[][] | undefined) =>
  lists && new Map(subs.map((k, i) => [k, lists[i]!]));

/** Numeric order of two decimal ids (BIGINTs as strings). */
function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/**
 * Writes every entry of the group's timeline in (from, to] that `userId` should have (joined before it, not its own)
 * and lacks into its inbox, in groupSeq order, under its seq row's lock. Used for members in a move: two sub-groups
 * fan them out, each from its own cursor, and the one ahead must not give a later message a smaller seq than an
 * earlier one the other has not written yet. Returns the notification at its newest seq of the range.
 */
export async function catchUpInbox(
  db: mysql.Pool,
  group: string,
  userId: string,
  joined: number,
  from: number,
  to: number,
  ts?: number,
): Promise<NotifyItem | undefined> {
  return inTransaction(db, async (c) => {
    await c.query(
      "INSERT INTO user_seq (user_id, last_seq) VALUES (?, 0) ON DUPLICATE KEY UPDATE last_seq = last_seq",
      [userId],
    );
    const [entries] = await c.query<mysql.RowDataPacket[]>(
      "SELECT t.group_seq, t.message_id FROM group_timeline t JOIN messages m ON m.message_id = t.message_id" +
        " WHERE t.group_id = ? AND t.group_seq > ? AND t.group_seq <= ? AND m.sender_id <> ? ORDER BY t.group_seq",
      [group, Math.max(from, joined), to, userId],
    );
    if (entries.length === 0) return undefined;
    const [have] = await c.query<mysql.RowDataPacket[]>(
      "SELECT message_id, seq FROM inbox WHERE user_id = ? AND message_id IN (?) FOR UPDATE",
      [userId, entries.map((e) => String(e.message_id))],
    );
    let newest = Math.max(0, ...have.map((h) => Number(h.seq)));
    const done = new Set(have.map((h) => String(h.message_id)));
    const missing = entries.filter((e) => !done.has(String(e.message_id)));
    if (missing.length > 0) {
      const [[s]] = await c.query<mysql.RowDataPacket[]>("SELECT last_seq FROM user_seq WHERE user_id = ?", [userId]);
      const last = Number(s?.last_seq ?? 0);
      await c.query("INSERT INTO inbox (user_id, seq, message_id) VALUES ?", [
        missing.map((e, i) => [userId, last + i + 1, String(e.message_id)]),
      ]);
      newest = last + missing.length;
      await c.query("UPDATE user_seq SET last_seq = ? WHERE user_id = ?", [newest, userId]);
    }
    return ts === undefined ? { userId, seq: newest } : { userId, seq: newest, ts };
  });
}
