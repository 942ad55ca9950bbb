/**
 * user-center: accounts, sign-in with signed tokens, groups and membership, presence look-ups.
 * Adding members past the write-diffusion threshold switches the group to read diffusion in the same
 * transaction, so no group has a fixed member cap.
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual } from "node:crypto";
import { promisify } from "node:util";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Cluster } from "ioredis";
import type mysql from "mysql2/promise";
import { z } from "zod";
import { inTransaction } from "../../lib/db.ts";
import { ApiError } from "../../lib/errors.ts";
import { parse } from "../../lib/parse.ts";
import type { IdGenerator } from "../../lib/ids.ts";
import { lookup } from "../../lib/presence.ts";
import { issueToken, verifyToken, type KeyRing } from "../../lib/tokens.ts";
import { requireInternal } from "../../lib/http.ts";
import type { SubGroupSettings } from "../../lib/sub-groups.ts";
import { groupStatus, placeJoining } from "./sub-groups.ts";

const scrypt = promisify(scryptCb) as (pw: string, salt: Buffer, len: number) => Promise<Buffer>;

export interface UserCenterDeps {
  db: mysql.Pool;
  redis: Cluster;
  ids: IdGenerator;
  keys: KeyRing;
  tokenTtlSeconds: number;
  /** Groups with more members than this switch to read diffusion. */
  writeDiffusionMax: number;
  /** Sub-groups of large groups (GROUP_*): capacity, warn ratio, most sub-groups, switch steps. */
  subGroups: SubGroupSettings;
  internalToken: string;
}

const credentials = z
  .object({
    username: z.string().regex(/^[a-zA-Z0-9_.-]{3,64}$/, "3 to 64 letters, digits, '_', '.' or '-'"),
    password: z.string().min(8, "at least 8 characters").max(200),
  })
  .strict();
const idList = z
  .array(z.string().regex(/^[1-9][0-9]{0,18}$/))
  .min(1)
  .max(5000);
// The creator is always a member; others may be added now or later.
const newGroup = z
  .object({
    name: z.string().min(1).max(128),
    members: z
      .array(z.string().regex(/^[1-9][0-9]{0,18}$/))
      .max(5000)
      .optional(),
  })
  .strict();
const addMembers = z.object({ userIds: idList }).strict();

async function hashPassword(pw: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(pw, salt, 32);
  return `scrypt$${salt.toString("base64")}$${hash.toString("base64")}`;
}

async function checkPassword(pw: string, stored: string): Promise<boolean> {
  const [, salt = "", hash = ""] = stored.split("$");
  const want = Buffer.from(hash, "base64");
  const got = await scrypt(pw, Buffer.from(salt, "base64"), want.length);
  return timingSafeEqual(got, want);
}

export function routes(app: FastifyInstance, d: UserCenterDeps): void {
  accountRoutes(app, d);
  groupRoutes(app, d, (req) => {
    const h = req.headers.authorization ?? "";
    if (!h.startsWith("Bearer ")) throw new ApiError("unauthorized", "missing bearer token");
    return verifyToken(d.keys, h.slice(7)).sub;
  });
  app.get<{ Querystring: { users?: string } }>(
    "/internal/v1/presence",
    { preHandler: requireInternal(d.internalToken) },
    async (req) => {
      const users = (req.query.users ?? "").split(",").filter(Boolean);
      return { presence: Object.fromEntries(await lookup(d.redis, users)) };
    },
  );
  // `imctl group status`: the group's sub-groups, members per sub-group, warn state, fan-out backlog.
  app.get<{ Params: { id: string } }>(
    "/internal/v1/groups/:id/sub-groups",
    { preHandler: requireInternal(d.internalToken) },
    async (req) => {
      if (!/^[1-9][0-9]{0,18}$/.test(req.params.id)) throw new ApiError("bad_request", "group: a decimal id");
      return groupStatus(d.db, d.subGroups, req.params.id);
    },
  );
}

/** Sign-up and sign-in. */
function accountRoutes(app: FastifyInstance, d: UserCenterDeps): void {
  app.post("/v1/users", async (req, reply) => {
    const { username, password } = parse(credentials, req.body);
    const userId = d.ids.next();
    try {
      await d.db.execute("INSERT INTO users (user_id, username, password_hash) VALUES (?, ?, ?)", [
        userId,
        username,
        await hashPassword(password),
      ]);
    } catch (err) {
      if ((err as { code?: string }).code === "ER_DUP_ENTRY")
        throw new ApiError("conflict", `username ${username} is taken`);
      throw err;
    }
    return reply.status(201).send({ userId, username });
  });

  app.post("/v1/sessions", async (req) => {
    const { username, password } = parse(credentials, req.body);
    const [rows] = await d.db.execute<mysql.RowDataPacket[]>(
      "SELECT user_id, password_hash FROM users WHERE username = ?",
      [username],
    );
    const row = rows[0];
    if (!row || !(await checkPassword(password, String(row.password_hash))))
      throw new ApiError("unauthorized", "wrong username or password");
    const userId = String(row.user_id);
    return { userId, ...issueToken(d.keys, userId, d.tokenTtlSeconds) };
  });
}

