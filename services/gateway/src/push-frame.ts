/** The frame a gateway pushes for one item of a notify request (gateway.ts `notify`). */
import { consecutiveRun, type PushItem, type ServerFrame } from "../../lib/protocol.ts";

export interface Push {
  frame: ServerFrame;
  /** Store times (ms since the epoch) of the messages the push delivers, for the delivery-latency histogram. */
  stamps: number[];
}

export function pushFrame(it: PushItem): Push {
  // A group view refresh delivers no message: it is not delivery latency.
  if ("view" in it) return { frame: { t: "gview", group: it.group, reason: it.view }, stamps: [] };
  const stamp = it.ts === undefined ? [] : [it.ts];
  if ("group" in it) return { frame: { t: "gnotify", group: it.group, groupSeq: it.groupSeq }, stamps: stamp };
  // The message service sends only a consecutive run ending at seq; checked again here because the protocol
  // promises it to clients and a message instance of an older release (mid-rollout) did not.
  const run = it.msgs ? consecutiveRun(it.msgs, it.seq) : [];
  if (run.length === 0) return { frame: { t: "notify", seq: it.seq }, stamps: stamp };
  const to = { kind: "user" as const, id: it.userId };
  return {
    frame: {
      t: "notify",
      seq: it.seq,
      msgs: run.map((m) => ({
        seq: m.seq,
        messageId: m.messageId,
        from: m.from,
        to,
        groupSeq: null,
        body: m.body,
        ts: m.ts,
      })),
    },
    // With messages riding along, each message's own store time counts (one observation per message).
    stamps: run.map((m) => m.ts),
  };
}
