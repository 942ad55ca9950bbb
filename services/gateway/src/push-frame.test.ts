import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { notifyRequest } from "../../lib/protocol.ts";
import { pushFrame } from "./push-frame.ts";

describe("the frame of a notify item", () => {
  it("turns a group view item into a gview frame that counts no delivery latency", () => {
    assert.deepEqual(pushFrame({ userId: "5", group: "7", view: "move" }), {
      frame: { t: "gview", group: "7", reason: "move" },
      stamps: [],
    });
  });

  it("keeps gnotify and notify as they were, with their store times", () => {
    assert.deepEqual(pushFrame({ userId: "5", group: "7", groupSeq: 9, ts: 100 }), {
      frame: { t: "gnotify", group: "7", groupSeq: 9 },
      stamps: [100],
    });
    const msg = (seq: number) => ({ seq, messageId: String(seq), from: "3", body: "hi", ts: seq * 10 });
    const p = pushFrame({ userId: "5", seq: 3, ts: 1, msgs: [msg(1), msg(3)] });
    assert.deepEqual(p.stamps, [30], "only the consecutive run ending at seq rides along");
    assert.deepEqual(p.frame.t === "notify" ? p.frame.msgs?.map((m) => m.seq) : undefined, [3]);
    assert.deepEqual(pushFrame({ userId: "5", seq: 4, ts: 1 }), { frame: { t: "notify", seq: 4 }, stamps: [1] });
  });

  it("accepts group view items in a notify request, and only the reasons the protocol names", () => {
    assert.equal(notifyRequest.safeParse({ items: [{ userId: "5", group: "7", view: "rollback" }] }).success, true);
    assert.equal(notifyRequest.safeParse({ items: [{ userId: "5", group: "7", view: "resize" }] }).success, false);
  });
});
