/**
 * The frames a gateway pushes for the fan-out's notifications (services/lib/protocol.ts): built and serialised once
 * per item, however many receivers and connections it goes to.
 */
import { consecutiveRun, type PushItem, type ServerFrame, type WireMessage } from "../../lib/protocol.ts";

export interface Push {
  /** The receivers (user ids) whose connections get the frame. */
  users: readonly string[];
  /** The frame, serialised. */
  text: string;
  /**
   * When the pushed messages were stored (ms since the epoch): observed once per receiver as delivery latency when
   * its first connection's frame leaves the egress limiter.
   */
  stamps: number[];
}

/**
 * The push for one notification. The message service sends only consecutive runs ending at the newest seq; the run
 * is taken again here because the protocol promises it to clients and a message instance of an older release
 * (mid-rollout) did not.
 */
export function pushOf(it: PushItem): Push {
  // A group view refresh delivers no message: it is not delivery latency.
  if ("view" in it) {
    const frame: ServerFrame = { t: "gview", group: it.group, reason: it.view };
    return { users: [it.userId], text: JSON.stringify(frame), stamps: [] };
  }
  if (!("group" in it)) {
    const run = it.msgs ? consecutiveRun(it.msgs, it.seq) : [];
    const to = { kind: "user" as const, id: it.userId };
    const frame: ServerFrame =
      run.length > 0
        ? { t: "notify", seq: it.seq, msgs: run.map((m) => wire(m, to, null)) }
        : { t: "notify", seq: it.seq };
    // With messages riding along, each message's own store time counts (one observation per message).
    const stamps = run.length > 0 ? run.map((m) => m.ts) : it.ts === undefined ? [] : [it.ts];
    return { users: [it.userId], text: JSON.stringify(frame), stamps };
  }
  const run = it.msgs ? consecutiveRun(it.msgs, it.groupSeq) : [];
  const to = { kind: "group" as const, id: it.group };
  const frame: ServerFrame =
    run.length > 0
      ? { t: "gnotify", group: it.group, groupSeq: it.groupSeq, msgs: run.map((m) => wire(m, to, m.seq)) }
      : { t: "gnotify", group: it.group, groupSeq: it.groupSeq };
  const users = "users" in it ? it.users : [it.userId];
  return { users, text: JSON.stringify(frame), stamps: it.ts === undefined ? [] : [it.ts] };
}

function wire(
  m: { seq: number; messageId: string; from: string; body: string; ts: number },
  to: WireMessage["to"],
  groupSeq: number | null,
): WireMessage {
  return { seq: m.seq, messageId: m.messageId, from: m.from, to, groupSeq, body: m.body, ts: m.ts };
}
