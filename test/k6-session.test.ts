/**
 * The k6 session (im.ts) under real k6, against a small WebSocket server that speaks just enough of the gateway's
 * protocol to drain: hello, ack each send, then "reconnect" while the close handshake is held open for a while.
 * In that window k6's socket is CLOSING and its send() throws; a throw inside a timer ends the VU's iteration, so
 * its remaining sends were never made (CI saw the partner count them as lost during a rollout's promotion).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { WebSocketServer, type WebSocket } from "ws";
import { toolPath } from "../base/tools.mjs";
import { REPO_ROOT } from "../base/root.mjs";

const SENDS = 60;

describe("k6 session across a gateway's drain", () => {
  let wss: WebSocketServer;
  let dir: string;
  const cmids = new Set<string>();
  let connections = 0;
  const handshakes: Array<{ url: string; protocols: string }> = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "im-session-"));
    wss = new WebSocketServer({
      host: "127.0.0.1",
      port: 0,
      // As the gateway: select the protocol's own subprotocol, never the token's.
      handleProtocols: (offered) => (offered.has("im.v1") ? "im.v1" : false),
    });
    await new Promise<void>((r) => wss.once("listening", () => r()));
    wss.on("connection", (ws: WebSocket, req) => {
      handshakes.push({ url: req.url ?? "", protocols: String(req.headers["sec-websocket-protocol"] ?? "") });
      const nth = ++connections;
      let sends = 0;
      ws.send(JSON.stringify({ t: "hello", userId: "u1" }));
      ws.on("message", (data) => {
        const f = JSON.parse(String(data)) as { t: string; rid: string; cmid?: string };
        if (f.t === "pull") return ws.send(JSON.stringify({ t: "res", rid: f.rid, result: { messages: [] } }));
        if (f.t !== "send") return;
        cmids.add(String(f.cmid));
        ws.send(JSON.stringify({ t: "ack", rid: f.rid, result: { messageId: f.cmid, seq: cmids.size } }));
        // The first two connections drain after a few sends; the socket stops reading, so the client's close
        // handshake stays unanswered (the client sits in CLOSING) until the server closes it 600 ms later.
        if (nth <= 2 && ++sends === 5) {
          ws.send(JSON.stringify({ t: "reconnect" }));
          const raw = (ws as unknown as { _socket: Socket })._socket;
          raw.pause();
          setTimeout(() => ws.terminate(), 600);
        }
      });
    });
  });

  after(() => {
    wss.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("keeps sending through the reconnect: every send made and acknowledged once, no VU stopped by an exception", async () => {
    const port = (wss.address() as AddressInfo).port;
    const script = join(dir, "drain.ts");
    writeFileSync(
      script,
      `import { check } from "k6";
import { setInterval, clearInterval } from "k6/timers";
import { ImSession } from ${JSON.stringify(join(REPO_ROOT, "loadtests", "lib", "im.ts"))};
export const options = { vus: 1, iterations: 1 };
export default function () {
  let sent = 0, acked = 0, opened = false;
  const s = new ImSession("ws://127.0.0.1:${port}/ws", "v1.k1.payload.sig", {
    onOpen: () => {
      if (opened) return;
      opened = true;
      const timer = setInterval(() => {
        if (sent >= ${SENDS}) return clearInterval(timer);
        sent++;
        s.send({ kind: "user", id: "u2" }, "x", () => acked++);
      }, 20);
    },
  });
  s.connect();
  const deadline = Date.now() + 20000;
  const watcher = setInterval(() => {
    if (acked >= ${SENDS} || Date.now() > deadline) {
      clearInterval(watcher);
      check(null, { "every send acknowledged": () => acked === ${SENDS} });
      console.log("ACKED " + acked);
      s.close();
    }
  }, 50);
}
`,
    );
    const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) =>
      execFile(
        toolPath("k6"),
        ["run", "--quiet", "--no-summary", script],
        { env: { ...process.env, K6_NO_USAGE_REPORT: "true" }, timeout: 60_000 },
        (err, out, errOut) =>
          err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve({ stdout: out, stderr: errOut }),
      ),
    );
    const log = stdout + stderr;
    assert.doesNotMatch(log, /source=stacktrace/, `the VU threw:\n${log}`);
    assert.match(log, new RegExp(`ACKED ${SENDS}\\b`), log);
    assert.equal(cmids.size, SENDS, "each send reached the server under its own client message id");
    assert.ok(connections >= 3, `the session reconnected after each drain (${connections} connections)`);
    // The token travels as a subprotocol on every (re)connect, never in the URL.
    for (const h of handshakes) {
      assert.equal(h.url, "/ws");
      assert.deepEqual(
        h.protocols.split(",").map((p) => p.trim()),
        ["im.v1", "im.token.v1.k1.payload.sig"],
      );
    }
  });
});
