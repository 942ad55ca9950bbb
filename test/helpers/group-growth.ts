/**
 * Shared pieces of the group growth tests (test/integration/groups*.test.ts): the group's status as `imctl group
 * status --json` prints it, a member sending in a loop, and the check that a member was shown every message once.
 */
import assert from "node:assert/strict";
import { eventually, type Recorder } from "./messaging.ts";
import type { TestPlatform } from "./platform.ts";

export interface GroupStatusJson {
  subGroupCount: number;
  headSeq: number;
  memberCount: number;
  diffusion: string;
  subGroups: Array<{ subGroup: number; members: number; behind: number; pendingMoves: number }>;
  move: {
    moveId: string;
    state: string;
    moving: number;
    switched: number;
    fromSubGroups: number;
    toSubGroups: number;
    startedBy?: string;
    rollbackBy?: string | null;
  } | null;
}

export async function groupStatus(p: TestPlatform, groupId: string): Promise<GroupStatusJson> {
  const r = await p.run("group", "status", groupId, "--json");
  assert.equal(r.exitCode, 0, r.stderr);
  return JSON.parse(r.stdout) as GroupStatusJson;
}

/** Sends until stop() from one member, a message every `gapMs`; resolves with how many it sent. */
export function sendLoop(sender: Recorder, groupId: string, tag: string, gapMs: number) {
  let stop = false;
  const done = (async () => {
    let i = 0;
    while (!stop) {
      await sender.client.send({ kind: "group", id: groupId }, `${tag}-${i++}`);
      await new Promise((r) => setTimeout(r, gapMs));
    }
    return i;
  })();
  return {
    stop: async () => {
      stop = true;
      return done;
    },
  };
}

/** Every group message after `since` up to `head`, except the member's own, once each, in groupSeq order. */
export async function expectAll(m: Recorder, groupId: string, since: number, head: number, sender: string) {
  const got = () => m.received.filter((x) => x.to.id === groupId && x.from !== m.userId);
  const want = Array.from({ length: head - since }, (_, i) => since + i + 1).filter(() => m.userId !== sender);
  await eventually(
    `${want.length} messages at ${m.userId}`,
    () => got().length >= want.length,
    60_000,
    () => `${got().length}/${want.length}`,
  );
  assert.deepEqual(
    got().map((x) => x.groupSeq),
    want,
    `member ${m.userId} (joined at ${since}): every message once, in groupSeq order`,
  );
  assert.deepEqual(m.anomalies, []);
}
