import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MAX_GROUP_PUSH_USERS, notifyRequest } from "../../lib/protocol.ts";
import { pushOf } from "./push-frames.ts";

const m = (seq: number) => ({ seq, messageId: String(500 + seq), from: "7", body: `b${seq}`, ts: 1000 + seq });

describe("push frames", () => {
  it("a group push: one gnotify for every receiver, its entries as group messages, serialised once", () => {
    const p = pushOf({ users: ["1", "2"], group: "9", groupSeq: 6, ts: 5, msgs: [m(5), m(6)] });
    assert.deepEqual(p.users, ["1", "2"]);
    assert.deepEqual(p.stamps, [5]);
    assert.deepEqual(JSON.parse(p.text), {
      t: "gnotify",
      group: "9",
      groupSeq: 6,
      msgs: [5, 6].map((s) => ({
        seq: s,
        messageId: String(500 + s),
        from: "7",
        to: { kind: "group", id: "9" },
        groupSeq: s,
        body: `b${s}`,
        ts: 1000 + s,
      })),
    });
  });

  it("the consecutive run ending at the newest seq is taken again: a hole or a missing newest entry ends it", () => {
    const hole = JSON.parse(pushOf({ userId: "1", group: "9", groupSeq: 8, msgs: [m(5), m(7), m(8)] }).text);
    assert.deepEqual(
      hole.msgs.map((x: { seq: number }) => x.seq),
      [7, 8],
    );
    const none = JSON.parse(pushOf({ userId: "1", group: "9", groupSeq: 9, msgs: [m(7), m(8)] }).text);
    assert.deepEqual(none, { t: "gnotify", group: "9", groupSeq: 9 });
  });

  it("a 1:1 push keeps its inbox seqs and counts each message's store time", () => {
    const p = pushOf({ userId: "1", seq: 3, msgs: [m(2), m(3)] });
    const f = JSON.parse(p.text);
    assert.equal(f.t, "notify");
    assert.deepEqual(
      f.msgs.map((x: { to: unknown; groupSeq: unknown }) => [x.to, x.groupSeq]),
      [
        [{ kind: "user", id: "1" }, null],
        [{ kind: "user", id: "1" }, null],
      ],
    );
    assert.deepEqual(p.stamps, [1002, 1003]);
    assert.deepEqual(JSON.parse(pushOf({ userId: "1", seq: 3, ts: 9 }).text), { t: "notify", seq: 3 });
  });
});

describe("group view pushes", () => {
  it("turns a group view item into a gview frame that counts no delivery latency", () => {
    const p = pushOf({ userId: "5", group: "7", view: "move" });
    assert.deepEqual(p.users, ["5"]);
    assert.deepEqual(JSON.parse(p.text), { t: "gview", group: "7", reason: "move" });
    assert.deepEqual(p.stamps, []);
  });

  it("accepts group view items in a notify request, and only the reasons the protocol names", () => {
    assert.equal(notifyRequest.safeParse({ items: [{ userId: "5", group: "7", view: "rollback" }] }).success, true);
    assert.equal(notifyRequest.safeParse({ items: [{ userId: "5", group: "7", view: "resize" }] }).success, false);
  });

  it("accepts a group push for many users, and no more than MAX_GROUP_PUSH_USERS of them", () => {
    const push = (n: number) => ({
      users: Array.from({ length: n }, (_, i) => String(i + 1)),
      group: "7",
      groupSeq: 3,
    });
    assert.equal(notifyRequest.safeParse({ items: [push(MAX_GROUP_PUSH_USERS)] }).success, true);
    assert.equal(notifyRequest.safeParse({ items: [push(MAX_GROUP_PUSH_USERS + 1)] }).success, false);
  });
});
