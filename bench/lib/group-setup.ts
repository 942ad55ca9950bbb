/**
 * The set-up of the group-fanout benchmark: the members (inserted straight into the platform's database), large
 * groups made through the API, and the load processes (group-client.ts) with their IPC.
 */
import { randomBytes, scryptSync } from "node:crypto";
import { join } from "node:path";
import mysql from "mysql2/promise";
import { REPO_ROOT } from "../../base/root.mjs";
import type { TestPlatform } from "../../test/helpers/platform.ts";
import type { GroupCommand, GroupReport } from "./group-ipc.ts";
import { IpcChild } from "./ipc-child.ts";
import { readyChildren } from "./msg-bench.ts";

const GROUP_SCRIPT = join(REPO_ROOT, "bench", "lib", "group-client.ts");
/** The API takes at most this many user ids per group request (services/user-center/src/app.ts). */
const API_MEMBERS_PER_REQUEST = 5000;
/**
 * Ids of the benchmark's members: far above what the platform's id generator mints for decades (41 bits of
 * milliseconds since 2026 shifted by 22), so they never meet a registered user's id.
 */
const OFFLINE_ID_BASE = 9_000_000_000_000_000_000n;

/**
 * Adds `n` users straight into the `users` table, in batches, with one real scrypt hash for all: nobody signs in
 * (the benchmark signs their tokens itself, tokensFor). Registering them through the API costs a scrypt hash each on
 * user-center, minutes of CPU for 10,000 members on two busy cores (200 s for 2,000 in one run), and measures
 * nothing the benchmark is about.
 */
export async function insertUsers(p: TestPlatform, n: number, tag: string): Promise<string[]> {
  if (n === 0) return [];
  const salt = randomBytes(16);
  const hash = `scrypt$${salt.toString("base64")}$${scryptSync("correct-horse-battery", salt, 32).toString("base64")}`;
  const db = await mysql.createConnection({
    host: p.spec.local.bindAddress,
    port: p.spec.local.ports.database,
    user: p.secrets.dbAppUser,
    password: p.secrets.dbAppPassword,
    database: p.spec.data.database.name,
  });
  try {
    const ids = Array.from({ length: n }, (_, i) => (OFFLINE_ID_BASE + BigInt(i)).toString());
    for (let i = 0; i < n; i += 1000)
      await db.query("INSERT INTO users (user_id, username, password_hash) VALUES ?", [
        ids.slice(i, i + 1000).map((id, k) => [id, `${tag}-${i + k}`, hash]),
      ]);
    return ids;
  } finally {
    await db.end();
  }
}

/** A group of `owner` and `members` through the API (in requests of at most 5,000 ids); its id. */
export async function makeGroup(
  p: TestPlatform,
  owner: { userId: string; token: string },
  name: string,
  members: string[],
): Promise<string> {
  const others = members.filter((m) => m !== owner.userId);
  const first = others.slice(0, API_MEMBERS_PER_REQUEST - 1);
  const g = await p.api.createGroup(owner.token, name, first);
  for (let i = first.length; i < others.length; i += API_MEMBERS_PER_REQUEST)
    await p.api.addMembers(owner.token, g.groupId, others.slice(i, i + API_MEMBERS_PER_REQUEST));
  return g.groupId;
}

/** What `imctl group status --json` says of a group, the parts the benchmark checks. */
export interface GroupStatusJson {
  memberCount: number;
  diffusion: string;
  subGroupCount: number;
  headSeq: number;
  subGroups: Array<{ subGroup: number; members: number; behind: number; pendingMoves: number }>;
}

export async function groupStatus(p: TestPlatform, groupId: string): Promise<GroupStatusJson> {
  const r = await p.run("group", "status", groupId, "--json");
  if (r.exitCode !== 0) throw new Error(`imctl group status ${groupId} exited ${r.exitCode}: ${r.stderr}`);
  return JSON.parse(r.stdout) as GroupStatusJson;
}

/** One load process of the group benchmark; a `failed` report fails every pending request. */
export class GroupChild extends IpcChild<GroupCommand, GroupReport> {
  constructor(readonly index: number) {
    super(GROUP_SCRIPT, `group load process ${index}`);
  }

  protected onReport(m: GroupReport): boolean {
    if (m.t !== "failed") return false;
    this.failAll(new Error(`${this.label}: ${m.error}`));
    return true;
  }
}

/** Starts `n` group load processes, each ready (60 s at most) with room for `perChild` connections. */
export async function startGroupChildren(n: number, perChild: number): Promise<GroupChild[]> {
  return readyChildren(
    Array.from({ length: n }, (_, i) => new GroupChild(i)),
    perChild,
  );
}
