/**
 * Growth of a group on the real local platform (docs/groups.md, issue 25): a group grows past its sub-group capacity
 * while messages flow, `imctl group grow` moves its members with the switch in steps (10/30/100) (read diffusion by
 * then), and a second move is rolled back midway (write diffusion); every online member is shown every message once, in groupSeq order, offline members pull
 * everything after connecting. Online members sync only every 10 minutes, so what they get in the test came through
 * the sub-groups' notifications and the moves' backfills. Every online member whose sub-group a move changed gets a
 * `gview` push (and re-reads the group, as a client that follows the protocol does); the others get none.
 */
import assert from "node:assert/strict";
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { placeMember } from "../../services/lib/sub-groups.ts";
import { makeUsers, startPlatform, type TestPlatform } from "../helpers/platform.ts";
import { eventually, recorder, type Recorder } from "../helpers/messaging.ts";
import { expectAll, groupStatus, sendLoop, type GroupStatusJson } from "../helpers/group-growth.ts";
import type { LoadtestResult } from "../../cli/src/commands/loadtest/index.ts";

/** Members per sub-group. */
const CAPACITY = 4;
/**
 * Past this many members a group reads from its timeline: the growing group (20) ends in read diffusion, the one
 * rolled back (16) stays in write diffusion, so both kinds of fan-out go through a move.
 */
const THRESHOLD = 18;
let p: TestPlatform;
const open: Recorder[] = [];

type User = { userId: string; token: string };

/** The group views online members read again after a `gview` push, by member. */
const rereads = new Map<string, Array<{ groupId: string; memberCount: number }>>();

async function online(u: User): Promise<Recorder> {
  const r = recorder(p.wsUrl, u, { syncIntervalMs: 600_000 });
  // What a client that follows the protocol does on a gview: it reads the group again (here, the account API's view).
  r.client.on("groupView", (group) => {
    p.api.group(u.token, group).then(
      (v) => rereads.set(u.userId, [...(rereads.get(u.userId) ?? []), v]),
      (err: Error) => r.anomalies.push(`re-reading group ${group} after a gview: ${err.message}`),
    );
  });
  await r.client.connect();
  open.push(r);
  return r;
}

/** The gview pushes each member got for `groupId`, by reason, in order. */
const viewsOf = (m: Recorder, groupId: string) => m.views.filter((v) => v.group === groupId).map((v) => v.reason);

/** The group's status as `imctl group status --json` prints it. */
const status = (groupId: string): Promise<GroupStatusJson> => groupStatus(p, groupId);

const recordFile = (groupId: string) => join(p.stateDir, "group-moves", `${groupId}.json`);

