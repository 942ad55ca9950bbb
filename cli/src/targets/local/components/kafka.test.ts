import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { newKafkaClusterId } from "./kafka.ts";

describe("KRaft cluster id", () => {
  it("is 22 URL-safe base64 characters and never starts with '-' (the storage tool would take it for an option)", () => {
    // 20,000 draws: with one in 64 starting with "-", an unguarded generator fails this with certainty.
    for (let i = 0; i < 20_000; i++) {
      const id = newKafkaClusterId();
      assert.match(id, /^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
    }
  });
});
