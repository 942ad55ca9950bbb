/**
 * The pair journey's loss figures under real k6, against a small relay that speaks enough of the gateway's protocol:
 * it acknowledges sends and pushes them to the partner, but refuses some sends for good (their sender knows they
 * failed) and drops one acknowledged send (a real loss). im_lost_messages must count only the dropped one and
 * im_unacknowledged_sends the refused ones.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { WebSocketServer, type WebSocket } from "ws";
import { toolPath } from "../base/tools.mjs";
import { REPO_ROOT } from "../base/root.mjs";

const COUNT = 20;

describe("k6 loss figures", () => {
  let wss: WebSocketServer;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "im-loss-"));
    wss = new WebSocketServer({
      host: "127.0.0.1",
      port: 0,
      handleProtocols: (offered) => (offered.has("im.v1") ? "im.v1" : false),
    });
    await new Promise<void>((r) => wss.once("listening", () => r()));
    const conns = new Map<string, WebSocket>();
    const inbox = new Map<string, Array<Record<string, unknown>>>();
    wss.on("connection", (ws: WebSocket, req) => {
      // The token is the user id here: "im.token.u1" -> u1.
      const proto = String(req.headers["sec-websocket-protocol"] ?? "");
      const user = /im\.token\.(u\d)/.exec(proto)?.[1] ?? "?";
      conns.set(user, ws);
      ws.send(JSON.stringify({ t: "hello", userId: user }));
      ws.on("message", (data) => {
        const f = JSON.parse(String(data)) as {
          t: string;
          rid: string;
          to?: { id: string };
          body?: string;
          after?: number;
        };
        if (f.t === "pull") {
          const msgs = (inbox.get(user) ?? []).filter((m) => Number(m.seq) > Number(f.after ?? 0));
          return ws.send(JSON.stringify({ t: "res", rid: f.rid, result: { messages: msgs, head: msgs.length } }));
        }
        if (f.t !== "send" || !f.to || f.body === undefined) return;
        const n = (JSON.parse(f.body) as { n?: number }).n;
        // Sends 3 and 7 are refused for good; send 5 is acknowledged and never delivered.
        if (n === 3 || n === 7)
          return ws.send(JSON.stringify({ t: "err", rid: f.rid, error: "bad_request", message: "refused" }));
        ws.send(JSON.stringify({ t: "ack", rid: f.rid, result: { messageId: `${user}-${f.rid}`, duplicate: false } }));
        if (n === 5) return;
        const box = inbox.get(f.to.id) ?? [];
        const m = {
          seq: box.length + 1,
          messageId: `${user}-${f.rid}`,
          from: user,
          to: { kind: "user", id: f.to.id },
          groupSeq: null,
          body: f.body,
          ts: Date.now(),
        };
        box.push(m);
        inbox.set(f.to.id, box);
        conns.get(f.to.id)?.send(JSON.stringify({ t: "notify", seq: m.seq, msgs: [m] }));
      });
    });
  });

  after(() => {
    wss.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("counts an acknowledged, undelivered message as lost and a refused send as unacknowledged, not lost", async () => {
    const port = (wss.address() as AddressInfo).port;
    const script = join(dir, "pair.ts");
    const summary = join(dir, "summary.json");
    writeFileSync(
      script,
      `import { pairJourney } from ${JSON.stringify(join(REPO_ROOT, "loadtests", "lib", "journeys.ts"))};
export const options = { vus: 2, iterations: 2 };
const users = [{ userId: "u1", token: "u1" }, { userId: "u2", token: "u2" }];
const cfg = { target: "", wsUrl: "ws://127.0.0.1:${port}/ws", vus: 2, rate: 20, durationSeconds: ${COUNT / 10},
  maxP99Ms: 1000, runId: "t", bodyBytes: 0 };
export default function () { pairJourney(cfg, users); }
`,
    );
    await new Promise<void>((resolve, reject) =>
      execFile(
        toolPath("k6"),
        ["run", "--quiet", "--summary-export", summary, script],
        { env: { ...process.env, K6_NO_USAGE_REPORT: "true" }, timeout: 120_000 },
        (err, _out, errOut) => (err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve()),
      ),
    );
    const m = (JSON.parse(readFileSync(summary, "utf8")) as { metrics: Record<string, { count?: number }> }).metrics;
    // Each VU sends COUNT to the other: per direction one loss (5) and two refusals (3, 7).
    assert.equal(m.im_lost_messages?.count, 2, JSON.stringify(m.im_lost_messages));
    assert.equal(m.im_unacknowledged_sends?.count, 4, JSON.stringify(m.im_unacknowledged_sends));
  });
});
