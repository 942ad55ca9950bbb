/**
 * The IM services on the real local platform (Redis Cluster, Kafka, MariaDB, nginx): messages arrive in seq
 * order, exactly once after dedupe; offline clients catch up by pulling; groups fan out, including a group that
 * grows past the diffusion threshold and its sub-group capacity while messages flow, and a group split into sub-groups
 * whose fan-out is one Kafka record per sub-group (docs/groups.md); the fan-out follows Kafka when its partition
 * leaders and its group's coordinator move (docs/messaging.md, "When a Kafka broker goes").
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { execa } from "execa";
import { NodeIdLease } from "../../services/lib/node-id.ts";
import { BULK_LOOKUP_MIN, lookup } from "../../services/lib/presence.ts";
import { createRedisCluster } from "../../services/lib/redis.ts";
import { makeUsers, startPlatform, type TestPlatform } from "../helpers/platform.ts";
import { eventually, recorder, type Recorder } from "../helpers/messaging.ts";
import { REPO_ROOT } from "../../base/root.mjs";
import { kafkaBootstrap } from "../../cli/src/targets/local/components/kafka.ts";
import { leaders, preferOtherLeaders } from "../helpers/kafka-leaders.ts";
import { recentServiceLogs } from "../helpers/service-logs.ts";

const THRESHOLD = 6;
/** Members per sub-group: the 5-member group below is split in two (write diffusion), the growing one in three. */
const CAPACITY = 4;
let p: TestPlatform;
let users: Array<{ userId: string; token: string; username: string }>;
const open: Recorder[] = [];

async function connect(u: { userId: string; token: string }): Promise<Recorder> {
  const r = recorder(p.wsUrl, u);
  await r.client.connect();
  open.push(r);
  return r;
}

/** A client of the platform's Redis Cluster, as the services build theirs. */
function platformRedis(): ReturnType<typeof createRedisCluster> {
  const n = p.spec.data.redis.primaries * (1 + p.spec.data.redis.replicasPerPrimary);
  return createRedisCluster(
    Array.from({ length: n }, (_, i) => `${p.spec.local.bindAddress}:${p.spec.local.ports.redis + i}`),
    { nodeTimeoutMs: p.spec.local.redis.nodeTimeoutMs },
  );
}

const from = (r: Recorder, sender: string) => r.received.filter((m) => m.from === sender);

/** Waits until `to` holds as many messages as were sent, then checks they are `bodies`: each once, in order. */
async function receivedInOrder(to: Recorder, bodies: string[]): Promise<void> {
  await eventually(
    `${bodies.length} messages at ${to.userId}`,
    () => to.received.length >= bodies.length,
    60_000,
    () => `${to.received.length}`,
  );
  assert.deepEqual(
    to.received.map((m) => m.body),
    bodies,
    "every message once, in the order sent",
  );
}

