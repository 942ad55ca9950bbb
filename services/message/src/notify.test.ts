import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MAX_GROUP_PUSH_USERS, MAX_PUSHED_MESSAGES } from "../../lib/protocol.ts";
import { readPushes } from "./inbox.ts";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Cluster } from "ioredis";
import pino from "pino";
import { createMetrics } from "../../lib/metrics.ts";
import { messageMetrics } from "./metrics.ts";
import { coalesce, groupPushes, notify, NOTIFY_RETRY_DELAYS_MS, whereAre } from "./notify.ts";

describe("notification coalescing", () => {
  it("keeps the newest seq per user and the newest group seq per user and group", () => {
    const out = coalesce([
      { userId: "1", seq: 3 },
      { userId: "1", seq: 5 },
      { userId: "1", seq: 4 },
      { userId: "2", seq: 1 },
      { userId: "1", group: "9", groupSeq: 7 },
      { userId: "1", group: "9", groupSeq: 6 },
    ]);
    assert.deepEqual(out, [
      { userId: "1", seq: 5 },
      { userId: "2", seq: 1 },
      { userId: "1", group: "9", groupSeq: 7 },
    ]);
  });

  it("merges the messages that ride along in seq order, once each", () => {
    const m = (seq: number) => ({ seq, messageId: String(100 + seq), from: "7", body: `b${seq}`, ts: 1 });
    const out = coalesce([
      { userId: "1", seq: 2, msgs: [m(2)] },
      { userId: "1", seq: 1, msgs: [m(1)] },
      { userId: "1", seq: 2, msgs: [m(2)] },
    ]);
    assert.deepEqual(out, [{ userId: "1", seq: 2, msgs: [m(1), m(2)] }]);
  });

  it("carries only the consecutive run ending at the newest seq: a seq the batch lacks ends it", () => {
    const m = (seq: number) => ({ seq, messageId: String(100 + seq), from: "7", body: "b", ts: 1 });
    // Seq 2's event carried no message (an older event): only 3 rides along.
    assert.deepEqual(
      coalesce([
        { userId: "1", seq: 1, msgs: [m(1)] },
        { userId: "1", seq: 2 },
        { userId: "1", seq: 3, msgs: [m(3)] },
      ]),
      [{ userId: "1", seq: 3, msgs: [m(3)] }],
    );
    // Seq 12 went to another instance's batch (another partition): the hole ends the run.
    assert.deepEqual(coalesce([10, 11, 13, 14].map((s) => ({ userId: "1", seq: s, msgs: [m(s)] }))), [
      { userId: "1", seq: 14, msgs: [m(13), m(14)] },
    ]);
    // The newest seq's own message is missing: nothing rides along, the client pulls.
    assert.deepEqual(
      coalesce([
        { userId: "1", seq: 4, msgs: [m(4)] },
        { userId: "1", seq: 5 },
      ]),
      [{ userId: "1", seq: 5 }],
    );
    // More than a push may carry: the newest MAX_PUSHED_MESSAGES, still consecutive and ending at the newest seq.
    const many = Array.from({ length: 40 }, (_, i) => ({ userId: "1", seq: i + 1, msgs: [m(i + 1)] }));
    const [one] = coalesce(many);
    assert.ok(one && "seq" in one);
    assert.deepEqual(
      one.msgs?.map((x) => x.seq),
      Array.from({ length: MAX_PUSHED_MESSAGES }, (_, i) => 40 - MAX_PUSHED_MESSAGES + 1 + i),
    );
  });

  it("never carries a run with a hole, whatever the batch holds (random batches)", () => {
    const m = (seq: number) => ({ seq, messageId: String(100 + seq), from: "7", body: "b", ts: 1 });
    let state = 42;
    const rand = () => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 500; round++) {
      const items = Array.from({ length: 1 + Math.floor(rand() * 50) }, () => {
        const seq = 1 + Math.floor(rand() * 60);
        return rand() < 0.1 ? { userId: "1", seq } : { userId: "1", seq, msgs: [m(seq)] };
      });
      const [one] = coalesce(items);
      assert.ok(one && "seq" in one);
      assert.equal(one.seq, Math.max(...items.map((i) => i.seq)));
      const seqs = one.msgs?.map((x) => x.seq) ?? [];
      seqs.forEach((s, i) => assert.equal(s, one.seq - seqs.length + 1 + i, `round ${round}: ${seqs.join(",")}`));
    }
  });
});

