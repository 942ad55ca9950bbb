/**
 * Automatic growth of a group on the real local platform (docs/groups.md, "Automatic growth", issue 25): with
 * `messaging.groups.autoGrow` on, a group whose sub-group passes the warn bar while messages flow is grown by the
 * message service's leader, in the stack's switch steps, with nobody running imctl; a second automatic move is rolled
 * back by an operator with `imctl group rollback`, which stops the driver. Online members sync only every 10 minutes,
 * so what they get came through the sub-groups' notifications and the moves' backfills.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { placeMember } from "../../services/lib/sub-groups.ts";
import { makeUsers, startPlatform, type TestPlatform } from "../helpers/platform.ts";
import { recorder, type Recorder } from "../helpers/messaging.ts";
import { expectAll, groupStatus, sendLoop, type GroupStatusJson } from "../helpers/group-growth.ts";

/** Members per sub-group: 4 at warnRatio 0.9 is past the bar (3.6). */
const CAPACITY = 4;
/**
 * Each step of an automatic move is observed this long: long enough for the second test to see the move open and
 * roll it back with imctl (each imctl starts in seconds, tens of seconds on a loaded machine), short enough to finish.
 */
const STEP_PAUSE_S = 30;
let p: TestPlatform;
const open: Recorder[] = [];

type User = { userId: string; token: string };

async function online(u: User): Promise<Recorder> {
  const r = recorder(p.wsUrl, u, { syncIntervalMs: 600_000 });
  await r.client.connect();
  open.push(r);
  return r;
}

/** Polls the group's status until `done` holds. */
async function until(groupId: string, what: string, done: (s: GroupStatusJson) => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await groupStatus(p, groupId);
    if (done(s)) return s;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(s.move)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** im_message_autogrow_moves_total summed over the message instances, by `event,by`. */
async function autoGrowCounts(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (let i = 0; i < p.spec.services.message.replicas; i++) {
    const text = await (
      await fetch(`http://${p.spec.local.bindAddress}:${p.spec.local.ports.message + i}/metrics`)
    ).text();
    for (const m of text.matchAll(/^im_message_autogrow_moves_total\{([^}]*)\} ([0-9.e+]+)$/gm)) {
      const event = /event="([a-z_]+)"/.exec(m[1] ?? "")?.[1];
      const by = /by="([a-z]+)"/.exec(m[1] ?? "")?.[1];
      const key = `${event},${by}`;
      out[key] = (out[key] ?? 0) + Number(m[2]);
    }
  }
  return out;
}

/**
 * A group of 3 members (one sub-group, under the bar) while a member sends every 40 ms; then 9 join at once: 12
 * members in 3 sub-groups, the first 3 still in sub-group 0, every placement's average (4) past the bar.
 */
async function groupPastItsBar(tag: string) {
  const users = await makeUsers(p.api, 12, tag);
  const members = await Promise.all(users.slice(0, 10).map(online));
  const sender = members[0]!;
  const g = await p.api.createGroup(
    users[0]!.token,
    tag,
    users.slice(1, 3).map((u) => u.userId),
  );
  const first = await groupStatus(p, g.groupId);
  assert.equal(first.subGroupCount, 1);
  assert.equal(first.move, null, "3 members of 4 are under the bar (3.6): nothing moves");
  const loop = sendLoop(sender, g.groupId, tag, 40);
  await new Promise((r) => setTimeout(r, 500));
  const info = await p.api.addMembers(
    users[0]!.token,
    g.groupId,
    users.slice(3).map((u) => u.userId),
  );
  const joinedAt = new Map(users.map((u, i) => [u.userId, i < 3 ? 0 : info.headSeq]));
  return { users, members, sender, groupId: g.groupId, loop, joinedAt };
}

