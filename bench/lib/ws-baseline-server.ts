/**
 * The benchmarks' bare `ws` WebSocketServer on node:http, run as a child process (fork, IPC), in one of two modes.
 *
 * MODE=connections (the default; the connections benchmark's baseline): the least the gateway does for an idle
 * connection: check the path, refuse with 503 at its limit (the same rule as the gateway: the open-file limit
 * minus 150, or MAX_CONNECTIONS when lower), verify the token with verifyToken on the upgrade, and keep the
 * connection. No heartbeats, presence, metrics or per-user index.
 *
 * MODE=relay (the latency and throughput benchmarks' baseline): authenticates nothing (the user id is read from
 * the token's payload, the signature is not checked), keeps a per-user index of sockets, and relays each `send`
 * frame straight to the receiver's sockets as `{ t: "msg", message }` (a WireMessage), then acks the sender with
 * the protocol's `ack` frame. No storage, no seq, no Kafka, no notify-then-pull round trip; a receiver that is not
 * connected simply misses the message. It says `hello` on open like the gateway and answers `ping`.
 *
 * Both answer GET /readyz and GET /internal/v1/connections like the gateway, so the benchmarks measure both the
 * same way.
 *
 * Environment: HOST, INTERNAL_TOKEN, MODE, MAX_CONNECTIONS (0: no cap below the limit); TOKEN_KEYS and
 * TOKEN_ACTIVE_KID in connections mode. Reports `{ t: "listening", port }` once it listens on an ephemeral port.
 */
import { createServer } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import { handshakeToken, WS_SUBPROTOCOL, type ServerFrame, type WireMessage } from "../../services/lib/protocol.ts";
import { parseKeyRing, verifyToken } from "../../services/lib/tokens.ts";
import { openFileLimit } from "../../services/lib/open-files.ts";
import { toParent } from "./ipc-child.ts";

/** What the relay pushes to a receiver: the message itself (the gateway pushes a notify and the client pulls). */
export type RelayFrame = ServerFrame | { t: "msg"; message: WireMessage };

const RESERVED_FDS = 150;

function env(name: string): string {
  const v = process.env[name];
  if (v === undefined || v === "") throw new Error(`ws-baseline-server: ${name} is not set`);
  return v;
}

const mode = process.env.MODE ?? "connections";
if (mode !== "connections" && mode !== "relay")
  throw new Error(`ws-baseline-server: MODE=${mode}; allowed: connections, relay`);
const keys = mode === "connections" ? parseKeyRing(env("TOKEN_KEYS"), env("TOKEN_ACTIVE_KID")) : null;
const internalToken = env("INTERNAL_TOKEN");
const cap = Number(process.env.MAX_CONNECTIONS ?? "0");
const fromFds = Math.max(100, (openFileLimit() ?? 20_000) - RESERVED_FDS);
const maxConnections = cap > 0 ? Math.min(cap, fromFds) : fromFds;

const wss = new WebSocketServer({
  noServer: true,
  handleProtocols: (offered: Set<string>) => (offered.has(WS_SUBPROTOCOL) ? WS_SUBPROTOCOL : false),
});
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
  // The token arrives as the gateway takes it (subprotocol or Authorization), so both pay the same handshake.
  const token = handshakeToken(req.headers);
  let userId: string | null = null;
  if (keys) {
    try {
      userId = verifyToken(keys, token).sub;
    } catch {
      return reject(socket, 401, "Unauthorized");
    }
  } else {
    userId = subjectOf(token);
    if (userId === null) return reject(socket, 401, "Unauthorized");
  }
  count++;
  // Counted until the socket closes, whether or not the handshake completes.
  socket.once("close", () => count--);
  const user = userId;
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.on("error", () => undefined);
    if (mode === "relay") relay(ws, user);
  });
});

/** The token's subject, unverified (relay mode authenticates nothing): `v1.<kid>.<payload>.<signature>`. */
function subjectOf(token: string): string | null {
  try {
    const claims = JSON.parse(Buffer.from(token.split(".")[2] ?? "", "base64url").toString("utf8")) as {
      sub?: unknown;
    };
    return typeof claims.sub === "string" && claims.sub !== "" ? claims.sub : null;
  } catch {
    return null;
  }
}

const peers = new Map<string, Set<WebSocket>>();
let nextMessageId = 0;

function push(ws: WebSocket, frame: RelayFrame): void {
  if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(frame));
}

function relay(ws: WebSocket, userId: string): void {
  let set = peers.get(userId);
  if (!set) peers.set(userId, (set = new Set()));
  set.add(ws);
  ws.on("close", () => {
    const s = peers.get(userId);
    s?.delete(ws);
    if (s?.size === 0) peers.delete(userId);
  });
  ws.on("message", (data, isBinary) => {
    let f: { t?: unknown; rid?: unknown; to?: { kind?: unknown; id?: unknown }; body?: unknown };
    try {
      f = JSON.parse(isBinary ? "" : data.toString()) as typeof f;
    } catch {
      return push(ws, { t: "err", error: "malformed_json", message: "frame is not valid JSON" });
    }
    const rid = typeof f.rid === "string" ? f.rid : undefined;
    if (f.t === "ping") return push(ws, rid === undefined ? { t: "pong" } : { t: "pong", rid });
    if (
      f.t !== "send" ||
      rid === undefined ||
      typeof f.to?.id !== "string" ||
      f.to.kind !== "user" ||
      typeof f.body !== "string"
    ) {
      return push(ws, {
        t: "err",
        ...(rid === undefined ? {} : { rid }),
        error: "bad_request",
        message: "the relay takes send (to a user) and ping",
      });
    }
    const messageId = String(++nextMessageId);
    const message: WireMessage = {
      seq: 0,
      messageId,
      from: userId,
      to: { kind: "user", id: f.to.id },
      groupSeq: null,
      body: f.body,
      ts: Date.now(),
    };
    for (const peer of peers.get(f.to.id) ?? []) push(peer, { t: "msg", message });
    push(ws, { t: "ack", rid, result: { messageId, duplicate: false, groupSeq: null } });
  });
  push(ws, { t: "hello", userId, instance: "ws-relay", version: "baseline" });
}

server.listen({ host: env("HOST"), port: 0, backlog: 4096 }, () => {
  const addr = server.address();
  toParent({ t: "listening", port: typeof addr === "object" && addr !== null ? addr.port : 0, maxConnections });
});

process.on("disconnect", () => process.exit(0));
