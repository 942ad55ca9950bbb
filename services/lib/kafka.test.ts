import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { describe, it } from "node:test";
import { type Broker, Consumer, kGetConnection, MultipleErrors, ProtocolError, Reader } from "@platformatic/kafka";
import {
  COORDINATOR_MOVED,
  createProducer,
  EventPublisher,
  followLeaderMoves,
  guardMissingBroker,
  kafkaErrorIs,
  LEADERSHIP_MOVED,
  readTaggedFields,
  retryDelayFollowingMoves,
} from "./kafka.ts";

describe("broker connections of the event producer", () => {
  it("keep an 'error' listener for their whole life: a second error on one connection does not end the process", async () => {
    const producer = createProducer("test", ["127.0.0.1:1"]);
    try {
      for (const event of ["client:broker:connect", "client:broker:failed"] as const) {
        const connection = new EventEmitter();
        // The library's pool listens for the first error only, as here.
        connection.once("error", () => undefined);
        producer.emit(event, { broker: { host: "127.0.0.1", port: 1 }, connection });
        connection.emit("error", new Error("first"));
        assert.doesNotThrow(() => connection.emit("error", new Error("second")), event);
      }
      // Without the listener the same second error throws (what would end the process).
      const bare = new EventEmitter();
      bare.once("error", () => undefined);
      bare.emit("error", new Error("first"));
      assert.throws(() => bare.emit("error", new Error("second")), /second/);
    } finally {
      await producer.close();
    }
  });
});

describe("a broker lookup that finds nothing (the broker left the cluster metadata)", () => {
  it("fails the request and tells the owner instead of throwing inside the client's callback", async () => {
    let told = 0;
    const consumer = guardMissingBroker(
      new Consumer({ clientId: "test", groupId: "g", bootstrapBrokers: ["127.0.0.1:1"], retries: 0 }),
      () => told++,
    );
    try {
      // What consumer.js does with a coordinator id the metadata no longer lists: metadata.brokers.get(id).
      const missing = new Map<number, Broker>().get(3) as Broker;
      const failure = await new Promise<Error | null>((resolve) =>
        consumer[kGetConnection](missing, (err) => resolve(err)),
      );
      assert.match(String(failure?.message), /no longer in the cluster metadata/);
      assert.equal(told, 1);
      // A listed broker still goes to the connection pool (nothing listens on port 1: a connection error, no throw).
      const refused = await new Promise<Error | null>((resolve) =>
        consumer[kGetConnection]({ host: "127.0.0.1", port: 1 }, (err) => resolve(err)),
      );
      assert.ok(refused instanceof Error);
      assert.doesNotMatch(refused.message, /no longer in the cluster metadata/);
      assert.equal(told, 1);
    } finally {
      await consumer.close();
    }
  });

  it("is what the unguarded client does not do: it throws (the crash this guard prevents)", async () => {
    const consumer = new Consumer({ clientId: "test", groupId: "g", bootstrapBrokers: ["127.0.0.1:1"], retries: 0 });
    try {
      assert.throws(() => consumer[kGetConnection](undefined as unknown as Broker, () => undefined), /reading 'host'/);
    } finally {
      await consumer.close();
    }
  });
});

describe("EventPublisher", () => {
  /** A producer that records each request's events and answers when told to. */
  function recordingProducer() {
    const requests: string[][] = [];
    const partitions: Array<Array<number | undefined>> = [];
    const pending: Array<() => void> = [];
    const producer = {
      send: ({ messages }: { messages: Array<{ value: string; partition?: number }> }) => {
        requests.push(messages.map((m) => m.value));
        partitions.push(messages.map((m) => m.partition));
        return new Promise<void>((r) => pending.push(r));
      },
      close: async () => undefined,
    };
    return {
      producer: producer as unknown as ConstructorParameters<typeof EventPublisher>[0],
      requests,
      partitions,
      pending,
    };
  }
  const ev = (v: string) => ({ topic: "t", key: v, value: v });

  it("sends the events published in one turn of the event loop in one request", async () => {
    const { producer, requests, pending } = recordingProducer();
    const p = new EventPublisher(producer);
    const done = Promise.all(["a", "b", "c"].map((v) => p.publish(ev(v))));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(requests, [["a", "b", "c"]]);
    pending.shift()?.();
    await done;
  });

  it("keeps one request in flight and sends what came meanwhile together in the next", async () => {
    const { producer, requests, pending } = recordingProducer();
    const p = new EventPublisher(producer);
    const first = p.publish(ev("a"));
    await new Promise((r) => setImmediate(r));
    const later = Promise.all(["b", "c"].map((v) => p.publish(ev(v))));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(requests, [["a"]]);
    pending.shift()?.();
    await first;
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(requests, [["a"], ["b", "c"]]);
    pending.shift()?.();
    await later;
  });

  it("puts a request's anyPartition events in one partition, the next request's in the next; keyed events keep the key's", async () => {
    const { producer, partitions, pending } = recordingProducer();
    const p = new EventPublisher(producer);
    const first = Promise.all([
      p.publish({ ...ev("a"), anyPartition: true }),
      p.publish({ ...ev("b"), anyPartition: true }),
      p.publish(ev("g")),
    ]);
    await new Promise((r) => setImmediate(r));
    pending.shift()?.();
    await first;
    const second = p.publish({ ...ev("c"), anyPartition: true });
    await new Promise((r) => setImmediate(r));
    pending.shift()?.();
    await second;
    const [one, two] = partitions;
    assert.equal(typeof one?.[0], "number");
    assert.equal(one?.[1], one?.[0]);
    assert.equal(one?.[2], undefined, "a keyed event is left to the key's partition");
    assert.equal(two?.[0], (one?.[0] ?? 0) + 1);
  });
});

