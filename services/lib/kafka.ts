import type { ConnectionOptions } from "node:tls";
import {
  type Broker,
  type Callback,
  type Connection,
  kGetConnection,
  Producer,
  Reader,
  ProduceAcks,
  stringSerializers,
} from "@platformatic/kafka";
import type { KafkaSasl } from "./data-auth.ts";

/**
 * Reads a response's tagged fields as the protocol writes them: a count, then each field's tag, size and bytes.
 * @platformatic/kafka 1.35 read the count as a signed varint and as a byte length, so any response carrying a tagged
 * field could not be read ("Out of bounds."). Brokers add one to a Fetch v16+ answer whenever a partition's leader
 * moved (its current leader, KIP-951): the fan-out's fetches then failed 21 times against the old leader and its
 * stream with them, about 10 s with nothing fanned out after every leader election. 2.x reads them this way.
 */
export function readTaggedFields(this: Reader): void {
  const count = this.readUnsignedVarInt();
  for (let i = 0; i < count; i++) {
    this.readUnsignedVarInt(); // the tag: no field of one is read by this client
    this.skip(this.readUnsignedVarInt());
  }
}
Reader.prototype.readTaggedFields = readTaggedFields;

/**
 * The durable-event producer: acks from all in-sync replicas (with min.insync.replicas 2 on the topic) and
 * idempotence, so a retried send is written once and an acknowledged event survives a broker loss.
 */
export function createProducer(
  clientId: string,
  brokers: string[],
  tls?: ConnectionOptions,
  sasl?: KafkaSasl,
): Producer<string, string, string, string> {
  return guardMissingBroker(
    keepConnectionErrorsHandled(
      new Producer({
        ...(tls ? { tls } : {}),
        ...(sasl ? { sasl } : {}),
        clientId,
        bootstrapBrokers: brokers,
        serializers: stringSerializers,
        acks: ProduceAcks.ALL,
        idempotent: true,
        retries: 20,
        retryDelay: 250,
        timeout: 10_000,
      }),
    ),
  );
}

/**
 * Makes a broker the client's metadata no longer lists an error instead of a crash. @platformatic/kafka 1.35 looks
 * brokers up by node id (a partition's leader, a consumer group's coordinator) and hands the result to its
 * connection pool unchecked; when that broker has left the metadata (a controlled shutdown deregisters it at once)
 * the pool reads `host` of undefined inside a callback and the process dies. The consumer is hit hardest: it looks
 * its group coordinator up once and keeps the node id for life (2.x forgets it on NOT_COORDINATOR and network
 * errors, but needs Node 22), so every later heartbeat and commit asks for the departed broker. Here the lookup fails
 * the operation (the library retries it) and `onMissing` is told, so an owner can replace the client.
 */
export function guardMissingBroker<
  C extends { [kGetConnection](broker: Broker, callback: Callback<Connection>): void },
>(client: C, onMissing?: () => void): C {
  const get = client[kGetConnection].bind(client);
  client[kGetConnection] = (broker: Broker | undefined, callback: Callback<Connection>): void => {
    if (broker !== undefined) {
      get(broker, callback);
      return;
    }
    onMissing?.();
    callback(new Error("the broker this request needs is no longer in the cluster metadata"));
  };
  return client;
}

/** Kafka errors saying a partition's leadership moved (an election, a broker leaving or coming back). */
export const LEADERSHIP_MOVED = ["NOT_LEADER_OR_FOLLOWER", "LEADER_NOT_AVAILABLE", "FENCED_LEADER_EPOCH"] as const;
/** Kafka errors saying a consumer group's coordinator moved (its __consumer_offsets partition changed leader). */
export const COORDINATOR_MOVED = ["NOT_COORDINATOR", "COORDINATOR_NOT_AVAILABLE"] as const;
/** The @platformatic/kafka 1.35 operations that go to a group's coordinator. */
const GROUP_OPERATIONS = new Set(["heartbeat", "commit", "listCommits", "joinGroup", "syncGroup", "leaveGroup"]);

/** Whether a client error (one error, or the library's chain of retried errors) carries one of the Kafka `codes`. */
export function kafkaErrorIs(err: unknown, codes: readonly string[]): boolean {
  const e = err as { findBy?: (property: string, value: unknown) => unknown } | null | undefined;
  if (typeof e?.findBy !== "function") return false;
  return codes.some((code) => Boolean(e.findBy?.("apiId", code)));
}

/** The Kafka error codes (or, for other errors, their messages) inside a client error and the chain of errors it carries, each once, for a log line. */
export function kafkaErrorCodes(err: unknown): string[] {
  const codes = new Set<string>();
  const walk = (e: unknown, depth: number): void => {
    if (e === null || typeof e !== "object" || depth > 4) return;
    const { apiId, errors, message } = e as { apiId?: unknown; errors?: unknown; message?: unknown };
    if (typeof apiId === "string") codes.add(apiId);
    // A leaf that is no Kafka error (a response the client could not read, a socket's error): its own words.
    else if (!Array.isArray(errors) && typeof message === "string") codes.add(message.slice(0, 80));
    if (Array.isArray(errors)) for (const inner of errors) walk(inner, depth + 1);
  };
  walk(err, 0);
  return [...codes];
}

/** Waits between retries of a fetch whose partition changed leader: the retry only learns that again, so soon. */
const LEADER_MOVED_RETRY_MS = 20;