describe("group growth on the real platform", { timeout: 900_000 }, () => {
  before(async () => {
    p = await startPlatform(5000, (s) => {
      (s.messaging as { groups: { subGroupCapacity: number } }).groups.subGroupCapacity = CAPACITY;
      (s.messaging as { groupWriteDiffusionMax: number }).groupWriteDiffusionMax = THRESHOLD;
    });
  });

  after(async () => {
    for (const r of open) r.client.close();
    await p?.down();
  });

  it("grows past its capacity while messages flow, then moves its members 10/30/100; nothing lost or repeated", async (t) => {
    const users = await makeUsers(p.api, 20, "grow");
    const members = await Promise.all(users.slice(0, 16).map(online));
    const [sender] = members;
    assert.ok(sender);
    const g = await p.api.createGroup(
      users[0]!.token,
      "growing",
      users.slice(1, 4).map((u) => u.userId),
    );
    assert.equal((await status(g.groupId)).subGroupCount, 1);
    const joinedAt = new Map(users.slice(0, 4).map((u) => [u.userId, 0]));
    const loop = sendLoop(sender, g.groupId, "grow", 40);
    // 4 members fill one sub-group; 16 more join while messages flow (the count rises, the members already there stay).
    for (let i = 4; i < 20; i += 4) {
      await new Promise((r) => setTimeout(r, 300));
      const batch = users.slice(i, i + 4);
      const info = await p.api.addMembers(
        users[0]!.token,
        g.groupId,
        batch.map((u) => u.userId),
      );
      for (const u of batch) joinedAt.set(u.userId, info.headSeq);
    }
    const before = await status(g.groupId);
    assert.equal(before.subGroupCount, 20 / CAPACITY);
    assert.equal(before.diffusion, "read");
    assert.ok(
      before.subGroups.some((s) => s.pendingMoves > 0),
      "members placed before the growth wait for a move",
    );

    // Bad input changes nothing: a count not above the current one, an unknown group.
    const low = await p.run("group", "grow", g.groupId, "--sub-groups", "3");
    assert.equal(low.exitCode, 2);
    assert.match(low.stderr, /--sub-groups: got 3; allowed: 6 to 64 \(the group has 5 sub-groups/);
    const unknown = await p.run("group", "grow", "7301234567890123456");
    assert.equal(unknown.exitCode, 2);
    assert.match(unknown.stderr, /group id: got "7301234567890123456"; no such group on this platform/);
    assert.equal(existsSync(recordFile(g.groupId)), false);

    const grow = await p.run("group", "grow", g.groupId, "--sub-groups", "8", "--step-pause", "1s", "--json");
    assert.equal(grow.exitCode, 0, grow.stderr);
    const r = JSON.parse(grow.stdout) as {
      phase: string;
      moving: number;
      switched: number;
      steps: number[];
      stepsDone: number;
      toSubGroups: number;
      limits: Record<string, number>;
      lastMeasurement?: { lagSeconds: number | null; latencyP99Seconds: number | null; notifyErrors: number | null };
    };
    assert.equal(r.phase, "Succeeded");
    assert.deepEqual(r.steps, [10, 30, 100]);
    assert.equal(r.stepsDone, 3);
    assert.equal(r.toSubGroups, 8);
    assert.ok(r.moving > 0);
    assert.equal(r.switched, r.moving);
    // The analysis: each step observed against its four limits (defaults here), its looks summed up in the progress.
    assert.deepEqual(r.limits, { maxBehind: 1000, maxLagSeconds: 10, maxLatencyP99Seconds: 1, maxNotifyErrors: 10 });
    for (const k of ["lagSeconds", "latencyP99Seconds", "notifyErrors"] as const)
      assert.ok(r.lastMeasurement && (r.lastMeasurement[k] === null || r.lastMeasurement[k] >= 0), `last look's ${k}`);
    for (const l of grow.stderr.split("\n").filter((x) => x.includes("observed step"))) t.diagnostic(l);
    assert.equal(
      [...grow.stderr.matchAll(/observed step [1-3]\/3: [0-9]+ looks, [0-9]+ failed; worst: backlog /g)].length,
      3,
      grow.stderr,
    );
    // The steps ran in order, each one's share of the movers switched before it was observed.
    const steps = [...grow.stderr.matchAll(/step ([0-9])\/3 \(([0-9]+) %\): ([0-9]+) of ([0-9]+) members/g)].map(
      (m) => [Number(m[1]), Number(m[2]), Number(m[3])],
    );
    assert.deepEqual(
      steps,
      [10, 30, 100].map((pc, i) => [i + 1, pc, Math.ceil((r.moving * pc) / 100)]),
    );
    await new Promise((res) => setTimeout(res, 500));
    const sent = await loop.stop();
    const after = await status(g.groupId);
    assert.equal(after.headSeq, sent);
    assert.equal(after.subGroupCount, 8);
    assert.equal(after.move?.state, "done");
    assert.deepEqual(
      after.subGroups.map((s) => s.pendingMoves),
      after.subGroups.map(() => 0),
    );
    assert.ok(sent > 20, `messages flowed during the move (${sent})`);
    for (const m of members) await expectAll(m, g.groupId, joinedAt.get(m.userId) ?? 0, sent, sender.userId);
    // The members who moved: placed over the count of when they joined (4 at a time, one sub-group per 4 members),
    // their placement over 8 differs. Each online one got one gview push (and read the group again); the rest none.
    const joinCount = (i: number) => Math.floor(i / 4) + 1;
    const movers = new Set(
      users.filter((u, i) => placeMember(u.userId, 8) !== placeMember(u.userId, joinCount(i))).map((u) => u.userId),
    );
    assert.equal(movers.size, r.moving, "the members expected to move are the move's");
    await eventually(
      "a gview at every online member that moved",
      () => members.every((m) => !movers.has(m.userId) || viewsOf(m, g.groupId).length > 0),
      30_000,
    );
    for (const m of members)
      assert.deepEqual(viewsOf(m, g.groupId), movers.has(m.userId) ? ["move"] : [], `gview pushes at ${m.userId}`);
    const movedOnline = members.filter((m) => movers.has(m.userId));
    assert.ok(movedOnline.length > 0, "some online members moved");
    await eventually(
      "every online member that moved read the group again",
      () => movedOnline.every((m) => (rereads.get(m.userId) ?? []).length > 0),
      30_000,
    );
    for (const m of movedOnline) {
      const v = rereads.get(m.userId)?.[0];
      assert.deepEqual({ groupId: v?.groupId, memberCount: v?.memberCount }, { groupId: g.groupId, memberCount: 20 });
    }
    // Offline through all of it: everything after connecting, by pulling.
    for (const u of users.slice(16)) {
      const m = await online(u);
      await expectAll(m, g.groupId, joinedAt.get(u.userId) ?? 0, sent, sender.userId);
    }
  });

  it("the group-growth k6 scenario: a group grows in join stages while members send; nothing lost or repeated", async () => {
    // 6 online members, 4 of them sending, 8 members growing to 40 in 4 stages: 2 to 10 sub-groups (capacity 4),
    // write diffusion into read diffusion (past 18) while messages flow.
    const r = await p.runBare(
      "loadtest",
      "run",
      "group-growth",
      "--target",
      p.lbUrl,
      "--vus",
      "6",
      "--rate",
      "4",
      "--duration",
      "15s",
      "--max-p99",
      "10000",
      "-e",
      "INITIAL=8",
      "-e",
      "FINAL=40",
      "-e",
      "STAGES=4",
      "--json",
    );
    assert.equal(r.exitCode, 0, `${r.stderr.split("\n").slice(-15).join("\n")}\n${r.stdout.slice(0, 2000)}`);
    const res = JSON.parse(r.stdout) as LoadtestResult;
    assert.equal(res.passed, true);
    assert.equal(res.figures.lost, 0);
    assert.ok(res.figures.received > 0);
    for (const metric of ["im_duplicate_messages", "im_out_of_order_messages", "im_lost_messages"])
      assert.ok(
        res.thresholds.some((t) => t.metric === metric && t.expression === "count==0" && t.passed),
        `${metric} count==0 passed`,
      );
    const id = /group-growth: group ([0-9]+)/.exec(r.stderr)?.[1];
    assert.ok(id, "the scenario names its group");
    const st = await status(id);
    assert.equal(st.memberCount, 40);
    assert.equal(st.subGroupCount, 40 / CAPACITY, "the count rose as the members joined");
    assert.equal(st.diffusion, "read");
  });

  it("a move rolled back midway: members back in their old sub-groups, and every member still gets everything", async (t) => {
    const users = await makeUsers(p.api, 16, "back");
    const members = await Promise.all(users.slice(0, 13).map(online));
    const [sender] = members;
    assert.ok(sender);
    const g = await p.api.createGroup(
      users[0]!.token,
      "rolled-back",
      users.slice(1).map((u) => u.userId),
    );
    const first = await status(g.groupId);
    assert.equal(first.subGroupCount, 16 / CAPACITY);
    assert.equal(first.diffusion, "write");
    const placement = first.subGroups.map((s) => s.members);
    const loop = sendLoop(sender, g.groupId, "back", 40);
    await new Promise((r) => setTimeout(r, 500));
    // The delivery p99 limit is raised here: the platform-wide p99 on the shared test machine was 2.4 s while these
    // tests ran (Prometheus, load average 46 on 2 cores), past the 1 s default, and three such looks in a row during a
    // 90 s step roll the move back by themselves before the operator's rollback this case is about.
    const grow = p.run(
      "group",
      "grow",
      g.groupId,
      "--sub-groups",
      "9",
      "--step-pause",
      "90s",
      "--rate",
      "20",
      "--max-latency-p99",
      "60",
    );
    // However the test ends, the grow has ended before the platform goes down (it holds the target's lock).
    t.after(() => grow.then(() => undefined));
    // Midway: the second step (30 %) switched and under observation. The pause is long because each imctl below
    // starts in seconds, tens of seconds on a loaded machine; the rollback is taken within a second of being asked.
    const moveRecord = () =>
      existsSync(recordFile(g.groupId))
        ? (JSON.parse(readFileSync(recordFile(g.groupId), "utf8")) as {
            phase: string;
            timeline: Array<{ what: string }>;
          })
        : undefined;
    await eventually(
      "the move's second step",
      () => moveRecord()?.timeline.some((t) => t.what.startsWith("step 2/3")) === true,
      300_000,
      () => {
        const rec = moveRecord();
        return rec
          ? `${rec.phase}: ${rec.timeline
              .slice(-3)
              .map((t) => t.what)
              .join(" | ")}`
          : "no record yet";
      },
    );
    const mid = await status(g.groupId);
    assert.equal(mid.move?.state, "dual");
    assert.ok((mid.move?.switched ?? 0) > 0 && (mid.move?.switched ?? 0) < (mid.move?.moving ?? 0));
    const refused = await p.run("group", "rollback", g.groupId);
    assert.equal(refused.exitCode, 2, "a rollback asks for --yes");
    assert.match(refused.stderr, /pass --yes to confirm/);
    const back = await p.run("group", "rollback", g.groupId, "--yes", "--json");
    assert.equal(back.exitCode, 0, back.stderr);
    assert.equal((JSON.parse(back.stdout) as { phase: string }).phase, "RolledBack");
    const g1 = await grow;
    assert.equal(g1.exitCode, 1, "the rolled-back grow is its command's failure");
    assert.match(g1.stderr, /rollback asked by/);
    await new Promise((res) => setTimeout(res, 1000));
    const sent = await loop.stop();
    const after = await status(g.groupId);
    assert.equal(after.move?.state, "rolled_back");
    assert.equal(after.subGroupCount, first.subGroupCount);
    assert.deepEqual(
      after.subGroups.map((s) => s.members),
      placement,
    );
    assert.deepEqual(
      after.subGroups.map((s) => s.pendingMoves),
      after.subGroups.map(() => 0),
    );
    for (const m of members) await expectAll(m, g.groupId, 0, sent, sender.userId);
    // The members the move switched before the rollback (the first of the movers by id, the 30 % step's share) got a
    // gview when switched and another when put back; the others none.
    const movers = users
      .map((u) => u.userId)
      .filter((u) => placeMember(u, 9) !== placeMember(u, 4))
      .sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
    assert.equal(movers.length, mid.move?.moving);
    const switched = new Set(movers.slice(0, Math.ceil((movers.length * 30) / 100)));
    assert.equal(switched.size, mid.move?.switched);
    await eventually(
      "two gviews at every online member switched and put back",
      () => members.every((m) => !switched.has(m.userId) || viewsOf(m, g.groupId).length >= 2),
      30_000,
    );
    for (const m of members)
      assert.deepEqual(
        viewsOf(m, g.groupId),
        switched.has(m.userId) ? ["move", "rollback"] : [],
        `gview pushes at ${m.userId}`,
      );
    for (const u of users.slice(13)) await expectAll(await online(u), g.groupId, 0, sent, sender.userId);
  });
});
