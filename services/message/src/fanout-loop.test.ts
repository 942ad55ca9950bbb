import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fnv1a32 } from "../../lib/sub-groups.ts";
import { FanoutLoop } from "./fanout-loop.ts";
import { OffsetCommits } from "./offsets.ts";

interface Msg {
  topic: string;
  partition: number;
  offset: bigint;
  key: string;
  commit(): void;
}

function msg(partition: number, offset: number, key: string, committed: string[]): Msg {
  return {
    topic: "t",
    partition,
    offset: BigInt(offset),
    key,
    commit: () => void committed.push(`${partition}@${offset}`),
  };
}

/** A batch processor the test releases by hand, recording which batches started and in what order. */
function gatedProcessor() {
  const started: string[][] = [];
  const gates: Array<{ first: string; open: () => void }> = [];
  return {
    started,
    /** Lets the oldest waiting batch (or the one starting with `first`) finish. */
    release: (first?: string) => {
      const i = first === undefined ? 0 : gates.findIndex((g) => g.first === first);
      if (i >= 0) gates.splice(i, 1)[0]!.open();
    },
    releaseAll: () => gates.splice(0).forEach((g) => g.open()),
    process: (batch: Msg[]) => {
      started.push(batch.map((m) => m.key));
      return new Promise<void>((open) => gates.push({ first: batch[0]!.key, open }));
    },
  };
}

const tick = (ms = 50) => new Promise((r) => setTimeout(r, ms));

describe("fan-out loop", () => {
  /** A loop over `p` with `lanes` sub-group lanes, stopped when the test ends. */
  function started(t: { after(fn: () => Promise<void>): void }, p: ReturnType<typeof gatedProcessor>, lanes: number) {
    const book = new OffsetCommits<Msg>();
    const loop = new FanoutLoop<Msg>(
      { log: { warn: () => undefined }, process: p.process, intervalMs: 0, lanes },
      { generation: 1, resume: () => undefined },
      book,
    );
    const running = loop.run();
    t.after(async () => {
      loop.stop();
      p.releaseAll();
      await running;
    });
    return { loop, book };
  }

  it("fans out the sub-group records of one group side by side, and a lane's next batch only after its last", async (t) => {
    const p = gatedProcessor();
    const { loop } = started(t, p, 4);
    // The lane of each of group 9's sub-groups 0..15, as the loop picks it.
    const lane = (k: number) => fnv1a32(`9:${k}`) % 4;
    const a = 0;
    const sameLane = [...Array(16).keys()].find((k) => k !== a && lane(k) === lane(a))!;
    const otherLane = [...Array(16).keys()].find((k) => lane(k) !== lane(a))!;
    loop.push(msg(0, 0, `9:${a}`, []), 1);
    await tick();
    loop.push(msg(1, 0, `9:${sameLane}`, []), 1);
    loop.push(msg(2, 0, `9:${otherLane}`, []), 1);
    await tick();
    assert.deepEqual(p.started, [[`9:${a}`], [`9:${otherLane}`]], "another lane's record starts beside the first");
    p.release(`9:${a}`);
    await tick();
    assert.deepEqual(p.started.at(-1), [`9:${sameLane}`], "the same lane's record starts after the first finished");
  });

  it("keeps 1:1 and group events in one queue, in order, apart from the lanes", async (t) => {
    const p = gatedProcessor();
    const { loop } = started(t, p, 4);
    loop.push(msg(0, 0, "u:1", []), 1);
    await tick();
    loop.push(msg(0, 1, "g:5", []), 1);
    loop.push(msg(0, 2, "u:2", []), 1);
    await tick();
    assert.deepEqual(p.started, [["u:1"]], "the next events wait for the batch in flight of their queue");
    p.release();
    await tick();
    assert.deepEqual(p.started, [["u:1"], ["g:5", "u:2"]]);
  });

  it("commits a partition only up to the oldest record still in some queue", async (t) => {
    const p = gatedProcessor();
    const committed: string[] = [];
    const { loop, book } = started(t, p, 2);
    // Offset 0 in the main queue, offset 1 in a lane: the lane finishes first.
    loop.push(msg(0, 0, "u:1", committed), 1);
    loop.push(msg(0, 1, "9:0", committed), 1);
    await tick();
    assert.deepEqual(p.started, [["u:1"], ["9:0"]]);
    p.release("9:0");
    await tick();
    await book.commit(1, () => undefined);
    assert.deepEqual(committed, [], "offset 0 is still in flight: offset 1 may not be committed");
    p.release("u:1");
    await tick();
    await book.commit(1, () => undefined);
    assert.deepEqual(committed, ["0@1"]);
  });

  it("does not commit a batch given up as the loop closes", async () => {
    const book = new OffsetCommits<Msg>();
    const committed: string[] = [];
    let calls = 0;
    const loop = new FanoutLoop<Msg>(
      {
        log: { warn: () => undefined },
        process: () => {
          calls++;
          return Promise.reject(new Error("database down"));
        },
        intervalMs: 0,
        lanes: 1,
      },
      { generation: 1, resume: () => undefined },
      book,
    );
    const running = loop.run();
    loop.push(msg(0, 0, "u:1", committed), 1);
    await tick(50);
    loop.stop();
    await running;
    await book.commit(1, () => undefined);
    assert.ok(calls >= 1);
    assert.deepEqual(committed, []);
  });
});