/**
 * The consumer's retry delay, `baseMs` except where waiting is worse than useless: @platformatic/kafka 1.35
 * retries a fetch against the node it first chose (the old leader) and a group request against the coordinator it
 * found once, however many times the broker answers that it is no longer either. A fetch answered "not the leader"
 * is retried at once (followLeaderMoves then hands the stream an empty answer, and it plans its next fetch from
 * fresh metadata); a group request answered "not the coordinator" tells `onCoordinatorMoved` at its first refusal,
 * so the owner can replace the consumer, which finds the new coordinator, instead of after every retry (20 x 500 ms).
 */
export function retryDelayFollowingMoves(
  baseMs: number,
  onCoordinatorMoved: (operation: string) => void,
): (client: unknown, operationId: string, attempt: number, retries: number, error: Error) => number {
  return (_client, operationId, _attempt, _retries, error) => {
    if (operationId === "fetch" && kafkaErrorIs(error, LEADERSHIP_MOVED)) return LEADER_MOVED_RETRY_MS;
    if (GROUP_OPERATIONS.has(operationId) && kafkaErrorIs(error, COORDINATOR_MOVED)) onCoordinatorMoved(operationId);
    return baseMs;
  };
}

/** An answer to a fetch with no records: the messages stream plans its next fetch, from fresh metadata. */
const NO_RECORDS = { throttleTimeMs: 0, errorCode: 0, sessionId: 0, responses: [] };

type FetchCallback = (error: Error | null, response?: unknown) => void;

/**
 * Keeps a consumer's messages stream going when a partition's leader moves. In @platformatic/kafka 1.35 a fetch
 * that keeps meeting the old leader fails after its retries and the stream is destroyed with it (the fan-out then
 * had to replace the consumer: a group rebalance, and about 10 s with nothing fetched from the moved partitions; 2.x
 * re-plans the fetch, but needs Node 22). Here such a failure clears the cached metadata and answers the stream
 * with no records, so its next fetch goes to the partition's current leader from the same offset. `onMove` is
 * told each time. Any other failure reaches the stream as before.
 */
export function followLeaderMoves<
  C extends { fetch(options: unknown, callback: FetchCallback): unknown; clearMetadata(): void },
>(consumer: C, onMove?: () => void): C {
  const fetch = consumer.fetch.bind(consumer);
  consumer.fetch = ((options: unknown, callback?: FetchCallback) => {
    // The promise form (no callback) is not what the stream uses: it is left as it was.
    if (callback === undefined) return (fetch as (o: unknown) => unknown)(options);
    return fetch(options, (error, response) => {
      if (error && kafkaErrorIs(error, LEADERSHIP_MOVED)) {
        consumer.clearMetadata();
        onMove?.();
        callback(null, NO_RECORDS);
        return;
      }
      callback(error, response);
    });
  }) as C["fetch"];
  return consumer;
}

type ConnectionPayload = { connection?: { on(event: "error", fn: () => void): unknown } };

interface ConnectionEvents {
  on(event: "client:broker:connect" | "client:broker:failed", listener: (payload: ConnectionPayload) => void): unknown;
}

/**
 * Gives every broker connection of a client an 'error' listener for its whole life. The library's connection pool
 * listens for a connection's first error only; a connection that errs twice (a broker closing it during a
 * controlled shutdown, then its socket's own error) would otherwise raise an unhandled 'error' event, which ends
 * the process. The requests on it are still failed with the error and retried by the client.
 */
export function keepConnectionErrorsHandled<C extends ConnectionEvents>(client: C): C {
  const keep = (payload: ConnectionPayload) => void payload.connection?.on("error", () => undefined);
  client.on("client:broker:connect", keep);
  client.on("client:broker:failed", keep);
  return client;
}

export interface OutgoingEvent {
  topic: string;
  key: string;
  value: string;
  /**
   * The event needs no particular partition (its consumers do not rely on the key's order): it goes to the
   * partition the current request fills, so a request goes to one broker instead of one per partition leader.
   */
  anyPartition?: boolean;
}

/**
 * Publishes events with one produce request in flight at a time, coalescing everything that arrives meanwhile
 * into the next request. The idempotent producer's per-partition sequence numbers must reach the broker in
 * order (concurrent requests to one partition are rejected as OUT_OF_ORDER_SEQUENCE_NUMBER), and batching
 * keeps throughput up: under load each request carries many events.
 */
export class EventPublisher {
  private queue: Array<{ ev: OutgoingEvent; resolve: () => void; reject: (e: Error) => void }> = [];
  private inFlight = false;
  /** The partition (modulo the topic's count) that this request's anyPartition events fill; the next request takes the next. */
  private sticky = Math.floor(Math.random() * 1024);

  constructor(
    private readonly producer: Producer<string, string, string, string>,
    private readonly maxBatch = 500,
  ) {}

  /** Resolves once the event is acknowledged by every in-sync replica. */
  publish(ev: OutgoingEvent): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ ev, resolve, reject });
      // The first request leaves after the current turn of the event loop's synchronous work, so the events a
      // caller publishes together (a stored batch's) travel in one request, not as one event and then the rest.
      if (!this.inFlight) {
        this.inFlight = true;
        queueMicrotask(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        const partition = this.sticky++;
        await this.producer.send({
          messages: batch.map(({ ev: { anyPartition, ...m } }) => (anyPartition ? { ...m, partition } : m)),
        });
        for (const b of batch) b.resolve();
      } catch (err) {
        for (const b of batch) b.reject(err instanceof Error ? err : new Error(String(err)));
      }
    }
    this.inFlight = false;
  }

  async close(): Promise<void> {
    while (this.inFlight) await new Promise((r) => setTimeout(r, 10));
    await this.producer.close();
  }
}
