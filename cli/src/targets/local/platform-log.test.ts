import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { lastLoggedError } from "./platform.ts";

describe("why a component is not running, from the end of its log", () => {
  it("names a Node crash's error, not its stack frames or the version footer", () => {
    const lines = [
      '{"level":30,"msg":"listening"}',
      "/work/services/lib/kafka.ts:60",
      "        throw err;",
      "Error: Connection closed",
      "    at Connection.#onClose (connection.js:400:9)",
      "    at Socket.emit (node:events:519:28)",
      "Node.js v20.20.2",
    ];
    assert.equal(lastLoggedError(lines), "Error: Connection closed");
  });

  it("names a pino line at level error or fatal and a log4j ERROR line", () => {
    assert.equal(
      lastLoggedError(['{"level":30,"msg":"ok"}', '{"level":60,"msg":"fatal: no database"}']),
      '{"level":60,"msg":"fatal: no database"}',
    );
    assert.equal(
      lastLoggedError([
        "[2026-12-01 08:00:00] ERROR Shutdown broker because all log dirs failed (kafka.log.LogManager)",
        "[2026-12-01 08:00:01] INFO stopped",
      ]),
      "[2026-12-01 08:00:00] ERROR Shutdown broker because all log dirs failed (kafka.log.LogManager)",
    );
  });

  it("says nothing when the end of the log is quiet", () => {
    assert.equal(lastLoggedError(['{"level":30,"msg":"draining"}', '{"level":30,"msg":"stopped"}']), null);
    assert.equal(lastLoggedError([]), null);
  });
});
