import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import WebSocket, { WebSocketServer } from "ws";
import { startHostRelay, type HostRelay } from "./drill-edge.ts";

describe("the probe's relay to the edge", () => {
  let server: http.Server;
  let relay: HostRelay;
  const hosts: string[] = [];

  before(async () => {
    server = http.createServer((req, res) => {
      hosts.push(req.headers.host ?? "");
      res.writeHead(req.headers.host === "im.example.com:8080" ? 200 : 404, { "content-type": "text/plain" });
      res.end(`${req.method} ${req.url}`);
    });
    const wss = new WebSocketServer({ noServer: true });
    server.on("upgrade", (req, socket, head) => {
      hosts.push(req.headers.host ?? "");
      wss.handleUpgrade(req, socket, head, (ws) => {
        ws.on("message", (m) => {
          ws.send(`echo ${m.toString()} ${req.headers["sec-websocket-protocol"] ?? ""}`);
          ws.close(4000, "drained");
        });
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as AddressInfo;
    relay = await startHostRelay({ port, host: "im.example.com:8080" });
  });
  after(() => {
    relay.close();
    server.close();
  });

  it("forwards HTTP with the stack's host as the Host header", async () => {
    const res = await fetch(`${relay.edge.http}/v1/groups/1`, { method: "POST", body: "{}" });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "POST /v1/groups/1");
    assert.equal(hosts.at(-1), "im.example.com:8080");
  });

  it("forwards a WebSocket upgrade (subprotocols intact) and the server's close, code and all", async () => {
    const ws = new WebSocket(relay.edge.ws, ["im.v1", "im.token.abc"]);
    const got = await new Promise<{ message: string; code: number }>((resolve, reject) => {
      let message = "";
      ws.on("open", () => ws.send("hi"));
      ws.on("message", (m) => (message = m.toString()));
      ws.on("close", (code) => resolve({ message, code }));
      ws.on("error", reject);
    });
    assert.deepEqual(got, { message: "echo hi im.v1,im.token.abc", code: 4000 });
    assert.equal(hosts.at(-1), "im.example.com:8080");
  });
});
