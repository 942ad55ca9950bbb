/**
 * A lightweight WebSocket client for the connections benchmark, run as a child process (fork, IPC). It opens raw
 * `node:net` sockets from given source addresses (127.0.0.x), does the WebSocket handshake by hand
 * (GET /ws with the token as a subprotocol, expects 101 and checks Sec-WebSocket-Accept), then stays idle: it answers pings with
 * masked pongs, answers a close with a close, and ignores everything else. One process holds at most a share of
 * the connections: every process has the same 20,000-descriptor hard limit as the server.
 *
 * Commands (parent -> child): `open` (open `count` more connections, `concurrency` handshakes at a time, stop at
 * the first 503 when `stopOnRefuse`), `close` (destroy every connection). Reports: `ready`, `progress` (while
 * opening), `opened`, `closed`.
 */
import { createHash, randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";
import { wsProtocols } from "../../services/lib/protocol.ts";
import { openFileLimit } from "../../services/lib/open-files.ts";
import { toParent } from "./ipc-child.ts";

export interface OpenCommand {
  t: "open";
  host: string;
  port: number;
  tokens: string[];
  /** Source addresses; connection i of this command uses sources[floor(i / perSource) % sources.length]. */
  sources: string[];
  perSource: number;
  count: number;
  concurrency: number;
  stopOnRefuse: boolean;
  /** Handshake deadline per connection. */
  timeoutMs: number;
  /** Stop opening after this many failures other than 503. */
  maxFailures: number;
}

export type ClientCommand = OpenCommand | { t: "close" };

export interface Counts {
  /** Handshakes that got 101 in the current `open` command. */
  opened: number;
  /** Attempts answered 503 in the current `open` command. */
  refused: number;
  /** Other failures (connect error, timeout, another status) in the current `open` command. */
  failed: number;
  /** Connections open right now (all commands). */
  held: number;
  /** Open connections the server closed (all commands). */
  closedByServer: number;
}

export type ClientReport =
  | { t: "ready"; fdLimit: number | null }
  | ({ t: "progress" } & Counts)
  | ({ t: "opened"; errors: string[] } & Counts)
  | ({ t: "closed" } & Counts);

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const MAX_HEADER_BYTES = 16 * 1024;
const MAX_BUFFERED_BYTES = 1024 * 1024;

const live = new Set<Socket>();
/** Set while the parent has us close everything: those closes are not the server's. */
let closing = false;
let busy = false;
const counts: Counts = { opened: 0, refused: 0, failed: 0, held: 0, closedByServer: 0 };
const errors = new Map<string, number>();

function send(r: ClientReport): void {
  toParent(r);
}

/** A masked client frame (RFC 6455 5.3) with a payload of at most 125 bytes: control frames only. */
function controlFrame(opcode: number, payload: Buffer): Buffer {
  const body = payload.subarray(0, 125);
  const mask = randomBytes(4);
  const out = Buffer.alloc(6 + body.length);
  out[0] = 0x80 | opcode;
  out[1] = 0x80 | body.length;
  mask.copy(out, 2);
  for (let i = 0; i < body.length; i++) out[6 + i] = (body[i] ?? 0) ^ (mask[i % 4] ?? 0);
  return out;
}

/** Reads server frames from `buf`; answers pings and closes. Returns what is left of an incomplete frame. */
function frames(sock: Socket, buf: Buffer): Buffer | null {
  let rest = buf;
  while (rest.length >= 2) {
    const b0 = rest[0] ?? 0;
    const b1 = rest[1] ?? 0;
    const opcode = b0 & 0x0f;
    if (b1 & 0x80) {
      // A server never masks its frames (RFC 6455 5.1).
      sock.destroy();
      return null;
    }
    let len = b1 & 0x7f;
    let off = 2;
    if (len === 126) {
      if (rest.length < 4) break;
      len = rest.readUInt16BE(2);
      off = 4;
    } else if (len === 127) {
      if (rest.length < 10) break;
      const big = rest.readBigUInt64BE(2);
      if (big > BigInt(MAX_BUFFERED_BYTES)) {
        sock.destroy();
        return null;
      }
      len = Number(big);
      off = 10;
    }
    if (rest.length < off + len) break;
    const payload = rest.subarray(off, off + len);
    rest = rest.subarray(off + len);
    if (opcode === 0x9) {
      sock.write(controlFrame(0xa, payload));
    } else if (opcode === 0x8) {
      sock.end(controlFrame(0x8, payload.subarray(0, 2)));
      return null;
    }
    // Text (the gateway's hello), binary, continuation and pong frames are read and dropped.
  }
  if (rest.length > MAX_BUFFERED_BYTES) {
    sock.destroy();
    return null;
  }
  return rest.length > 0 ? Buffer.from(rest) : null;
}

type Outcome = { kind: "ok" } | { kind: "refused" } | { kind: "failed"; why: string };

function attempt(host: string, port: number, localAddress: string, token: string, timeoutMs: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const key = randomBytes(16).toString("base64");
    const accept = createHash("sha1")
      .update(key + GUID)
      .digest("base64");
    const sock = connect({ host, port, localAddress });
    let head: Buffer = Buffer.alloc(0);
    let settled = false;
    let open = false;
    let pending: Buffer | null = null;
    const finish = (o: Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (o.kind !== "ok") sock.destroy();
      resolve(o);
    };
    const timer = setTimeout(() => finish({ kind: "failed", why: "handshake timeout" }), timeoutMs);
    sock.setNoDelay(true);
    sock.on("connect", () => {
      sock.write(
        `GET /ws HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Protocol: ${wsProtocols(token).join(", ")}\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    sock.on("data", (chunk: Buffer) => {
      if (open) {
        pending = frames(sock, pending ? Buffer.concat([pending, chunk]) : chunk);
        return;
      }
      if (settled) return;
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) {
        if (head.length > MAX_HEADER_BYTES) finish({ kind: "failed", why: "response header too large" });
        return;
      }
      const lines = head.subarray(0, end).toString("latin1").split("\r\n");
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0] ?? "")?.[1] ?? NaN);
      if (status === 503) return finish({ kind: "refused" });
      if (status !== 101) return finish({ kind: "failed", why: `HTTP ${Number.isNaN(status) ? "?" : status}` });
      const got = lines
        .find((l) => l.toLowerCase().startsWith("sec-websocket-accept:"))
        ?.slice(21)
        .trim();
      if (got !== accept) return finish({ kind: "failed", why: "bad Sec-WebSocket-Accept" });
      open = true;
      live.add(sock);
      counts.held++;
      finish({ kind: "ok" });
      const rest = head.subarray(end + 4);
      head = Buffer.alloc(0);
      if (rest.length > 0) pending = frames(sock, rest);
    });
    sock.on("error", (err: NodeJS.ErrnoException) => finish({ kind: "failed", why: err.code ?? err.message }));
    sock.on("close", () => {
      if (open) {
        open = false;
        live.delete(sock);
        counts.held--;
        if (!closing) counts.closedByServer++;
      }
      finish({ kind: "failed", why: "closed before the handshake finished" });
    });
  });
}

async function openMany(c: OpenCommand): Promise<void> {
  counts.opened = 0;
  counts.refused = 0;
  counts.failed = 0;
  errors.clear();
  closing = false;
  let next = 0;
  const stop = () => next >= c.count || (c.stopOnRefuse && counts.refused > 0) || counts.failed >= c.maxFailures;
  const progress = setInterval(() => send({ t: "progress", ...counts }), 500);
  const worker = async () => {
    while (!stop()) {
      const i = next++;
      const src = c.sources[Math.floor(i / c.perSource) % c.sources.length] ?? "127.0.0.1";
      const token = c.tokens[i % c.tokens.length] ?? "";
      const o = await attempt(c.host, c.port, src, token, c.timeoutMs);
      if (o.kind === "ok") counts.opened++;
      else if (o.kind === "refused") counts.refused++;
      else {
        counts.failed++;
        errors.set(o.why, (errors.get(o.why) ?? 0) + 1);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(c.concurrency, c.count)) }, worker));
  } finally {
    clearInterval(progress);
  }
  send({ t: "opened", ...counts, errors: [...errors].map(([why, n]) => `${why} x${n}`) });
}

function closeAll(): void {
  closing = true;
  for (const s of live) s.destroy();
}

process.on("message", (m: ClientCommand) => {
  if (m.t === "open") {
    if (busy) return;
    busy = true;
    void openMany(m).finally(() => (busy = false));
  } else if (m.t === "close") {
    closeAll();
    // "close" events come on a later turn of the loop: report once they have (or after 10 s at most).
    const deadline = Date.now() + 10_000;
    const check = setInterval(() => {
      if (counts.held > 0 && Date.now() < deadline) return;
      clearInterval(check);
      send({ t: "closed", ...counts });
    }, 20);
  }
});

process.on("disconnect", () => {
  closeAll();
  process.exit(0);
});

send({ t: "ready", fdLimit: openFileLimit() });
