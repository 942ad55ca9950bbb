/**
 * The fan-out's queues (docs/groups.md, "Fan-out workers"). One queue takes the 1:1 and group events; with
 * FANOUT_SUB_GROUP_LANES above 0 the `subgroup` records of large groups go to that many more, chosen by the record's
 * key, so the sub-groups of one message that reach this instance are fanned out side by side instead of one batch
 * after another, while each sub-group's records keep their order (one key, one lane). Each queue runs its batches one
 * at a time, paced. Off by default: on the 2-core machine the lanes cut the batches into one record each and made the
 * fan-out slower (docs/groups.md); they are for instances whose fan-out waits on remote round trips, not on its CPU.
 *
 * Offsets: a partition holds records of several queues, which finish out of order; the bookkeeping (offsets.ts)
 * commits a partition only up to its oldest unfinished record.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { Pacer } from "../../lib/pacer.ts";
import { isSubGroupKey } from "../../lib/protocol.ts";
import type { Logger } from "../../lib/log.ts";
import { fnv1a32 } from "../../lib/sub-groups.ts";
import type { CommittableMessage, OffsetCommits } from "./offsets.ts";

/** The most events one batch takes. */
export const MAX_BATCH = 500;
/** Sub-group lanes per instance by default (FANOUT_SUB_GROUP_LANES): none, every record in the one queue. */
export const SUB_GROUP_LANES = 0;

interface Buffered<M> {
  m: M;
  gen: number;
}

/** What the loop needs of the consumer that feeds it. */
export interface LoopConsumer {
  /** The current consumer's generation; a batch of an older one is processed but not committed. */
  readonly generation: number | undefined;
  /** The buffers have room again: the paused stream may go on. */
  resume(): void;
}

export interface LoopDeps<M> {
  log: Pick<Logger, "warn">;
  /** Processes one batch; a rejection is retried. */
  process(batch: M[]): Promise<void>;
  /** Least time between the starts of two batches of one queue, ms. */
  intervalMs: number;
  /** Sub-group lanes (0: sub-group records share the first queue). */
  lanes: number;
}

/** What the loop needs of a fetched message: its partition and offset for the commits, its key for the queue. */
type LoopMessage = CommittableMessage & { key: string };

/** One queue: its buffer, its pacing, and its batches one at a time. */
class Queue<M extends LoopMessage> {
  readonly buffer: Array<Buffered<M>> = [];
  private wake: (() => void) | null = null;
  // Each batch is a presence lookup and a notify request per gateway: batches start at most once per interval,
  // so under load the events of several fetches (from every broker) go out together.
  private readonly pacer: Pacer;

  constructor(
    private readonly loop: FanoutLoop<M>,
    intervalMs: number,
  ) {
    this.pacer = new Pacer(intervalMs);
  }

  add(b: Buffered<M>): void {
    this.buffer.push(b);
    this.wake?.();
  }

  notify(): void {
    this.wake?.();
  }

  async run(): Promise<void> {
    while (!this.loop.closing) {
      if (this.buffer.length === 0) {
        await new Promise<void>((r) => {
          this.wake = r;
          setTimeout(r, 500);
        });
        this.wake = null;
        continue;
      }
      await this.pacer.next();
      const batch = this.buffer.splice(0, MAX_BATCH);
      await this.loop.process(batch);
    }
  }
}

/**
 * The fan-out loop: batches in, processed, then handed to the offset bookkeeping if the consumer that fetched them
 * is still the current one (a replaced one's events are replayed by its successor instead).
 */
export class FanoutLoop<M extends LoopMessage> {
  closing = false;
  private readonly queues: Array<Queue<M>>;

  constructor(
    private readonly d: LoopDeps<M>,
    private readonly consumer: LoopConsumer,
    private readonly offsets: Pick<OffsetCommits<M>, "fetched" | "processed">,
  ) {
    this.queues = Array.from({ length: 1 + d.lanes }, () => new Queue<M>(this, d.intervalMs));
  }

  /** The events buffered in every queue. */
  get buffered(): number {
    return this.queues.reduce((n, q) => n + q.buffer.length, 0);
  }

  /** Buffers a message of consumer generation `gen`; true when the buffers are full (the consumer pauses). */
  push(m: M, gen: number): boolean {
    this.offsets.fetched(m, gen);
    this.queues[this.queueOf(m.key)]!.add({ m, gen });
    return this.buffered >= MAX_BATCH * 4;
  }

  /** Runs until stop(). */
  async run(): Promise<void> {
    await Promise.all(this.queues.map((q) => q.run()));
  }

  stop(): void {
    this.closing = true;
    for (const q of this.queues) q.notify();
  }

  /** Processes one batch of a queue, retrying until it succeeds or the loop closes, then books its offsets. */
  async process(batch: Array<Buffered<M>>): Promise<void> {
    let done = false;
    for (let attempt = 1; !done && !this.closing; attempt++) {
      try {
        await this.d.process(batch.map((b) => b.m));
        done = true;
      } catch (err) {
        this.d.log.warn({ err: (err as Error).message, attempt }, "fan-out batch failed; retrying");
        await sleep(Math.min(200 * attempt, 2000));
      }
    }
    // Given up as the loop closes: not committed, so the next consumer replays it.
    if (!done) return;
    // The last processed offset of each partition is committed on the next tick of the commit timer, by the
    // consumer that fetched it (a replaced one's events are replayed instead).
    for (const { m, gen } of batch) if (gen === this.consumer.generation) this.offsets.processed(m, gen);
    if (this.buffered < MAX_BATCH) this.consumer.resume();
  }

  /** 0 for 1:1 and group events; a sub-group record's lane by its key (FNV-1a), so one sub-group keeps one lane. */
  private queueOf(key: string): number {
    if (this.d.lanes === 0 || !isSubGroupKey(key)) return 0;
    return 1 + (fnv1a32(key) % this.d.lanes);
  }
}
