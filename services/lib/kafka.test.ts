import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { describe, it } from "node:test";
import { createProducer } from "./kafka.ts";

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
