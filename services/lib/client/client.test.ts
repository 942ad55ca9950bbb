import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { WebSocketServer, type WebSocket } from "ws";
import { ImClient } from "./index.ts";

/** A gateway stand-in: says hello, answers sync with nothing to pull, and pushes what a test asks. */
describe("client library: pushes beyond messages", () => {
  let wss: WebSocketServer;
  let conn: WebSocket | undefined;

  before(async () => {
    wss = new WebSocketServer({ host: "127.0.0.1", port: 0, handleProtocols: () => "im.v1" });
    await new Promise<void>((r) => wss.once("listening", () => r()));
    wss.on("connection", (ws: WebSocket) => {
      conn = ws;
      ws.send(JSON.stringify({ t: "hello", userId: "5", instance: "g1", version: "test" }));
      ws.on("message", (data) => {
        const f = JSON.parse(String(data)) as { t: string; rid: string };
        if (f.t === "sync") ws.send(JSON.stringify({ t: "res", rid: f.rid, result: { inboxHead: 0, readGroups: [] } }));
      });
    });
  });

  after(() => wss.close());

  it("emits groupView for a gview push and ignores a frame it does not know", async () => {
    const { port } = wss.address() as AddressInfo;
    const c = new ImClient({ url: `ws://127.0.0.1:${port}/ws`, token: "t", syncIntervalMs: 0 });
    const views: Array<[string, string]> = [];
    const anomalies: string[] = [];
    c.on("groupView", (group, reason) => views.push([group, reason]));
    c.on("anomaly", (a) => anomalies.push(a));
    await c.connect();
    // A frame of a later protocol first: a client ignores what it does not know, so the platform may add frames.
    conn?.send(JSON.stringify({ t: "from-the-future", x: 1 }));
    conn?.send(JSON.stringify({ t: "gview", group: "7", reason: "move" }));
    conn?.send(JSON.stringify({ t: "gview", group: "7", reason: "rollback" }));
    for (let i = 0; i < 50 && views.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    c.close();
    assert.deepEqual(views, [
      ["7", "move"],
      ["7", "rollback"],
    ]);
    assert.deepEqual(anomalies, []);
  });
});
