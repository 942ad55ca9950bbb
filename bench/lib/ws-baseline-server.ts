/**
 * The connections benchmark's baseline: a bare `ws` WebSocketServer on node:http, run as a child process (fork,
 * IPC). It does the least the gateway does for an idle connection: check the path, refuse with 503 at its limit
 * (the same rule as the gateway: the open-file limit minus 150, or MAX_CONNECTIONS when lower), verify the token
 * with verifyToken on the upgrade, and keep the connection. No heartbeats, presence, metrics or per-user index.
 * It answers GET /readyz and GET /internal/v1/connections like the gateway, so the benchmark measures both the
 * same way.
 *
 * Environment: HOST, TOKEN_KEYS, TOKEN_ACTIVE_KID, INTERNAL_TOKEN, MAX_CONNECTIONS (0: no cap below the limit).
 * Reports `{ t: "listening", port }` once it listens on an ephemeral port.
 */
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";
import { parseKeyRing, verifyToken } from "../../services/lib/tokens.ts";

const RESERVED_FDS = 150;

function env(name: string): string {
  const v = process.env[name];
  if (v === undefined || v === "") throw new Error(`ws-baseline-server: ${name} is not set`);
  return v;
}

function openFileLimit(): number | null {
  try {
    const m = /Max open files\s+(\d+)/.exec(readFileSync("/proc/self/limits", "utf8"));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

const keys = parseKeyRing(env("TOKEN_KEYS"), env("TOKEN_ACTIVE_KID"));
const internalToken = env("INTERNAL_TOKEN");
const cap = Number(process.env.MAX_CONNECTIONS ?? "0");
const fromFds = Math.max(100, (openFileLimit() ?? 20_000) - RESERVED_FDS);
const maxConnections = cap > 0 ? Math.min(cap, fromFds) : fromFds;

const wss = new WebSocketServer({ noServer: true });
let count = 0;

function reject(socket: Duplex, status: number, reason: string): void {
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
}

const server = createServer((req, res) => {
  const json = (status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  const path = new URL(req.url ?? "/", "http://baseline").pathname;
  if (req.method === "GET" && path === "/readyz") return json(200, { status: "ready" });
  if (req.method === "GET" && path === "/internal/v1/connections") {
    if (req.headers["x-im-internal"] !== internalToken) return json(403, { error: "forbidden" });
    return json(200, { connections: count, maxConnections, draining: false });
  }
  return json(404, { error: "bad_request" });
});

server.on("upgrade", (req, socket: Duplex, head: Buffer) => {
  socket.on("error", () => socket.destroy());
  const url = new URL(req.url ?? "/", "http://baseline");
  if (url.pathname !== "/ws") return reject(socket, 404, "Not Found");
  if (count >= maxConnections) return reject(socket, 503, "Service Unavailable");
  try {
    verifyToken(keys, url.searchParams.get("token") ?? "");
  } catch {
    return reject(socket, 401, "Unauthorized");
  }
  count++;
  // Counted until the socket closes, whether or not the handshake completes.
  socket.once("close", () => count--);
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.on("error", () => undefined);
  });
});

server.listen({ host: env("HOST"), port: 0, backlog: 4096 }, () => {
  const addr = server.address();
  process.send?.({ t: "listening", port: typeof addr === "object" && addr !== null ? addr.port : 0, maxConnections });
});

process.on("disconnect", () => process.exit(0));