describe("messaging on the real platform", { timeout: 900_000 }, () => {
  before(async () => {
    p = await startPlatform(6000, (s) => {
      (s.messaging as { groupWriteDiffusionMax: number }).groupWriteDiffusionMax = THRESHOLD;
      (s.messaging as { groups: { subGroupCapacity: number } }).groups.subGroupCapacity = CAPACITY;
      // The controller hands leaderships to their preferred replicas within seconds (the leader-move test below).
      (s.local as { kafka: { leaderRebalanceCheckSeconds?: number } }).kafka.leaderRebalanceCheckSeconds = 2;
    });
    users = await makeUsers(p.api, 24, "msg");
  });

  after(async () => {
    for (const r of open) r.client.close();
    await p?.down();
  });

  it("1:1 messages from two senders arrive in seq order, each once, in each sender's order", async () => {
    const [a, b, c] = await Promise.all(users.slice(0, 3).map(connect));
    assert.ok(a && b && c);
    const sendAll = async (s: Recorder, tag: string) => {
      for (let i = 0; i < 30; i++) await s.client.send({ kind: "user", id: b.userId }, `${tag}-${i}`);
    };
    await Promise.all([sendAll(a, "a"), sendAll(c, "c")]);
    await eventually(
      "60 messages at b",
      () => b.received.length >= 60,
      30_000,
      () => `${b.received.length}`,
    );
    assert.equal(b.received.length, 60);
    assert.equal(new Set(b.received.map((m) => m.messageId)).size, 60);
    const seqs = b.received.map((m) => m.seq);
    assert.deepEqual(
      seqs,
      [...seqs].sort((x, y) => x - y),
      "delivered in seq order",
    );
    assert.equal(b.client.stats.inboxSeqRegressions, 0);
    assert.deepEqual(
      from(b, a.userId).map((m) => m.body),
      Array.from({ length: 30 }, (_, i) => `a-${i}`),
    );
    assert.deepEqual(
      from(b, c.userId).map((m) => m.body),
      Array.from({ length: 30 }, (_, i) => `c-${i}`),
    );
    assert.deepEqual(b.anomalies, []);
  });

  it("a retried send with the same client message id is stored and delivered once", async () => {
    const [a, b] = await Promise.all(users.slice(3, 5).map(connect));
    assert.ok(a && b);
    const first = await a.client.send({ kind: "user", id: b.userId }, "once", { cmid: "retry-1" });
    const again = await a.client.send({ kind: "user", id: b.userId }, "once", { cmid: "retry-1" });
    assert.equal(first.duplicate, false);
    assert.equal(again.duplicate, true);
    assert.equal(again.messageId, first.messageId);
    await a.client.send({ kind: "user", id: b.userId }, "after");
    await eventually("the message after the retry", () => b.received.some((m) => m.body === "after"), 20_000);
    assert.deepEqual(
      b.received.map((m) => m.body),
      ["once", "after"],
    );
  });

  it("a client offline during the sends gets every message, in order, by pulling after it connects", async () => {
    const a = await connect(users[5]!);
    const offline = users[6]!;
    for (let i = 0; i < 25; i++) await a.client.send({ kind: "user", id: offline.userId }, `while-offline-${i}`);
    const d = await connect(offline);
    await eventually(
      "25 messages after reconnecting",
      () => d.received.length >= 25,
      20_000,
      () => `${d.received.length}`,
    );
    assert.deepEqual(
      d.received.map((m) => m.body),
      Array.from({ length: 25 }, (_, i) => `while-offline-${i}`),
    );
    assert.deepEqual(
      d.received.map((m) => m.seq),
      Array.from({ length: 25 }, (_, i) => i + 1),
    );
  });

  it("group messages reach every other member once, in group order", async () => {
    const members = await Promise.all(users.slice(7, 12).map(connect));
    const [owner, second] = members;
    assert.ok(owner && second);
    const g = await p.api.createGroup(
      users[7]!.token,
      "team",
      members.slice(1).map((m) => m.userId),
    );
    assert.equal(g.diffusion, "write");
    await Promise.all(
      [owner, second].map(async (s, k) => {
        for (let i = 0; i < 15; i++) await s.client.send({ kind: "group", id: g.groupId }, `s${k}-${i}`);
      }),
    );
    for (const m of members) {
      const others = () => m.received.filter((x) => x.to.id === g.groupId && x.from !== m.userId);
      const want: number = m === owner || m === second ? 15 : 30;
      await eventually(
        `group messages at ${m.userId}`,
        () => others().length >= want,
        30_000,
        () => `${others().length}/${want}`,
      );
      assert.equal(others().length, want);
      const gseqs = others().map((x) => x.groupSeq ?? 0);
      assert.deepEqual(
        gseqs,
        [...gseqs].sort((x, y) => x - y),
        "group order",
      );
      assert.equal(new Set(others().map((x) => x.messageId)).size, want);
    }
  });

  it("a group that grows past the diffusion threshold during a send loop loses no message for any member", async () => {
    const all = await Promise.all(users.slice(12, 24).map(connect));
    const [sender, ...rest] = all;
    assert.ok(sender);
    const initial = rest.slice(0, 2);
    const g = await p.api.createGroup(
      users[12]!.token,
      "growing",
      initial.map((m) => m.userId),
    );
    assert.equal(g.diffusion, "write");
    // joinedAt: the group seq at which each member joined; it must get every message after it.
    const joinedAt = new Map(initial.map((m) => [m.userId, 0]));
    const joiners = rest.slice(2);
    const total = 60;
    const sends = (async () => {
      for (let i = 0; i < total; i++) {
        await sender.client.send({ kind: "group", id: g.groupId }, `grow-${i}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    for (let i = 0; i < joiners.length; i += 3) {
      await new Promise((r) => setTimeout(r, 250));
      const batch = joiners.slice(i, i + 3);
      const info = await p.api.addMembers(
        users[12]!.token,
        g.groupId,
        batch.map((m) => m.userId),
      );
      for (const m of batch) joinedAt.set(m.userId, info.headSeq);
    }
    await sends;
    const info = await p.api.group(users[12]!.token, g.groupId);
    assert.equal(info.memberCount, 12);
    assert.equal(info.diffusion, "read", `more than ${THRESHOLD} members switch the group to read diffusion`);
    assert.equal(info.headSeq, total);
    assert.ok(
      [...joinedAt.values()].some((s) => s > 0 && s < total),
      "members joined while messages flowed",
    );
    for (const m of rest) {
      const since = joinedAt.get(m.userId) ?? 0;
      const want = total - since;
      const got = () => m.received.filter((x) => x.to.id === g.groupId);
      await eventually(
        `messages after group seq ${since} at ${m.userId}`,
        () => got().length >= want,
        30_000,
        () => `${got().length}/${want}`,
      );
      const gseqs = got().map((x) => x.groupSeq ?? 0);
      assert.deepEqual(
        gseqs,
        Array.from({ length: want }, (_, i) => since + i + 1),
        `member joined at ${since}`,
      );
      assert.deepEqual(m.anomalies, []);
    }
  });

  it("a group split into sub-groups: every online member gets every message once, in groupSeq order", async () => {
    const members = await makeUsers(p.api, 20, "sub");
    // No periodic sync: an online member gets the group's messages only through the sub-groups' notifications.
    const online = await Promise.all(
      members.slice(0, 16).map(async (u) => {
        const r = recorder(p.wsUrl, u, { syncIntervalMs: 600_000 });
        await r.client.connect();
        open.push(r);
        return r;
      }),
    );
    const g = await p.api.createGroup(
      members[0]!.token,
      "split",
      members.slice(1).map((m) => m.userId),
    );
    const [s0, s1] = online;
    assert.ok(s0 && s1);
    await Promise.all(
      [s0, s1].map(async (s, k) => {
        for (let i = 0; i < 15; i++) await s.client.send({ kind: "group", id: g.groupId }, `split${k}-${i}`);
      }),
    );
    const check = async (m: Recorder, want: number, exact: boolean) => {
      const got = () => m.received.filter((x) => x.to.id === g.groupId && !(exact && x.from === m.userId));
      await eventually(
        `${want} messages at ${m.userId}`,
        () => got().length >= want,
        30_000,
        () => `${got().length}`,
      );
      const gseqs = got().map((x) => x.groupSeq ?? 0);
      if (exact)
        assert.deepEqual(
          gseqs,
          [...gseqs].sort((x, y) => x - y),
          `groupSeq order at ${m.userId}`,
        );
      else
        assert.deepEqual(
          gseqs,
          Array.from({ length: want }, (_, i) => i + 1),
          `groupSeq order at ${m.userId}`,
        );
      assert.equal(new Set(got().map((x) => x.messageId)).size, got().length, `duplicates at ${m.userId}`);
      assert.deepEqual(m.anomalies, []);
    };
    for (const m of online.slice(2)) await check(m, 30, false);
    for (const m of [s0, s1]) await check(m, 15, true);
    // Offline during the sends: everything after connecting, by pulling.
    for (const u of members.slice(16)) await check(await connect(u), 30, false);

    const r = await p.run("group", "status", g.groupId, "--json");
    assert.equal(r.exitCode, 0, r.stderr);
    const st = JSON.parse(r.stdout) as {
      subGroupCount: number;
      headSeq: number;
      subGroups: Array<{ subGroup: number; members: number; behind: number; pendingMoves: number }>;
    };
    assert.equal(st.subGroupCount, 20 / CAPACITY);
    assert.equal(st.headSeq, 30);
    assert.equal(
      st.subGroups.reduce((n, x) => n + x.members, 0),
      20,
    );
    assert.deepEqual(
      st.subGroups.map((x) => [x.behind, x.pendingMoves]),
      st.subGroups.map(() => [0, 0]),
    );
    // Each sub-group was fanned out from its own record: its gauge holds its member count, on whichever instance.
    const seen = new Map<number, number>();
    for (let i = 0; i < p.spec.services.message.replicas; i++) {
      const text = await (
        await fetch(`http://${p.spec.local.bindAddress}:${p.spec.local.ports.message + i}/metrics`)
      ).text();
      for (const line of text.split("\n").filter((l) => l.startsWith("im_message_subgroup_members{"))) {
        const sub = /sub_group="([0-9]+)"/.exec(line);
        if (line.includes(`group="${g.groupId}"`) && sub) seen.set(Number(sub[1]), Number(line.split(" ").pop()));
      }
    }
    assert.deepEqual(
      [...seen].sort((a, b) => a[0] - b[0]),
      st.subGroups.map((x) => [x.subGroup, x.members]),
    );
  });

  it(
    "a message instance restarted into a rebalance that outlasts the Kafka client's 30 s request timeout starts, " +
      "serves, and joins once the group forms; nothing sent meanwhile is lost",
    async () => {
      const host = p.spec.local.bindAddress;
      const joinedGauge = async (i: number): Promise<number | undefined> => {
        const text = await fetch(`http://${host}:${p.spec.local.ports.message + i}/metrics`).then(
          (r) => r.text(),
          () => "",
        );
        const m = /^im_message_fanout_consumer_joined(?:\{[^}]*\})? (\S+)$/m.exec(text);
        return m ? Number(m[1]) : undefined;
      };
      const [a, b] = await Promise.all((await makeUsers(p.api, 2, "rebalance")).map(connect));
      assert.ok(a && b);
      // A third member of the fan-out's group, stopped once it has joined: the next rebalance waits out its 45 s session.
      const member = execa(
        process.execPath,
        ["--import", "tsx", join(REPO_ROOT, "test", "helpers", "group-member.ts")],
        {
          cwd: REPO_ROOT,
          env: {
            BROKERS: kafkaBootstrap({ spec: p.spec, host }).join(","),
            GROUP: "im-fanout",
            TOPIC: p.spec.data.kafka.topics[0]?.name ?? "im.message.stored",
            SESSION_MS: "45000",
          },
          reject: false,
          stdin: "ignore",
        },
      );
      let out = "";
      member.stdout?.on("data", (c: Buffer) => (out += String(c)));
      try {
        await eventually(
          "the extra member to join the fan-out's group",
          () => out.includes("joined") || member.exitCode !== null,
          60_000,
        );
        if (!out.includes("joined"))
          assert.fail(`the extra member never joined: ${String((await member).stderr).slice(-500)}`);
        const bodies: string[] = [];
        const send = async (tag: string, n: number) => {
          for (let i = 0; i < n; i++) {
            bodies.push(`${tag}-${i}`);
            await a.client.send({ kind: "user", id: b.userId }, `${tag}-${i}`);
          }
        };
        await send("before", 5);
        const message2 = p.pid("message-2");
        process.kill(member.pid!, "SIGSTOP");
        process.kill(p.pid("message-1"), "SIGKILL");
        // Sent while message-1 is down and its replacement waits for the group: message-2 stores them.
        const during = send("during", 20);
        // The old code's start-up gave up after its first JoinGroup timed out (30 s) and the instance exited: up failed.
        const up = await p.run("local", "up");
        assert.equal(up.exitCode, 0, up.stderr.split("\n").slice(-5).join("\n"));
        const restarted = p.pid("message-1");
        await during;
        // The group is still held by the stopped member: the instance serves without its consumer (the test's premise).
        assert.equal(await joinedGauge(0), 0, "message-1's consumer already joined: the rebalance was not held up");
        await send("serving", 5);
        process.kill(member.pid!, "SIGKILL");
        const deadline = Date.now() + 120_000;
        while (!((await joinedGauge(0)) === 1 && (await joinedGauge(1)) === 1) && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 500));
        assert.equal(await joinedGauge(0), 1, "message-1's consumer never joined after the group could form");
        assert.equal(await joinedGauge(1), 1, "message-2's consumer is not in the group");
        await send("after", 5);
        await receivedInOrder(b, bodies);
        const seqs = b.received.map((m) => m.seq);
        assert.deepEqual(
          seqs,
          [...seqs].sort((x, y) => x - y),
          "delivered in seq order",
        );
        assert.deepEqual(b.anomalies, []);
        // Neither instance died on the way: message-2's rejoin timed out too, and its consumer was replaced, not the process.
        assert.equal(p.pid("message-1"), restarted, "message-1 was restarted again");
        assert.equal(p.pid("message-2"), message2, "message-2 was restarted");
        for (const pid of [restarted, message2])
          assert.doesNotThrow(() => process.kill(pid, 0), `process ${pid} is gone`);
        const status = await p.run("local", "status");
        assert.equal(status.exitCode, 0, status.stdout);
      } finally {
        member.kill("SIGKILL");
        await member;
      }
    },
  );

  it(
    "partition leaders and the fan-out group's coordinator move (a preferred-leader election) under a send loop: " +
      "the fan-out follows them without its stream or heartbeats failing, and nothing is lost",
    async () => {
      const host = p.spec.local.bindAddress;
      const bootstrap = kafkaBootstrap({ spec: p.spec, host });
      const topic = p.spec.data.kafka.topics[0]?.name ?? "im.message.stored";
      const restarts = async (): Promise<Map<string, number>> => {
        const by = new Map<string, number>();
        for (let i = 0; i < p.spec.services.message.replicas; i++) {
          const text = await (await fetch(`http://${host}:${p.spec.local.ports.message + i}/metrics`)).text();
          for (const m of text.matchAll(
            /^im_message_fanout_consumer_restarts_total\{[^}]*reason="([^"]+)"[^}]*\} (\S+)$/gm,
          ))
            by.set(m[1]!, (by.get(m[1]!) ?? 0) + Number(m[2]));
        }
        return by;
      };
      const [a, b] = await Promise.all((await makeUsers(p.api, 2, "leaders")).map(connect));
      assert.ok(a && b);
      const bodies: string[] = [];
      let sending = true;
      const loop = (async () => {
        for (let i = 0; sending; i++) {
          bodies.push(`lead-${i}`);
          await a.client.send({ kind: "user", id: b.userId }, `lead-${i}`);
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      const before = await restarts();
      // Every partition of the stored-message topic, and the offsets partition that makes a broker the group's
      // coordinator (all three of them: the group's is one), get another preferred leader.
      const moves = await preferOtherLeaders(bootstrap, [topic, "__consumer_offsets"]);
      const wanted = new Map(moves.map((m) => [`${m.topic}/${m.partition}`, m.to]));
      const deadline = Date.now() + 60_000;
      let now = await leaders(bootstrap, [topic, "__consumer_offsets"]);
      while ([...wanted].some(([k, to]) => now.get(k) !== to) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 500));
        now = await leaders(bootstrap, [topic, "__consumer_offsets"]);
      }
      assert.deepEqual(
        [...wanted].filter(([k, to]) => now.get(k) !== to),
        [],
        "the controller handed every partition to its new preferred leader",
      );
      // Past the 20 retries x 500 ms after which the old client gave up on the old leader and coordinator.
      await new Promise((r) => setTimeout(r, 13_000));
      sending = false;
      await loop;
      await receivedInOrder(b, bodies);
      assert.deepEqual(b.anomalies, []);
      const after = await restarts();
      const grew = (reason: string) => (after.get(reason) ?? 0) - (before.get(reason) ?? 0);
      // What the old client did: its stream failed on the old leader, its heartbeats and commits on the old coordinator.
      // Nor is a stream that follows its new leaders taken for stalled (the stall watch once judged partitions of the
      // assignment before the election, whose late commits left the library a lag for them).
      // The services' log lines are read only for a failure's message.
      for (const reason of ["stream-failed", "stream-stalled", "heartbeat-failed", "commit-failed", "stream-closed"])
        if (grew(reason) !== 0)
          assert.equal(
            grew(reason),
            0,
            `fan-out consumers replaced for ${reason}: ${JSON.stringify([...after])}\n` +
              recentServiceLogs(p.stateDir, Date.now() - 60_000),
          );
      // The coordinator moved: each instance replaced its consumer once, at the first refusal, to find the new one.
      assert.ok(grew("coordinator-moved") >= 1, `no consumer followed the coordinator: ${JSON.stringify([...after])}`);
      for (let i = 0; i < p.spec.services.message.replicas; i++) {
        const text = await (await fetch(`http://${host}:${p.spec.local.ports.message + i}/metrics`)).text();
        assert.match(text, /^im_message_fanout_consumer_joined(?:\{[^}]*\})? 1$/m, `message-${i + 1} is in the group`);
      }
    },
  );

  it("member lists held in memory are read again after a join: a member who joins between two sends gets the second", async () => {
    const people = await makeUsers(p.api, 14, "held");
    // No periodic sync: a member gets the messages only through the fan-out's notifications.
    const rec = await Promise.all(
      people.map(async (u) => {
        const r = recorder(p.wsUrl, u, { syncIntervalMs: 600_000 });
        await r.client.connect();
        open.push(r);
        return r;
      }),
    );
    const hits = async () => {
      let n = 0;
      for (let i = 0; i < p.spec.services.message.replicas; i++) {
        const url = `http://${p.spec.local.bindAddress}:${p.spec.local.ports.message + i}/metrics`;
        const line = (await (await fetch(url)).text())
          .split("\n")
          .find((l) => /^im_message_member_cache_total\{result="hit"[,}]/.test(l));
        n += Number(line?.split(" ").pop() ?? 0);
      }
      return n;
    };
    const before_ = await hits();
    // A small group on one key (write diffusion), and one past the threshold split into sub-groups (read diffusion).
    for (const [name, group] of [
      ["held-one-key", rec.slice(0, 4)],
      ["held-split", rec.slice(4, 14)],
    ] as const) {
      const [sender, ...others] = group;
      const joiner = others.pop();
      assert.ok(sender && joiner);
      const g = await p.api.createGroup(
        people[rec.indexOf(sender)]!.token,
        name,
        others.map((m) => m.userId),
      );
      const got = (m: Recorder) => m.received.filter((x) => x.to.id === g.groupId).map((x) => x.groupSeq ?? 0);
      // One send at a time, each seen by every member before the next: the later fan-outs find the lists held.
      for (let i = 1; i <= 4; i++) {
        await sender.client.send({ kind: "group", id: g.groupId }, `${name}-${i}`);
        for (const m of others) await eventually(`${name} #${i} at ${m.userId}`, () => got(m).length >= i, 30_000);
      }
      const info = await p.api.addMembers(people[rec.indexOf(sender)]!.token, g.groupId, [joiner.userId]);
      assert.equal(info.headSeq, 4);
      await sender.client.send({ kind: "group", id: g.groupId }, `${name}-5`);
      await eventually(`${name} #5 at the joiner`, () => got(joiner).length >= 1, 30_000);
      for (const m of others) await eventually(`${name} #5 at ${m.userId}`, () => got(m).length >= 5, 30_000);
      assert.deepEqual(got(joiner), [5], `${name}: the joiner hears of what was sent after it joined, once`);
      for (const m of others) assert.deepEqual(got(m), [1, 2, 3, 4, 5], `${name} at ${m.userId}`);
      if (name === "held-split") assert.equal(info.diffusion, "read");
    }
    assert.ok((await hits()) > before_, `the fan-outs used held member lists: ${before_} hits before`);
  });

  it("a many-user presence look-up (the gateways' online sets) agrees with the per-user hashes, online and off", async () => {
    const people = await makeUsers(p.api, BULK_LOOKUP_MIN + 16, "pres");
    const clients = await Promise.all(people.slice(0, BULK_LOOKUP_MIN).map((u) => connect(u)));
    const ids = people.map((u) => u.userId);
    const redis = platformRedis();
    try {
      // One user at a time reads the per-user hash; all of them at once the gateways' sets.
      const oneByOne = async () => {
        const out = new Map<string, string[]>();
        for (const u of ids) for (const [k, v] of await lookup(redis, [u])) out.set(k, [...v].sort());
        return out;
      };
      const bulk = async () => new Map([...(await lookup(redis, ids))].map(([k, v]) => [k, [...v].sort()]));
      const want = await oneByOne();
      assert.equal(want.size, BULK_LOOKUP_MIN, "every connected user has a gateway, nobody else");
      assert.equal(new Set([...want.values()].flat()).size, 2, "the clients are spread over both gateways");
      assert.deepEqual(await bulk(), want);
      // Half of them leave: both ways forget exactly those.
      for (const c of clients.slice(0, BULK_LOOKUP_MIN / 2)) c.client.close();
      let left = await bulk();
      for (let i = 0; i < 50 && left.size !== BULK_LOOKUP_MIN / 2; i++) {
        await new Promise((r) => setTimeout(r, 100));
        left = await bulk();
      }
      assert.equal(left.size, BULK_LOOKUP_MIN / 2, "the closed clients left the gateways' online sets within 5 s");
      assert.deepEqual(left, await oneByOne());
    } finally {
      redis.disconnect();
    }
  });

  it("node ids leased from Redis Cluster are unique, renewed, reclaimed after a loss, and given back", async () => {
    const redis = platformRedis();
    const lost: string[] = [];
    try {
      const leases = await Promise.all(
        Array.from({ length: 20 }, (_, i) => NodeIdLease.acquire(redis, `test-${i}`, { onLost: (w) => lost.push(w) })),
      );
      assert.equal(new Set(leases.map((l) => l.id)).size, 20, "20 instances, 20 different node ids");
      const [first, second] = leases;
      assert.ok(first && second);
      assert.equal(await first.renew(), "held");
      // A failover that lost the key: the owner claims it again.
      await redis.del(`im:node-id:{${first.id}}`);
      assert.equal(await first.renew(), "reclaimed");
      // Another owner took the id meanwhile: the lease is lost, and the owner must stop minting ids.
      await redis.set(`im:node-id:{${second.id}}`, "someone-else");
      assert.equal(await second.renew(), "lost");
      await Promise.all(leases.map((l) => l.release()));
      assert.equal(await redis.get(`im:node-id:{${first.id}}`), null, "released on shutdown");
      assert.equal(await redis.get(`im:node-id:{${second.id}}`), "someone-else", "another owner's key is left alone");
      assert.deepEqual(lost, []);
    } finally {
      redis.disconnect();
    }
  });
});