describe("group pushes", () => {
  const e = (seq: number, from = "7") => ({ seq, messageId: String(500 + seq), from, body: `g${seq}`, ts: 1 });

  it("read diffusion: each member gets the newest entry it should hear of, with the run after it joined", () => {
    const entries = [5, 6, 7].map((s) => ({
      group_seq: s,
      message_id: String(500 + s),
      sender_id: s === 7 ? "3" : "7",
      body: `g${s}`,
      created_at: new Date(1),
    }));
    const rows = [
      { user_id: "1", joined_group_seq: 0 },
      { user_id: "2", joined_group_seq: 0 },
      { user_id: "3", joined_group_seq: 0 },
      { user_id: "4", joined_group_seq: 5 },
      { user_id: "5", joined_group_seq: 7 },
    ];
    const out = readPushes("9", entries as never, rows as never, 42);
    const by = new Map(out.map((it) => [it.userId, it]));
    assert.deepEqual(by.get("1"), { userId: "1", group: "9", groupSeq: 7, msgs: [e(5), e(6), e(7, "3")], ts: 42 });
    // Members with the same run share one array: notify() folds them into one push by it.
    assert.equal(by.get("1")?.msgs, by.get("2")?.msgs);
    // The sender of 7 is not told of its own message; its run ends at 6.
    assert.deepEqual(by.get("3")?.msgs, [e(5), e(6)]);
    // Joined at 5: nothing from before it joined rides along.
    assert.deepEqual(by.get("4")?.msgs, [e(6), e(7, "3")]);
    // Joined at 7: nothing to hear of.
    assert.equal(by.has("5"), false);
  });

  it("a run is at most MAX_PUSHED_MESSAGES, the newest", () => {
    const entries = Array.from({ length: 40 }, (_, i) => ({
      group_seq: i + 1,
      message_id: String(500 + i + 1),
      sender_id: "7",
      body: "b",
      created_at: new Date(1),
    }));
    const [one] = readPushes("9", entries as never, [{ user_id: "1", joined_group_seq: 0 }] as never, undefined);
    assert.deepEqual(
      one?.msgs?.map((m) => m.seq),
      Array.from({ length: MAX_PUSHED_MESSAGES }, (_, i) => 40 - MAX_PUSHED_MESSAGES + 1 + i),
    );
  });

  it("coalescing keeps a group run met once as it is, and merges runs met twice into one consecutive run", () => {
    const shared = [e(5), e(6)];
    const [a, b] = coalesce([
      { userId: "1", group: "9", groupSeq: 6, msgs: shared },
      { userId: "2", group: "9", groupSeq: 6, msgs: shared },
    ]);
    assert.equal(a?.msgs, shared);
    assert.equal(b?.msgs, shared);
    const [m] = coalesce([
      { userId: "1", group: "9", groupSeq: 8, msgs: [e(7), e(8)] },
      { userId: "1", group: "9", groupSeq: 6, msgs: [e(5), e(6)] },
    ]);
    assert.deepEqual(m, { userId: "1", group: "9", groupSeq: 8, msgs: [e(5), e(6), e(7), e(8)] });
    // A hole between the two runs ends the merged one.
    const [h] = coalesce([
      { userId: "1", group: "9", groupSeq: 6, msgs: [e(5), e(6)] },
      { userId: "1", group: "9", groupSeq: 9, msgs: [e(8), e(9)] },
    ]);
    assert.deepEqual(h?.msgs, [e(8), e(9)]);
  });

  it("folds one gateway's group notifications with the same run into one push for all their receivers", () => {
    const run = [e(5), e(6)];
    const items = [
      { userId: "1", seq: 3 },
      ...Array.from({ length: MAX_GROUP_PUSH_USERS + 5 }, (_, i) => ({
        userId: String(100 + i),
        group: "9",
        groupSeq: 6,
        msgs: run,
      })),
      { userId: "2", group: "9", groupSeq: 6, msgs: [e(6)] },
      { userId: "3", group: "9", groupSeq: 4 },
    ];
    const out = groupPushes(items);
    assert.deepEqual(out[0], { userId: "1", seq: 3 });
    const pushes = out.filter((it) => "users" in it);
    assert.deepEqual(
      pushes.map((p) => [p.groupSeq, p.msgs?.length ?? 0, p.users.length]),
      [
        [6, 2, MAX_GROUP_PUSH_USERS],
        [6, 2, 5],
        [6, 1, 1],
        [4, 0, 1],
      ],
    );
    assert.equal(
      pushes.reduce((n, p) => n + p.users.length, 0),
      MAX_GROUP_PUSH_USERS + 7,
    );
  });
});