/** Groups and their members; `auth` names the signed-in user of a request. */
function groupRoutes(app: FastifyInstance, d: UserCenterDeps, auth: (req: FastifyRequest) => string): void {
  app.post("/v1/groups", async (req, reply) => {
    const owner = auth(req);
    const { name, members = [] } = parse(newGroup, req.body);
    const groupId = d.ids.next();
    const info = await inTransaction(d.db, async (c) => {
      await c.execute("INSERT INTO im_groups (group_id, name, owner_id) VALUES (?, ?, ?)", [groupId, name, owner]);
      await addToGroup(c, d, groupId, [owner, ...members]);
      return groupInfo(c, groupId);
    });
    return reply.status(201).send(info);
  });

  app.post<{ Params: { id: string } }>("/v1/groups/:id/members", async (req) => {
    const actor = auth(req);
    const { userIds } = parse(addMembers, req.body);
    const groupId = req.params.id;
    return inTransaction(d.db, async (c) => {
      const [g] = await c.execute<mysql.RowDataPacket[]>(
        "SELECT group_id FROM im_groups WHERE group_id = ? FOR UPDATE",
        [groupId],
      );
      if (g.length === 0) throw new ApiError("unknown_group", `no group ${groupId}`);
      const [m] = await c.execute<mysql.RowDataPacket[]>(
        "SELECT 1 FROM group_members WHERE group_id = ? AND user_id = ?",
        [groupId, actor],
      );
      if (m.length === 0) throw new ApiError("not_a_member", "only members may add members");
      await addToGroup(c, d, groupId, userIds);
      // Read under the group's lock: headSeq is the seq the new members joined at (they get every message after
      // it). Read after the commit, a send that landed in between made it look as if they joined later.
      return groupInfo(c, groupId);
    });
  });

  app.get<{ Params: { id: string } }>("/v1/groups/:id", async (req) => {
    const actor = auth(req);
    const [m] = await d.db.execute<mysql.RowDataPacket[]>(
      "SELECT 1 FROM group_members WHERE group_id = ? AND user_id = ?",
      [req.params.id, actor],
    );
    if (m.length === 0) {
      await groupInfo(d.db, req.params.id); // unknown_group first
      throw new ApiError("not_a_member", "not a member of this group");
    }
    return groupInfo(d.db, req.params.id);
  });
}

async function addToGroup(
  c: mysql.PoolConnection,
  d: UserCenterDeps,
  groupId: string,
  userIds: string[],
): Promise<void> {
  const unique = [...new Set(userIds)].sort();
  const [known] = await c.query<mysql.RowDataPacket[]>("SELECT user_id FROM users WHERE user_id IN (?)", [unique]);
  if (known.length !== unique.length) {
    const found = new Set(known.map((r) => String(r.user_id)));
    throw new ApiError("unknown_user", `no user ${unique.find((u) => !found.has(u))}`);
  }
  // The group row is locked by the caller or freshly inserted: head_seq and the sub-group count cannot move while
  // members join.
  const [[g]] = await c.query<mysql.RowDataPacket[]>(
    "SELECT head_seq, sub_groups, member_count, fanout_seq FROM im_groups WHERE group_id = ? FOR UPDATE",
    [groupId],
  );
  const [already] = await c.query<mysql.RowDataPacket[]>(
    "SELECT user_id FROM group_members WHERE group_id = ? AND user_id IN (?)",
    [groupId, unique],
  );
  const members = new Set(already.map((r) => String(r.user_id)));
  const fresh = unique.filter((u) => !members.has(u));
  if (fresh.length === 0) return;
  const rows = await placeJoining(
    c,
    d.subGroups,
    groupId,
    {
      head: Number(g?.head_seq ?? 0),
      subGroups: Number(g?.sub_groups ?? 1),
      memberCount: Number(g?.member_count ?? 0),
      fanoutSeq: Number(g?.fanout_seq ?? 0),
    },
    fresh,
  );
  await c.query("INSERT INTO group_members (group_id, user_id, joined_group_seq, sub_group) VALUES ?", [rows]);
  // members_version: the message instances' held member lists of this group are stale from this commit on.
  await c.query(
    "UPDATE im_groups SET member_count = member_count + ?, diffusion = IF(member_count > ?, 'read', diffusion)," +
      " members_version = members_version + 1 WHERE group_id = ?",
    [rows.length, d.writeDiffusionMax, groupId],
  );
}

async function groupInfo(db: mysql.Pool | mysql.PoolConnection, groupId: string) {
  const [rows] = await db.execute<mysql.RowDataPacket[]>(
    "SELECT group_id, name, owner_id, member_count, diffusion, head_seq FROM im_groups WHERE group_id = ?",
    [groupId],
  );
  const g = rows[0];
  if (!g) throw new ApiError("unknown_group", `no group ${groupId}`);
  return {
    groupId: String(g.group_id),
    name: String(g.name),
    ownerId: String(g.owner_id),
    memberCount: Number(g.member_count),
    diffusion: String(g.diffusion),
    headSeq: Number(g.head_seq),
  };
}
