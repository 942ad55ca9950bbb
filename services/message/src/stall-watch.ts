/**
 * Tells a fan-out consumer whose stream has stopped delivering a partition's events apart from one that is merely
 * quiet or busy. @platformatic/kafka 1.35's messages stream can stop fetching a partition with no error at all: it
 * skips a broker while a fetch to it is still marked in flight, and drops that mark only after 120 s if the fetch's
 * answer never comes. Seen here after a group rebalance: a message instance stayed in its group, its partitions
 * assigned, and fanned out nothing for about two minutes, while its lag grew and its clients waited.
 *
 * Two judges. The consumer's lag readings: a partition whose latest offset is past the last event the stream
 * delivered, at every reading for `stallMs` with nothing delivered meanwhile, is stalled. Events delivered and still
 * being processed (a slow batch, a database outage) are not waiting on the stream and never count. And the stream's
 * fetches: a healthy one is answered at least once per fetch wait (an idle broker answers empty when it runs out), so
 * a stream with partitions assigned and no fetch answered for `silentMs` has stopped, traffic or not.
 */
import { partitionKey } from "./offsets.ts";

export class StallWatch {
  /** Per partition: the offset after the last event the stream delivered. */
  private readonly deliveredNext = new Map<string, bigint>();
  /** Per partition: when a lag reading first found events the stream had not delivered, with none delivered since. */
  private readonly waitingSince = new Map<string, number>();

  /** When a fetch of the stream was last answered, or the watch last started over. */
  private lastFetch: number;

  constructor(
    private readonly stallMs: number,
    private readonly silentMs: number,
    now = Date.now(),
  ) {
    this.lastFetch = now;
  }

  /** One of the stream's fetches was answered. */
  fetchAnswered(now: number): void {
    this.lastFetch = now;
  }

  /** How long no fetch has been answered, when that is `silentMs` or more and the stream has partitions assigned. */
  silence(now: number, assigned: boolean): number | undefined {
    const quiet = now - this.lastFetch;
    return assigned && quiet >= this.silentMs ? quiet : undefined;
  }

  /** The stream delivered the event at `offset` of a partition. */
  delivered(topic: string, partition: number, offset: bigint): void {
    const key = partitionKey(topic, partition);
    this.waitingSince.delete(key);
    const next = offset + 1n;
    if ((this.deliveredNext.get(key) ?? -1n) < next) this.deliveredNext.set(key, next);
  }

  /** The assignments changed (a rebalance), or the owner paused the stream: waiting so far does not count. */
  reset(now: number): void {
    this.waitingSince.clear();
    this.lastFetch = now;
  }

  /**
   * A lag reading at `now` (ms): per topic the lag of each partition (latest minus committed; negative when not
   * assigned), the committed offsets by partitionKey, and the partitions assigned now (by partitionKey; those alone
   * are judged). Returns the partitions stalled, each as "topic:partition".
   */
  reading(
    lag: Map<string, bigint[]>,
    committed: Map<string, bigint>,
    now: number,
    assigned?: ReadonlySet<string>,
  ): string[] {
    const stalled: string[] = [];
    const waiting = new Set<string>();
    for (const [topic, parts] of lag) {
      parts.forEach((l, i) => {
        const key = partitionKey(topic, i);
        const done = committed.get(key);
        // A partition the consumer no longer holds can keep a committed offset (a late commit of the assignment
        // before): the library still computes a lag for it, which no fetch of this stream will ever reduce.
        if (l <= 0n || done === undefined || (assigned !== undefined && !assigned.has(key))) return;
        const delivered = this.deliveredNext.get(key);
        const ahead = delivered !== undefined && delivered > done ? delivered - done : 0n;
        if (l <= ahead) return;
        waiting.add(key);
        const since = this.waitingSince.get(key);
        if (since === undefined) this.waitingSince.set(key, now);
        else if (now - since >= this.stallMs) stalled.push(key);
      });
    }
    for (const key of [...this.waitingSince.keys()]) if (!waiting.has(key)) this.waitingSince.delete(key);
    return stalled;
  }
}
