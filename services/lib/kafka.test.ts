import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { describe, it } from "node:test";
import { type Broker, Consumer, kGetConnection } from "@platformatic/kafka";
import { createProducer, EventPublisher, guardMissingBroker } from "./kafka.ts";

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