describe("leadership and coordinator moves (what @platformatic/kafka 1.35 retries against the old broker)", () => {
  const notLeader = (): Error => new ProtocolError("NOT_LEADER_OR_FOLLOWER");
  const notCoordinator = (): Error => new ProtocolError("NOT_COORDINATOR");
  // How the library reports a request that failed after its retries, and a fetch a partition of which failed.
  const retried = (...errors: Error[]): Error => new MultipleErrors(`fetch failed ${errors.length} times.`, errors);

  it("recognises the Kafka error codes inside the library's chains of retried errors, and nothing else", () => {
    assert.equal(kafkaErrorIs(notLeader(), LEADERSHIP_MOVED), true);
    assert.equal(kafkaErrorIs(retried(new Error("socket"), notLeader()), LEADERSHIP_MOVED), true);
    assert.equal(kafkaErrorIs(retried(notCoordinator()), COORDINATOR_MOVED), true);
    assert.equal(kafkaErrorIs(retried(notCoordinator()), LEADERSHIP_MOVED), false);
    assert.equal(kafkaErrorIs(new ProtocolError("UNKNOWN_TOPIC_OR_PARTITION"), LEADERSHIP_MOVED), false);
    assert.equal(kafkaErrorIs(new Error("NOT_LEADER_OR_FOLLOWER"), LEADERSHIP_MOVED), false, "a plain error's text");
    assert.equal(kafkaErrorIs(undefined, LEADERSHIP_MOVED), false);
  });

  it("retries a fetch refused by a former leader at once, and reports a moved coordinator at its first refusal", () => {
    const moved: string[] = [];
    const delay = retryDelayFollowingMoves(500, (op) => moved.push(op));
    assert.equal(delay(null, "fetch", 1, 20, notLeader()), 20);
    assert.equal(delay(null, "fetch", 1, 20, new Error("connection refused")), 500);
    assert.deepEqual(moved, []);
    assert.equal(delay(null, "heartbeat", 1, 20, notCoordinator()), 500);
    assert.equal(delay(null, "commit", 3, 20, new ProtocolError("COORDINATOR_NOT_AVAILABLE")), 500);
    // A coordinator still loading the group is the right one: waited for, not reported.
    assert.equal(delay(null, "heartbeat", 1, 20, new ProtocolError("COORDINATOR_LOAD_IN_PROGRESS")), 500);
    // Not a group request: a produce or a metadata call refused so is the library's business.
    assert.equal(delay(null, "metadata", 1, 20, notCoordinator()), 500);
    assert.deepEqual(moved, ["heartbeat", "commit"]);
  });

  it("answers the stream with no records when a fetch failed on a moved leader, after clearing the metadata", () => {
    let cleared = 0;
    let moves = 0;
    let next: (error: Error | null, response?: unknown) => void = () => undefined;
    const consumer = followLeaderMoves(
      {
        fetch(_options: unknown, callback: (error: Error | null, response?: unknown) => void) {
          next = callback;
        },
        clearMetadata() {
          cleared++;
        },
      },
      () => moves++,
    );
    const answers: Array<[Error | null, unknown]> = [];
    const record = (error: Error | null, response?: unknown) => answers.push([error, response]);

    consumer.fetch({ node: 2 }, record);
    next(retried(notLeader(), notLeader()));
    assert.deepEqual(answers[0], [null, { throttleTimeMs: 0, errorCode: 0, sessionId: 0, responses: [] }]);
    assert.equal(cleared, 1);
    assert.equal(moves, 1);

    // Any other failure, and every answer, reaches the stream as it was.
    const other = retried(new Error("connection refused"));
    consumer.fetch({ node: 2 }, record);
    next(other);
    const ok = { responses: [{ topicId: "t", partitions: [] }] };
    consumer.fetch({ node: 2 }, record);
    next(null, ok);
    assert.deepEqual(answers.slice(1), [
      [other, undefined],
      [null, ok],
    ]);
    assert.equal(cleared, 1);
    assert.equal(moves, 1);
  });
});

describe("tagged fields in a response (what a broker adds to a fetch answer when a partition's leader moved)", () => {
  it("skips each field by its tag and size, so what follows them is read right", () => {
    // A compact array of one INT32 whose element carries one tagged field (tag 1: a current leader, 8 bytes), then
    // an INT32 after the array. Counts, tags and sizes are unsigned varints.
    const leader = Buffer.alloc(8);
    leader.writeInt32BE(2, 0);
    leader.writeInt32BE(7, 4);
    const bytes = Buffer.concat([
      Buffer.from([2]), // compact array length + 1
      Buffer.from([0, 0, 0, 42]),
      Buffer.from([1, 1, 8]), // one tagged field: tag 1, 8 bytes
      leader,
      Buffer.from([0, 0, 0, 99]),
    ]);
    const r = Reader.from(bytes);
    assert.deepEqual(
      r.readArray((x) => x.readInt32()),
      [42],
    );
    assert.equal(r.readInt32(), 99);
  });

  it("is what the library's reader is patched with, once this module is loaded", () => {
    assert.equal(Reader.prototype.readTaggedFields, readTaggedFields);
  });
});