describe("presence of a batch", () => {
  it("looks up only the users no sub-group fan-out looked up already, and keeps what those found", async () => {
    const asked: string[] = [];
    // Under the bulk look-up's threshold: one HGETALL per user, recorded here.
    const redis = {
      hgetall: async (key: string) => {
        asked.push(key);
        return key === "presence:{5}" ? { "http://gw-b": "1" } : {};
      },
    } as unknown as Parameters<typeof whereAre>[0];
    const where = await whereAre(
      redis,
      [
        { userId: "1", group: "9", groupSeq: 3 },
        { userId: "2", group: "9", groupSeq: 3 },
        { userId: "5", seq: 7 },
      ],
      [{ looked: ["1", "2", "3"], where: new Map([["1", ["http://gw-a"]]]) }],
    );
    assert.deepEqual(asked, ["presence:{5}"], "users 1 and 2 (online or not) were looked up by the fan-out");
    assert.deepEqual([...where].sort(), [
      ["1", ["http://gw-a"]],
      ["5", ["http://gw-b"]],
    ]);
  });
});

describe("notify requests to a gateway", () => {
  /** A gateway stand-in that answers each notify request as `answer` says (by its arrival), recording the bodies. */
  async function gateway(
    answer: (n: number) => "reset" | number,
  ): Promise<{ url: string; bodies: string[]; server: Server }> {
    const bodies: string[] = [];
    const server = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        bodies.push(body);
        const a = answer(bodies.length);
        if (a === "reset") req.socket.destroy();
        else res.writeHead(a, { "content-type": "application/json" }).end("{}");
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, bodies, server };
  }

  function deps() {
    const metrics = messageMetrics(createMetrics("message", { SERVICE_VERSION: "t", INSTANCE_ID: "t" }));
    const logged: Array<{ gw: string; attempts: number; level: number }> = [];
    const log = pino({ level: "debug" }, { write: (line: string) => void logged.push(JSON.parse(line)) });
    return { redis: {} as Cluster, internalToken: "t", log, metrics, logged };
  }

  const counted = async (d: ReturnType<typeof deps>) =>
    Object.fromEntries((await d.metrics.notifications.get()).values.map((v) => [v.labels.result, v.value]));

  const until = async (ok: () => boolean | Promise<boolean>, ms: number) => {
    for (const end = Date.now() + ms; Date.now() < end;) {
      if (await ok()) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.fail("not reached in time");
  };

  it("tries a request again after a connection reset or a 5xx, in the background, and counts it once by its result", async () => {
    const gw = await gateway((n) => (n === 1 ? "reset" : n === 2 ? 502 : 200));
    try {
      const d = deps();
      const known = [{ looked: ["1"], where: new Map([["1", [gw.url]]]) }];
      const t0 = Date.now();
      await notify(d, [{ userId: "1", seq: 4 }], known);
      // The batch does not wait for the retries.
      assert.ok(Date.now() - t0 < NOTIFY_RETRY_DELAYS_MS[0]!, `notify took ${Date.now() - t0} ms`);
      await until(async () => (await counted(d)).ok === 1, 5000);
      assert.equal(gw.bodies.length, 3);
      assert.ok(
        gw.bodies.every((b) => b === gw.bodies[0]),
        "the same request each time",
      );
      assert.deepEqual(await counted(d), { ok: 1, rejected: 0, unreachable: 0 });
    } finally {
      gw.server.close();
    }
  });

  it("gives up after its retries (unreachable), and never retries a refusal (rejected) or a gateway gone (refused)", async () => {
    const failing = await gateway(() => 503);
    const refusing = await gateway(() => 400);
    const gone = await gateway(() => 200);
    gone.server.close();
    try {
      const d = deps();
      const where = new Map([
        ["1", [failing.url]],
        ["2", [refusing.url]],
        ["3", [gone.url]],
      ]);
      const users = ["1", "2", "3"];
      await notify(
        d,
        users.map((userId) => ({ userId, seq: 1 })),
        [{ looked: users, where }],
      );
      await until(async () => (await counted(d)).unreachable === 2, 5000);
      assert.equal(failing.bodies.length, 1 + NOTIFY_RETRY_DELAYS_MS.length);
      assert.equal(refusing.bodies.length, 1);
      assert.deepEqual(await counted(d), { ok: 0, rejected: 1, unreachable: 2 });
      const failed = Object.fromEntries(d.logged.map((l) => [l.gw, l]));
      assert.equal(failed[failing.url]?.attempts, 3);
      assert.equal(failed[failing.url]?.level, 40, "a gateway still there that keeps failing is a warning");
      assert.equal(failed[gone.url]?.attempts, 1);
    } finally {
      failing.server.close();
      refusing.server.close();
    }
  });
});
