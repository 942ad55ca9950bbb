/**
 * The inbox SQL of the fan-out: a group's timeline entries written into its members' inboxes (write diffusion), or
 * named to them for a pull (read diffusion), from the group's persisted fan-out cursor. Replays write nothing twice.
 */
import type mysql from "mysql2/promise";
import { inTransaction } from "../../lib/db.ts";
import type { NotifyItem, StoredEvent } from "../../lib/protocol.ts";

const CHUNK = 200;

/** Writes one group message into the inboxes of `members` (write diffusion), once per member. */
async function writeInboxes(
  db: mysql.Pool,
  messageId: string,
  members: string[],
  ts: number | undefined,
): Promise<NotifyItem[]> {
  const out: NotifyItem[] = [];
  for (let i = 0; i < members.length; i += CHUNK) {
    const chunk = members.slice(i, i + CHUNK);
    const seqs = await inTransaction(db, async (c) => {
      const [done] = await c.query<mysql.RowDataPacket[]>(
        "SELECT user_id, seq FROM inbox WHERE message_id = ? AND user_id IN (?)",
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

/**
 * Fans out a group's timeline up to the event's group seq, in group order, from the group's persisted cursor.
 * An event that arrives after a later one of the same group finds its entry already processed.
 */
export async function fanOutGroup(
  db: mysql.Pool,
  ev: Extract<StoredEvent, { kind: "group" }> & { ts?: number },
): Promise<NotifyItem[]> {
  const [[g]] = await db.query<mysql.RowDataPacket[]>(
    "SELECT diffusion, fanout_seq FROM im_groups WHERE group_id = ?",
    [ev.group],
  );
  if (!g || ev.groupSeq <= Number(g.fanout_seq)) return [];
  const [entries] = await db.query<mysql.RowDataPacket[]>(
    "SELECT t.group_seq, t.message_id, m.sender_id FROM group_timeline t JOIN messages m ON m.message_id = t.message_id" +
      " WHERE t.group_id = ? AND t.group_seq > ? AND t.group_seq <= ? ORDER BY t.group_seq",
    [ev.group, Number(g.fanout_seq), ev.groupSeq],
  );
  const [rows] = await db.query<mysql.RowDataPacket[]>(
    "SELECT user_id, joined_group_seq FROM group_members WHERE group_id = ? ORDER BY user_id",
    [ev.group],
  );
  const out: NotifyItem[] = [];
  for (const e of entries) {
    const groupSeq = Number(e.group_seq);
    const sender = String(e.sender_id);
    const members = rows
      .filter((r) => Number(r.joined_group_seq) < groupSeq && String(r.user_id) !== sender)
      .map((r) => String(r.user_id));
    if (g.diffusion === "read") {
      for (const userId of members)
        out.push(
          ev.ts === undefined
            ? { userId, group: ev.group, groupSeq }
            : { userId, group: ev.group, groupSeq, ts: ev.ts },
        );
    } else {
      out.push(...(await writeInboxes(db, String(e.message_id), members, ev.ts)));
    }
  }
  await db.query("UPDATE im_groups SET fanout_seq = GREATEST(fanout_seq, ?) WHERE group_id = ?", [
    ev.groupSeq,
    ev.group,
  ]);
  return out;
}
