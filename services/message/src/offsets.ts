/**
 * The fan-out's offset bookkeeping: which offset of each partition was processed and waits for its commit, the one
 * commit round in flight, and the consumer lag that excludes what was processed and not yet committed.
 */

/** What the bookkeeping needs of a consumed message. */
export interface CommittableMessage {
  topic: string;
  partition: number;
  offset: bigint;
  commit(): void | Promise<void>;
}

/** "topic:partition", as @platformatic/kafka keys its offsetsCommitted. */
export function partitionKey(topic: string, partition: number): string {
  return `${topic}:${partition}`;
}

/** One partition's messages fetched by consumer generation `gen`, oldest first, and each by its offset. */
interface Fetched<M> {
  gen: number;
  queue: Array<FetchedEntry<M>>;
  at: Map<bigint, FetchedEntry<M>>;
}

interface FetchedEntry<M> {
  m: M;
  done: boolean;
}

/**
 * Offsets are committed once per commit interval, not after every batch: each commit is a replicated write to
 * __consumer_offsets (and wakes the followers' fetches), which under load cost the brokers more CPU than the events
 * themselves. Replaying up to one interval's events after a crash is harmless (an inbox row per user and message).
 */
export class OffsetCommits<M extends CommittableMessage = CommittableMessage> {
  /** The last processed message of each partition, waiting for the next commit round. */
  private readonly toCommit = new Map<string, M>();
  /** The offset after the last processed one, per partition. */
  private readonly processedNext = new Map<string, bigint>();
  private inFlight: { gen: number; round: Promise<unknown> } | null = null;
  /**
   * Per partition, the messages fetched by one consumer generation and not yet committable, in offset order: with
   * several fan-out queues (fanout-loop.ts) a later offset can finish before an earlier one, and only the run of
   * finished offsets from the oldest up may be committed (a crash then replays the unfinished ones, never skips them).
   */
  private readonly pending = new Map<string, Fetched<M>>();

  /**
   * Records that `m` was fetched by consumer generation `gen` and will be processed, perhaps out of order with its
   * partition's other messages. A message of a newer generation starts its partition afresh (the older consumer's
   * unfinished messages are replayed by the newer one, not waited for).
   */
  fetched(m: M, gen: number): void {
    const key = partitionKey(m.topic, m.partition);
    let p = this.pending.get(key);
    if (p === undefined || p.gen !== gen) this.pending.set(key, (p = { gen, queue: [], at: new Map() }));
    const entry: FetchedEntry<M> = { m, done: false };
    p.queue.push(entry);
    p.at.set(m.offset, entry);
  }

  /**
   * Records `m`, fetched and now fully processed, for the next commit round. A message recorded by fetched() becomes
   * committable once every message fetched before it in its partition is processed too; `gen` must be the generation
   * it was fetched by (another generation's message is ignored).
   */
  processed(m: M, gen?: number): void {
    const key = partitionKey(m.topic, m.partition);
    const p = this.pending.get(key);
    const entry = p?.at.get(m.offset);
    if (gen === undefined) {
      this.commitAt(key, m);
      return;
    }
    // Forgotten since (a replaced consumer's), or fetched by another generation: replayed, not committed.
    if (p === undefined || p.gen !== gen || entry?.m !== m) return;
    entry.done = true;
    let last: M | undefined;
    while (p.queue[0]?.done) {
      const head = p.queue.shift()!;
      p.at.delete(head.m.offset);
      last = head.m;
    }
    if (last !== undefined) this.commitAt(key, last);
  }

  private commitAt(key: string, m: M): void {
    this.toCommit.set(key, m);
    this.processedNext.set(key, m.offset + 1n);
  }

  /** Forgets what was processed and not committed: the next consumer replays it. */
  forget(): void {
    this.pending.clear();
    this.toCommit.clear();
    this.processedNext.clear();
  }

  /**
   * Starts a commit round for the consumer of generation `gen` (undefined: no consumer) and returns it. One round in
   * flight per consumer: offsets that come meanwhile wait for the next call (the newest per partition wins), so a
   * slow or failing round never queues more behind it. A replaced consumer's round is not waited for: it fails on
   * its closed client, and the new consumer commits its own offsets. `failed` hears each failed commit.
   */
  commit(gen: number | undefined, failed: (err: Error, m: M, gen: number) => void): Promise<unknown> {
    if (this.toCommit.size === 0 || gen === undefined) return this.inFlight?.round ?? Promise.resolve();
    if (this.inFlight !== null && this.inFlight.gen === gen) return this.inFlight.round;
    const last = [...this.toCommit.values()];
    this.toCommit.clear();
    const round = Promise.all(
      last.map((m) => Promise.resolve(m.commit()).catch((err: Error) => failed(err, m, gen))),
    ).finally(() => {
      if (this.inFlight?.round === round) this.inFlight = null;
    });
    this.inFlight = { gen, round };
    return round;
  }

  /**
   * The events not fanned out yet. The library's lag is the latest offset minus the committed one; commits trail
   * processing by up to one interval, so what was processed and not yet committed is taken off.
   * @param lag per topic, the lag of each partition (by index), as the consumer's "consumer:lag" event gives it
   * @param committed the committed offsets, keyed by partitionKey()
   * @param held when given, the partitions this consumer holds now (partitionKey()); the others are not its lag
   */
  pendingLag(lag: Map<string, bigint[]>, committed: Map<string, bigint>, held?: ReadonlySet<string>): bigint {
    let total = 0n;
    for (const [topic, parts] of lag) {
      parts.forEach((l, i) => {
        if (l <= 0n || (held !== undefined && !held.has(partitionKey(topic, i)))) return;
        const done = committed.get(partitionKey(topic, i));
        const processed = this.processedNext.get(partitionKey(topic, i));
        const ahead = done !== undefined && processed !== undefined && processed > done ? processed - done : 0n;
        if (l > ahead) total += l - ahead;
      });
    }
    return total;
  }
}