describe("automatic group growth on the real platform", { timeout: 900_000 }, () => {
  before(async () => {
    p = await startPlatform(4000, (s) => {
      Object.assign((s.messaging as { groups: Record<string, unknown> }).groups, {
        subGroupCapacity: CAPACITY,
        autoGrow: true,
        autoGrowIntervalSeconds: 2,
        autoGrowStepPauseSeconds: STEP_PAUSE_S,
        // One automatic move per group in this test: the 4 sub-groups it grows to may still have one past the bar.
        autoGrowCooldownSeconds: 3600,
      });
    });
  });

  after(async () => {
    for (const r of open) r.client.close();
    await p?.down();
  });

  it("a group passes its warn bar while messages flow; the platform grows it by itself, nothing lost or repeated", async () => {
    const before = await autoGrowCounts();
    const { users, members, sender, groupId, loop, joinedAt } = await groupPastItsBar("auto");
    // 12 members past the bar: grow to ceil(12 / 3.6) = 4 sub-groups, in 10/30/100 steps of STEP_PAUSE_S each.
    const done = await until(groupId, "the automatic move's end", (s) => s.move?.state === "done", 600_000);
    await new Promise((r) => setTimeout(r, 500));
    const sent = await loop.stop();
    assert.equal(done.move?.startedBy, "auto");
    assert.equal(done.move?.fromSubGroups, 3);
    assert.equal(done.move?.toSubGroups, 4);
    assert.ok((done.move?.moving ?? 0) > 0);
    assert.equal(done.move?.switched, done.move?.moving);
    const after = await groupStatus(p, groupId);
    assert.equal(after.subGroupCount, 4);
    assert.equal(after.headSeq, sent);
    assert.deepEqual(
      after.subGroups.map((s) => s.pendingMoves),
      [0, 0, 0, 0],
    );
    const text = await p.run("group", "status", groupId);
    assert.match(text.stdout, /move [0-9]+ \(3 -> 4 sub-groups, started by auto\): done;/);
    const counts = await autoGrowCounts();
    assert.equal((counts["started,auto"] ?? 0) - (before["started,auto"] ?? 0), 1);
    assert.equal((counts["finished,auto"] ?? 0) - (before["finished,auto"] ?? 0), 1);
    assert.ok(sent > 20, `messages flowed during the move (${sent})`);
    for (const m of members) await expectAll(m, groupId, joinedAt.get(m.userId) ?? 0, sent, sender.userId);
    for (const u of users.slice(10))
      await expectAll(await online(u), groupId, joinedAt.get(u.userId) ?? 0, sent, sender.userId);
  });

  it("an automatic move rolled back by an operator: the driver stops, members are back, nobody misses anything", async () => {
    const before = await autoGrowCounts();
    const { users, members, sender, groupId, loop, joinedAt } = await groupPastItsBar("autoback");
    const mid = await until(
      groupId,
      "the automatic move under way",
      (s) => s.move?.state === "dual" && s.move.switched > 0,
      300_000,
    );
    assert.equal(mid.move?.startedBy, "auto");
    const back = await p.run("group", "rollback", groupId, "--yes", "--json");
    assert.equal(back.exitCode, 0, back.stderr);
    assert.equal((JSON.parse(back.stdout) as { phase: string }).phase, "RolledBack");
    // A few rounds of the trigger later: the driver let go, and a group whose last move was rolled back stays put.
    await new Promise((r) => setTimeout(r, 8000));
    const sent = await loop.stop();
    const after = await groupStatus(p, groupId);
    assert.equal(after.move?.moveId, mid.move?.moveId);
    assert.equal(after.move?.state, "rolled_back");
    assert.equal(after.move?.rollbackBy, "operator");
    assert.equal(after.subGroupCount, 3);
    // Everyone where the joins placed them: the first 3 in sub-group 0, the others by their hash over 3.
    const placed = [0, 0, 0];
    users.forEach((u, i) => placed[i < 3 ? 0 : placeMember(u.userId, 3)]!++);
    assert.deepEqual(
      after.subGroups.map((s) => s.members),
      placed,
    );
    const counts = await autoGrowCounts();
    assert.equal((counts["started,auto"] ?? 0) - (before["started,auto"] ?? 0), 1);
    assert.equal((counts["rolled_back,operator"] ?? 0) - (before["rolled_back,operator"] ?? 0), 1);
    assert.equal((counts["finished,auto"] ?? 0) - (before["finished,auto"] ?? 0), 0);
    for (const m of members) await expectAll(m, groupId, joinedAt.get(m.userId) ?? 0, sent, sender.userId);
    for (const u of users.slice(10))
      await expectAll(await online(u), groupId, joinedAt.get(u.userId) ?? 0, sent, sender.userId);
  });
});
