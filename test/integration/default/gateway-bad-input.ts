/**
 * Bad input to the gateway, through the nginx tier of a real local platform: a bad or expired token is refused
 * at the handshake with 401 and a JSON error, and every bad frame gets exactly one `err` frame with the right
 * code while the connection stays usable. A seeded fuzz run then throws thousands of random frames at the
 * gateways; afterwards both gateway processes must be the same, alive and ready, and a normal send must still
 * be delivered.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import WebSocket from "ws";
import { ImClient } from "../../../services/lib/client/index.ts";
import type { WireMessage } from "../../../services/lib/protocol.ts";
import {
  clientFrame,
  MAX_BODY_CHARS,
  MAX_FRAME_BYTES,
  TOKEN_IN_URL,
  wsProtocols,
} from "../../../services/lib/protocol.ts";
import { issueToken, parseKeyRing } from "../../../services/lib/tokens.ts";
import { makeUsers, type TestPlatform } from "../../helpers/platform.ts";
import { rng as seededRng, type Rng } from "../../../base/prng.ts";
import { sleep } from "../../../base/sleep.ts";

/** How long one frame may wait for its answer (a send goes to the database and Kafka). */
const ANSWER_MS = 15_000;

type Frame = Record<string, unknown>;
type User = { userId: string; token: string; username: string };

/**
 * One raw WebSocket to the gateway. Answers (everything but the unsolicited notify/gnotify pushes) are queued
 * in arrival order; `next` takes the oldest one.
 */
class RawConn {
  readonly answers: Frame[] = [];
  readonly pushes: Frame[] = [];
  /** Frames the gateway must never send: binary ones, or text that is not a JSON object with a `t`. */
  readonly anomalies: string[] = [];
  closed: { code: number; reason: string } | null = null;
  hello: Frame = {};
  private wake: (() => void) | null = null;

  private constructor(readonly ws: WebSocket) {
    ws.on("message", (data, isBinary) => {
      const text = Buffer.isBuffer(data)
        ? data.toString("utf8")
        : Array.isArray(data)
          ? Buffer.concat(data).toString("utf8")
          : Buffer.from(data).toString("utf8");
      let f: unknown;
      try {
        f = JSON.parse(text);
      } catch {
        f = undefined;
      }
      if (isBinary || f === null || typeof f !== "object" || Array.isArray(f) || typeof (f as Frame).t !== "string") {
        this.anomalies.push(`${isBinary ? "binary" : "text"} frame: ${text.slice(0, 200)}`);
      } else if ((f as Frame).t === "notify" || (f as Frame).t === "gnotify") {
        this.pushes.push(f as Frame);
      } else {
        this.answers.push(f as Frame);
      }
      this.poke();
    });
    ws.on("close", (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.poke();
    });
    ws.on("error", () => undefined);
  }

  private poke(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /** Connects with `token` and waits for the hello frame, which must come first. */
  static async open(url: string, token: string): Promise<RawConn> {
    const ws = new WebSocket(url, wsProtocols(token), {
      perMessageDeflate: false,
      handshakeTimeout: 10_000,
    });
    const c = new RawConn(ws);
    all.add(c);
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("unexpected-response", (_req, res) => reject(new Error(`handshake refused with ${res.statusCode}`)));
      ws.once("error", reject);
    });
    c.hello = await c.next(10_000);
    assert.equal(c.hello.t, "hello", `first frame must be hello, got ${JSON.stringify(c.hello)}`);
    return c;
  }

  send(data: string | Buffer, binary = false): void {
    this.ws.send(typeof data === "string" ? Buffer.from(data, "utf8") : data, { binary });
  }

  /** The next answer; throws if none arrives within `timeoutMs` or the connection closes first. */
  async next(timeoutMs = ANSWER_MS): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const f = this.answers.shift();
      if (f !== undefined) return f;
      if (this.closed)
        throw new Error(`connection closed (${this.closed.code} ${this.closed.reason}) while waiting for an answer`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no answer within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.wake = () => {
          clearTimeout(t);
          r();
        };
      });
    }
  }

  async request(data: string | Buffer, binary = false): Promise<Frame> {
    this.send(data, binary);
    return this.next();
  }

  /** The connection still answers in order: a ping gets its pong, and nothing else is waiting. */
  async assertUsable(rid: string): Promise<void> {
    assert.deepEqual(await this.request(JSON.stringify({ t: "ping", rid })), { t: "pong", rid });
    await sleep(200);
    assert.deepEqual(this.answers, [], "no answer beyond one per frame");
    assert.deepEqual(this.anomalies, []);
    assert.equal(this.closed, null);
  }
}

const all = new Set<RawConn>();

/** An `err` frame with exactly these fields: t, error, message and (only when expected) rid. */
function assertErr(f: Frame, code: string, rid?: string): void {
  const what = JSON.stringify(f);
  assert.equal(f.t, "err", what);
  assert.equal(f.error, code, what);
  assert.equal(typeof f.message, "string", what);
  assert.ok((f.message as string).length > 0, what);
  assert.deepEqual(
    Object.keys(f).sort(),
    rid === undefined ? ["error", "message", "t"] : ["error", "message", "rid", "t"],
    what,
  );
  if (rid !== undefined) assert.equal(f.rid, rid, what);
}

/** A WebSocket handshake that the gateway must refuse: its HTTP status, content type and JSON body. */
/** A handshake that must be refused; `token`, when given, is offered as the subprotocol the clients use. */
function refusedHandshake(url: string, token?: string): Promise<{ status: number; contentType: string; body: Frame }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, token === undefined ? [] : wsProtocols(token), {
      perMessageDeflate: false,
      handshakeTimeout: 10_000,
    });
    ws.on("error", (err) => reject(err));
    ws.on("open", () => {
      ws.terminate();
      reject(new Error("the handshake was accepted"));
    });
    ws.on("unexpected-response", (_req, res) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString("utf8")));
      res.on("end", () => {
        try {
          resolve({
            status: res.statusCode ?? 0,
            contentType: String(res.headers["content-type"] ?? ""),
            body: JSON.parse(text) as Frame,
          });
        } catch {
          reject(new Error(`refusal body is not JSON: ${text}`));
        }
        ws.terminate();
      });
    });
  });
}

function assertRefused(r: { status: number; contentType: string; body: Frame }, code: string, status = 401): void {
  assert.equal(r.status, status, JSON.stringify(r));
  assert.match(r.contentType, /^application\/json/);
  assert.equal(r.body.error, code, JSON.stringify(r.body));
  assert.equal(typeof r.body.message, "string");
}

// ---------------------------------------------------------------------------------------------------------
// The fuzzer: a seeded PRNG (mulberry32), frame generators, and an oracle that says which answer each frame
// must get (from the protocol: MAX_FRAME_BYTES, JSON, the clientFrame schema, and what exists on the platform).

const ALPHABETS = [
  "abcdefghijklmnopqrstuvwxyz0123456789",
  '{}[]":,\\ \t\r\n-+.eE0123456789truefalsn',
  "\u0000\u0001\u0007\u001f\u007f",
  "éü€中文ß",
  "😀🦄🏳️‍🌈", // surrogate pairs and joiners
  "\u200b\u200d\u202e\ufeff\ufffd\uffff",
  "\ud800\udbff\udc00\udfff", // lone surrogates once picked one by one
];

function randomString(rng: Rng, maxLen: number): string {
  const len = rng.int(0, maxLen);
  const alphabet = [...rng.pick(ALPHABETS)];
  let s = "";
  for (let i = 0; i < len; i++) s += rng.chance(0.2) ? rng.pick(ALPHABETS.join("").split("")) : rng.pick(alphabet);
  return s;
}

const NUMBERS = [
  0,
  -0,
  1,
  -1,
  1.5,
  -2147483648,
  2 ** 31,
  2 ** 53,
  Number.MAX_SAFE_INTEGER,
  Number.MAX_SAFE_INTEGER + 2,
  2 ** 64,
  1e21,
  1e308,
  -1e308,
  5e-324,
  0.1,
];

function randomJson(rng: Rng, depth: number): unknown {
  const kind = depth <= 0 ? rng.int(0, 3) : rng.int(0, 5);
  switch (kind) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.chance(0.5) ? rng.pick(NUMBERS) : rng.int(-1e6, 1e6);
    case 3:
      return randomString(rng, 24);
    case 4:
      return Array.from({ length: rng.int(0, 4) }, () => randomJson(rng, depth - 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = rng.int(0, 4); i > 0; i--) {
        o[
          rng.pick([
            "t",
            "rid",
            "to",
            "body",
            "cmid",
            "after",
            "limit",
            "group",
            "kind",
            "id",
            "__proto__",
            "constructor",
            randomString(rng, 8),
          ])
        ] = randomJson(rng, depth - 1);
      }
      return o;
    }
  }
}

interface FuzzWorld {
  /** Users that exist (sends to them are stored). */
  users: string[];
  /** A group every fuzz user is a member of. */
  memberGroup: string;
  /** A group no fuzz user is a member of. */
  foreignGroup: string;
  /** Ids that name nothing (one above the BIGINT range). */
  unknownIds: string[];
}

interface FuzzFrame {
  data: Buffer;
  binary: boolean;
  category: string;
}

function validFrame(rng: Rng, w: FuzzWorld, n: number): Record<string, unknown> {
  const rid = `f${n}`;
  switch (rng.int(0, 4)) {
    case 0: {
      const group = rng.chance(0.4);
      const id = group
        ? rng.pick([w.memberGroup, w.foreignGroup, ...w.unknownIds])
        : rng.pick([...w.users, ...w.unknownIds]);
      // Unique client message ids: the oracle never has to predict a duplicate.
      return {
        t: "send",
        rid,
        cmid: `c${n}-${rng.u32().toString(36)}`,
        to: { kind: group ? "group" : "user", id },
        body: rng.chance(0.5) ? `fuzz ${n}` : randomString(rng, 200) || "x",
      };
    }
    case 1:
      return rng.chance(0.5)
        ? { t: "pull", rid, after: rng.int(0, 50) }
        : { t: "pull", rid, after: rng.pick([0, Number.MAX_SAFE_INTEGER]), limit: rng.int(1, 500) };
    case 2:
      return {
        t: "gpull",
        rid,
        group: rng.pick([w.memberGroup, w.foreignGroup, ...w.unknownIds]),
        after: rng.int(0, 5),
        ...(rng.chance(0.5) ? { limit: rng.int(1, 500) } : {}),
      };
    case 3:
      return { t: "sync", rid };
    default:
      return rng.chance(0.3) ? { t: "ping" } : { t: "ping", rid };
  }
}

function mutate(rng: Rng, f: Record<string, unknown>, n: number): void {
  const keys = Object.keys(f);
  const key = rng.chance(0.15)
    ? rng.pick(["t", "rid", "cmid", "to", "body", "after", "limit", "group", "extra"])
    : rng.pick(keys.length > 0 ? keys : ["t"]);
  const target: Record<string, unknown> =
    key === "to" && typeof f.to === "object" && f.to !== null && rng.chance(0.6)
      ? (f.to as Record<string, unknown>)
      : f;
  const k = target === f ? key : rng.pick(["kind", "id", "extra"]);
  switch (rng.int(0, 7)) {
    case 0: // wrong type
      target[k] = rng.pick<unknown>([null, true, 0, 12345, "", "string", [], [1, 2], {}, { a: 1 }]);
      return;
    case 1: // huge, negative, fractional numbers
      target[k] = rng.pick(NUMBERS);
      return;
    case 2: // unicode (unique, so a stored cmid is never reused)
      target[k] = `${randomString(rng, 40)}#${n}`;
      return;
    case 3: // very long strings, some past MAX_BODY_CHARS, some past MAX_FRAME_BYTES (three of them stay under ws's 64 KiB)
      target[k] = "z".repeat(rng.pick([64, 65, MAX_BODY_CHARS, MAX_BODY_CHARS + 1, 7000, 9000, 20_000]));
      return;
    case 4:
      delete target[k];
      return;
    case 5: // id-like strings around the id rules
      target[k] = rng.pick([
        "0",
        "01",
        "-1",
        " 1",
        "1 ",
        "1e3",
        "+1",
        "12345678901234567890",
        "9223372036854775807",
        "9223372036854775808",
        "99999999999999999999",
        "١٢٣",
      ]);
      return;
    case 6:
      target[k] = rng.pick([
        "send",
        "pull",
        "gpull",
        "sync",
        "ping",
        "pong",
        "err",
        "hello",
        "SEND",
        "",
        "constructor",
        "__proto__",
      ]);
      return;
    default:
      target[k] = randomJson(rng, 3);
  }
}

function makeFrame(rng: Rng, w: FuzzWorld, n: number): FuzzFrame {
  const text = (s: string, category: string): FuzzFrame => ({ data: Buffer.from(s, "utf8"), binary: false, category });
  switch (rng.int(0, 9)) {
    case 0:
      return text(randomString(rng, 300), "random text");
    case 1:
      return {
        data: Buffer.from(Array.from({ length: rng.int(0, 300) }, () => rng.int(0, 255))),
        binary: true,
        category: "random binary",
      };
    case 2:
      return text(JSON.stringify(randomJson(rng, 4)) ?? "null", "random JSON");
    case 3: // a valid frame sent binary
      return { data: Buffer.from(JSON.stringify(validFrame(rng, w, n))), binary: true, category: "binary JSON" };
    case 4:
    case 5: {
      const f = validFrame(rng, w, n);
      for (let i = rng.chance(0.3) ? 0 : rng.int(1, 3); i > 0; i--) mutate(rng, f, n);
      return text(JSON.stringify(f), "valid or mutated frame");
    }
    case 6: {
      const d = rng.pick([10, 100, 1000, 2000, 4000, 30_000]);
      const shape = rng.int(0, 3);
      const deep =
        shape === 0
          ? "[".repeat(d) + "]".repeat(d)
          : `${'{"a":'.repeat(Math.floor(d / 3))}1${"}".repeat(Math.floor(d / 3))}`;
      if (shape < 2) return text(deep, "deep JSON");
      // Deep JSON inside an otherwise valid frame.
      return text(
        shape === 2
          ? `{"t":"ping","rid":"d${n}","x":${deep}}`
          : `{"t":"send","rid":"d${n}","cmid":"d${n}","to":${deep},"body":"x"}`,
        "deep JSON",
      );
    }
    case 7: {
      const s = JSON.stringify(validFrame(rng, w, n));
      return text(s.slice(0, rng.int(0, s.length - 1)), "truncated JSON");
    }
    case 8: // over MAX_FRAME_BYTES, under ws's 64 KiB
      return text(
        JSON.stringify({ t: "ping", rid: `o${n}`, pad: "p".repeat(rng.int(MAX_FRAME_BYTES, 60_000)) }),
        "oversize",
      );
    default: // odd but well-formed text
      return text(
        rng.pick([
          `\ufeff{"t":"ping","rid":"b${n}"}`,
          `{"t":"ping","t":"sync","rid":"dup${n}"}`,
          `  {"t":"ping","rid":"w${n}"}\n`,
          `{"t":"ping","rid":"\\ud800${n}"}`,
          "NaN",
          "Infinity",
          "undefined",
          '"ping"',
          "[]",
          "{}",
          "1e999",
        ]),
        "odd text",
      );
  }
}

type Expected =
  | { kind: "err"; code: string; rid: string | undefined }
  | { kind: "pong"; rid: string | undefined }
  /** `dupOf`: the message id a send with this client message id was already stored as. */
  | { kind: "ack"; rid: string; cmid: string; dupOf: string | undefined }
  | { kind: "res"; rid: string; shape: "pull" | "sync"; limit: number };

/**
 * What the gateway must answer to `f`, from the protocol and what exists on the platform. `stored`: the client
 * message ids this connection's user has had acknowledged, with their message ids (a resend is a duplicate).
 */
function oracle(f: FuzzFrame, w: FuzzWorld, stored: Map<string, string>): Expected {
  if (f.binary) return { kind: "err", code: "bad_request", rid: undefined };
  if (f.data.length > MAX_FRAME_BYTES) return { kind: "err", code: "frame_too_large", rid: undefined };
  let raw: unknown;
  try {
    raw = JSON.parse(f.data.toString("utf8"));
  } catch {
    return { kind: "err", code: "malformed_json", rid: undefined };
  }
  const rawRid =
    raw !== null && typeof raw === "object" && !Array.isArray(raw) && typeof (raw as Frame).rid === "string"
      ? ((raw as Frame).rid as string).slice(0, 64)
      : undefined;
  const p = clientFrame.safeParse(raw);
  if (!p.success) return { kind: "err", code: "bad_request", rid: rawRid };
  const v = p.data;
  const isGroup = (id: string) => id === w.memberGroup || id === w.foreignGroup;
  switch (v.t) {
    case "ping":
      return { kind: "pong", rid: v.rid };
    case "sync":
      return { kind: "res", rid: v.rid, shape: "sync", limit: 0 };
    case "pull":
      return { kind: "res", rid: v.rid, shape: "pull", limit: v.limit ?? 200 };
    case "gpull":
      if (v.group === w.memberGroup) return { kind: "res", rid: v.rid, shape: "pull", limit: v.limit ?? 200 };
      return { kind: "err", code: isGroup(v.group) ? "not_a_member" : "unknown_group", rid: v.rid };
    case "send": {
      const ack = { kind: "ack", rid: v.rid, cmid: v.cmid, dupOf: stored.get(v.cmid) } as const;
      if (ack.dupOf !== undefined) return ack;
      if (v.to.kind === "user")
        return w.users.includes(v.to.id) ? ack : { kind: "err", code: "unknown_user", rid: v.rid };
      if (v.to.id === w.memberGroup) return ack;
      return { kind: "err", code: isGroup(v.to.id) ? "not_a_member" : "unknown_group", rid: v.rid };
    }
  }
}

/** Null when `got` is the answer `exp` asks for, else why not. */
function mismatch(exp: Expected, got: Frame): string | null {
  const keys = Object.keys(got).sort().join(",");
  switch (exp.kind) {
    case "err":
      if (got.t !== "err" || got.error !== exp.code) return `expected err ${exp.code}`;
      if (got.rid !== exp.rid) return `expected rid ${JSON.stringify(exp.rid)}`;
      if (typeof got.message !== "string" || got.message.length === 0) return "err without a message";
      return keys === (exp.rid === undefined ? "error,message,t" : "error,message,rid,t")
        ? null
        : `unexpected fields ${keys}`;
    case "pong":
      return keys === (exp.rid === undefined ? "t" : "rid,t") && got.t === "pong" && got.rid === exp.rid
        ? null
        : `expected pong ${JSON.stringify(exp.rid)}`;
    case "ack": {
      const r = got.result as Frame | undefined;
      if (got.t !== "ack" || got.rid !== exp.rid || keys !== "result,rid,t" || !r) return "expected ack";
      const ok =
        typeof r.messageId === "string" &&
        /^[1-9][0-9]*$/.test(r.messageId) &&
        (r.groupSeq === null || (typeof r.groupSeq === "number" && r.groupSeq > 0));
      if (!ok) return "malformed ack result";
      if (exp.dupOf === undefined) return r.duplicate === false ? null : "a first send acknowledged as a duplicate";
      return r.duplicate === true && r.messageId === exp.dupOf ? null : `expected a duplicate of ${exp.dupOf}`;
    }
    case "res": {
      const r = got.result as Frame | undefined;
      if (got.t !== "res" || got.rid !== exp.rid || keys !== "result,rid,t" || !r) return "expected res";
      if (exp.shape === "sync")
        return typeof r.inboxHead === "number" && Array.isArray(r.readGroups) ? null : "malformed sync result";
      return Array.isArray(r.messages) && r.messages.length <= exp.limit && typeof r.head === "number"
        ? null
        : "malformed pull result";
    }
  }
}

const describeExpected = (e: Expected) => (e.kind === "err" ? e.code : e.kind);

// ---------------------------------------------------------------------------------------------------------

export function gatewayBadInputSuite(shared: () => Promise<TestPlatform>): void {
  describe("gateway: bad input gets exactly one err frame, never a crash", { timeout: 600_000 }, () => {
    let platform: TestPlatform;
    let users: User[] = [];
    const clients: ImClient[] = [];

    before(async () => {
      platform = await shared();
      // 0-4 for the targeted cases (4 also owns the fuzz run's foreign group), 5-12 for the fuzz connections.
      users = await makeUsers(platform.api, 13, "gbi");
    });

    after(async () => {
      for (const c of all) c.ws.terminate();
      for (const c of clients) c.close();
    });

    const user = (i: number): User => {
      const u = users[i];
      if (!u) throw new Error(`no user ${i}`);
      return u;
    };

    it("refuses a bad token at the handshake with 401 unauthorized", async () => {
      const a = user(0);
      const ring = parseKeyRing(platform.secrets.tokenKeys, platform.secrets.tokenActiveKid);
      const kid = ring.activeKid;
      const wrongSecret = issueToken(
        { activeKid: kid, keys: new Map([[kid, Buffer.from("w".repeat(48))]]) },
        a.userId,
        3600,
      ).token;
      const unknownKid = issueToken(
        { activeKid: "nosuchkid", keys: new Map([["nosuchkid", Buffer.from("k".repeat(48))]]) },
        a.userId,
        3600,
      ).token;
      // A's signature on B's claims: the payload is swapped, the signature is not.
      const [v, k, , sig] = a.token.split(".");
      const forgedPayload = Buffer.from(
        JSON.stringify({
          sub: user(1).userId,
          iat: Math.floor(Date.now() / 1000),
          exp: Math.floor(Date.now() / 1000) + 3600,
        }),
      ).toString("base64url");
      const forged = `${v}.${k}.${forgedPayload}.${sig}`;
      const cases: Array<[string, string | undefined]> = [
        ["no token", undefined],
        ["an empty token", ""],
        ["garbage", "not-a-token"],
        ["four parts, not v1", "v2.a.b.c"],
        ["a wrong secret", wrongSecret],
        ["an unknown key id", unknownKid],
        ["a swapped payload", forged],
      ];
      for (const [name, token] of cases) {
        const r = await refusedHandshake(platform.wsUrl, token);
        assert.doesNotThrow(() => assertRefused(r, "unauthorized"), `${name}: ${JSON.stringify(r)}`);
      }
      // The same path with the real token is accepted: the refusals above are about the tokens only.
      const ok = await RawConn.open(platform.wsUrl, a.token);
      assert.equal(ok.hello.userId, a.userId);
      ok.ws.close();
    });

    it("refuses a token in the URL with 400 token_in_url, even a valid one, and never echoes it", async () => {
      const a = user(0);
      const r = await refusedHandshake(`${platform.wsUrl}?token=${encodeURIComponent(a.token)}`);
      assertRefused(r, "token_in_url", 400);
      assert.equal(r.body.message, TOKEN_IN_URL);
      assert.ok(!JSON.stringify(r).includes(a.token));
    });

    it("refuses an expired token with 401 token_expired", async () => {
      const a = user(0);
      const ring = parseKeyRing(platform.secrets.tokenKeys, platform.secrets.tokenActiveKid);
      const expired = issueToken(ring, a.userId, 60, Date.now() - 3_600_000).token;
      assertRefused(await refusedHandshake(platform.wsUrl, expired), "token_expired");
      // A token minted the same way but current is accepted, so the refusal is about expiry, not the key ring.
      const fresh = await RawConn.open(platform.wsUrl, issueToken(ring, a.userId, 60).token);
      assert.equal(fresh.hello.userId, a.userId);
      fresh.ws.close();
    });

    it("answers a frame over MAX_FRAME_BYTES with frame_too_large and keeps the connection", async () => {
      const c = await RawConn.open(platform.wsUrl, user(0).token);
      const padded = (rid: string, bytes: number) => {
        const s = JSON.stringify({ t: "ping", rid });
        return s + " ".repeat(bytes - Buffer.byteLength(s));
      };
      // Exactly at the limit is fine; one byte over is not, and the frame is not even parsed (no rid echoed).
      assert.deepEqual(await c.request(padded("edge", MAX_FRAME_BYTES)), { t: "pong", rid: "edge" });
      assertErr(await c.request(padded("over", MAX_FRAME_BYTES + 1)), "frame_too_large");
      assertErr(await c.request(padded("big", 60 * 1024)), "frame_too_large");
      // The limit is in bytes: 2,800 three-byte characters are under MAX_BODY_CHARS but over MAX_FRAME_BYTES.
      const euro = JSON.stringify({
        t: "send",
        rid: "euro",
        cmid: "euro",
        to: { kind: "user", id: user(1).userId },
        body: "€".repeat(2800),
      });
      assert.ok(Buffer.byteLength(euro) > MAX_FRAME_BYTES && 2800 <= MAX_BODY_CHARS);
      assertErr(await c.request(euro), "frame_too_large");
      assert.deepEqual(await c.request(JSON.stringify({ t: "ping", rid: "x" })), { t: "pong", rid: "x" });
      await c.assertUsable("after-oversize");
      c.ws.close();
    });

    it("answers malformed JSON with malformed_json and a binary frame with bad_request", async () => {
      const c = await RawConn.open(platform.wsUrl, user(0).token);
      for (const bad of [
        "{",
        '{"t":"ping"',
        '{"t":"ping","rid":"m1",}',
        "{'t':'ping'}",
        "not json",
        "",
        "NaN",
        '\ufeff{"t":"ping"}',
        '{"t":"ping"}}',
      ]) {
        assertErr(await c.request(bad), "malformed_json");
      }
      // Binary frames are refused whatever they hold, even a valid frame (and its rid is not read).
      assertErr(await c.request(Buffer.from(JSON.stringify({ t: "ping", rid: "b1" })), true), "bad_request");
      assertErr(await c.request(Buffer.alloc(0), true), "bad_request");
      assertErr(await c.request(Buffer.from([0xff, 0x00, 0xc3, 0x28, 0x80]), true), "bad_request");
      await c.assertUsable("after-malformed");
      c.ws.close();
    });

    it("closes only the offending connection (1007) on a text frame that is not UTF-8", async () => {
      const bad = await RawConn.open(platform.wsUrl, user(0).token);
      const good = await RawConn.open(platform.wsUrl, user(0).token);
      bad.send(Buffer.from([0x7b, 0xc3, 0x28, 0x7d]), false);
      const deadline = Date.now() + 10_000;
      while (!bad.closed && Date.now() < deadline) await sleep(50);
      assert.equal(bad.closed?.code, 1007, `close: ${JSON.stringify(bad.closed)}`);
      assert.deepEqual(bad.answers, []);
      await good.assertUsable("neighbour");
      good.ws.close();
    });

    it("answers schema-invalid frames with bad_request, echoing the rid when one was given", async () => {
      const peer = user(1).userId;
      const c = await RawConn.open(platform.wsUrl, user(0).token);
      const longRid = "r".repeat(100);
      const cases: Array<[unknown, string | undefined]> = [
        [{ t: "nosuch", rid: "s1" }, "s1"],
        [{ t: "send", rid: "s2" }, "s2"],
        [
          { t: "send", rid: "s3", cmid: "c3", to: { kind: "user", id: peer }, body: "b".repeat(MAX_BODY_CHARS + 1) },
          "s3",
        ],
        [{ t: "send", rid: "s4", cmid: "c4", to: { kind: "user", id: peer }, body: "" }, "s4"],
        [{ t: "send", rid: "s5", cmid: "c5", to: { kind: "channel", id: peer }, body: "hi" }, "s5"],
        [{ t: "send", rid: "s6", cmid: "c6", to: { kind: "user", id: Number(peer) }, body: "hi" }, "s6"],
        [{ t: "send", rid: "s7", cmid: "c".repeat(65), to: { kind: "user", id: peer }, body: "hi" }, "s7"],
        [{ t: "send", rid: "s8", cmid: "c8", to: { kind: "user", id: "0123" }, body: "hi" }, "s8"],
        [{ t: "pull", rid: "s9", after: -1 }, "s9"],
        [{ t: "pull", rid: "s10", after: 1.5 }, "s10"],
        [{ t: "pull", rid: "s11", after: 2 ** 53 }, "s11"],
        [{ t: "pull", rid: "s12", after: 0, limit: 501 }, "s12"],
        [{ t: "pull", rid: "s13", after: "0" }, "s13"],
        [{ t: "gpull", rid: "s14", group: "0", after: 0 }, "s14"],
        [{ t: "sync", rid: "s15", extra: true }, "s15"],
        [{ t: "sync", rid: longRid }, longRid.slice(0, 64)],
        [{ t: "nosuch" }, undefined],
        [{ rid: "s17" }, "s17"],
        [{ t: "sync", rid: 17 }, undefined],
        [{ t: "ping", rid: ["s18"] }, undefined],
        [null, undefined],
        [42, undefined],
        ["ping", undefined],
        [[{ t: "ping", rid: "s19" }], undefined],
        [true, undefined],
      ];
      for (const [frame, rid] of cases) {
        const got = await c.request(JSON.stringify(frame));
        assert.doesNotThrow(
          () => assertErr(got, "bad_request", rid),
          `${JSON.stringify(frame).slice(0, 120)} -> ${JSON.stringify(got)}`,
        );
      }
      // The message names the offending field.
      assert.match(String((await c.request(JSON.stringify(cases[2]?.[0]))).message), /^body: /);
      await c.assertUsable("after-schema");
      c.ws.close();
    });

    it("answers sends to unknown or foreign conversations with unknown_group, not_a_member, unknown_user", async () => {
      const [a, b, cUser] = [user(0), user(1), user(2)];
      const { groupId } = await platform.api.createGroup(b.token, "not-for-a", [cUser.userId]);
      const c = await RawConn.open(platform.wsUrl, a.token);
      const send = (rid: string, kind: "user" | "group", id: string) =>
        c.request(JSON.stringify({ t: "send", rid, cmid: `${rid}-${Date.now()}`, to: { kind, id }, body: "hello" }));
      for (const id of ["1", "9223372036854775807", "9999999999999999999"]) {
        assertErr(await send(`ug-${id}`, "group", id), "unknown_group", `ug-${id}`);
        assertErr(await send(`uu-${id}`, "user", id), "unknown_user", `uu-${id}`);
      }
      assertErr(await send("nm", "group", groupId), "not_a_member", "nm");
      assertErr(
        await c.request(JSON.stringify({ t: "gpull", rid: "gnm", group: groupId, after: 0 })),
        "not_a_member",
        "gnm",
      );
      assertErr(
        await c.request(JSON.stringify({ t: "gpull", rid: "gug", group: "1", after: 0 })),
        "unknown_group",
        "gug",
      );
      // The same connection still sends, and a member of the group may post to it.
      const ack = await send("ok", "user", b.userId);
      assert.equal(ack.t, "ack", JSON.stringify(ack));
      assert.equal(ack.rid, "ok");
      assert.equal((ack.result as Frame).duplicate, false);
      const member = await RawConn.open(platform.wsUrl, cUser.token);
      const gack = await member.request(
        JSON.stringify({
          t: "send",
          rid: "g1",
          cmid: `g1-${Date.now()}`,
          to: { kind: "group", id: groupId },
          body: "members only",
        }),
      );
      assert.equal(gack.t, "ack", JSON.stringify(gack));
      assert.equal((gack.result as Frame).groupSeq, 1);
      await c.assertUsable("after-targets");
      c.ws.close();
      member.ws.close();
    });

    it("survives 3,000 fuzzed frames: one answer each, gateways the same processes, alive and ready, delivery still works", async (t) => {
      const FRAMES = 3000;
      const seed = Number(process.env.GATEWAY_FUZZ_SEED ?? 0x5eed1e55) >>> 0;
      const replicas = platform.spec.services.gateway.replicas;
      assert.equal(replicas, 2, "the local stack runs gateway-1 and gateway-2");
      const gatewayIds = Array.from({ length: replicas }, (_, i) => `gateway-${i + 1}`);
      const pidsBefore = gatewayIds.map((id) => platform.pid(id));

      const fuzzUsers = users.slice(5);
      const owner = user(4);
      const memberGroup = (
        await platform.api.createGroup(
          user(5).token,
          "fuzz-members",
          fuzzUsers.slice(1).map((u) => u.userId),
        )
      ).groupId;
      // With a member besides the owner: user-center refuses an empty member list (see createGroup's default).
      const foreignGroup = (await platform.api.createGroup(owner.token, "fuzz-foreign", [user(3).userId])).groupId;
      const world: FuzzWorld = {
        users: users.map((u) => u.userId),
        memberGroup,
        foreignGroup,
        unknownIds: ["1", "42", "9223372036854775807", "9999999999999999999"],
      };

      // At least four connections through nginx, one user each (so each user's sends are in one ordered stream),
      // with both gateway instances among them; bounded by the number of fuzz users.
      const conns: RawConn[] = [];
      const perInstance = new Map<string, number>();
      for (const u of fuzzUsers) {
        if (conns.length >= 4 && gatewayIds.every((id) => (perInstance.get(id) ?? 0) > 0)) break;
        const c = await RawConn.open(platform.wsUrl, u.token);
        const inst = String(c.hello.instance);
        if (conns.length >= 4 && (perInstance.get(inst) ?? 0) > 0) {
          c.ws.close();
          continue;
        }
        conns.push(c);
        perInstance.set(inst, (perInstance.get(inst) ?? 0) + 1);
      }
      assert.deepEqual(
        [...perInstance.keys()].sort(),
        gatewayIds,
        `nginx spread the fuzz connections as ${JSON.stringify([...perInstance])}`,
      );

      const rng = seededRng(seed);
      const frames = Array.from({ length: FRAMES }, (_, n) => makeFrame(rng, world, n));
      const failures: string[] = [];
      const outcomes = new Map<string, number>();
      const categories = new Map<string, number>();
      let answered = 0;
      const t0 = Date.now();

      await Promise.all(
        conns.map(async (c, ci) => {
          const stored = new Map<string, string>();
          for (let n = ci; n < FRAMES; n += conns.length) {
            const f = frames[n];
            if (!f) continue;
            const exp = oracle(f, world, stored);
            categories.set(f.category, (categories.get(f.category) ?? 0) + 1);
            let got: Frame;
            try {
              got = await c.request(f.data, f.binary);
            } catch (err) {
              failures.push(
                `#${n} (${f.category}, conn ${ci}): ${(err as Error).message}; frame ${JSON.stringify(f.data.toString("utf8").slice(0, 160))}`,
              );
              return; // this connection is out of step from here on
            }
            answered++;
            const why = mismatch(exp, got);
            const key = got.t === "err" ? `err ${String(got.error)}` : String(got.t);
            outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
            if (why === null && exp.kind === "ack" && exp.dupOf === undefined)
              stored.set(exp.cmid, String((got.result as Frame).messageId));
            if (why !== null) {
              failures.push(
                `#${n} (${f.category}, conn ${ci}, ${f.binary ? "binary" : "text"}): ${why} (${describeExpected(exp)}), ` +
                  `got ${JSON.stringify(got).slice(0, 300)}; frame ${JSON.stringify(f.data.toString("utf8").slice(0, 200))}`,
              );
            }
          }
        }),
      );
      t.diagnostic(
        `seed ${seed}: ${answered}/${FRAMES} frames answered in ${Date.now() - t0} ms over ${conns.length} connections ${JSON.stringify([...perInstance])}`,
      );
      t.diagnostic(`categories ${JSON.stringify(Object.fromEntries(categories))}`);
      t.diagnostic(`answers ${JSON.stringify(Object.fromEntries(outcomes))}`);
      assert.deepEqual(
        failures.slice(0, 20),
        [],
        `${failures.length} of ${FRAMES} frames got the wrong answer (seed ${seed})`,
      );
      assert.equal(answered, FRAMES);
      // The run exercised every kind of answer, so it cannot pass by answering everything the same way.
      for (const k of [
        "err malformed_json",
        "err bad_request",
        "err frame_too_large",
        "err unknown_user",
        "err unknown_group",
        "err not_a_member",
        "pong",
        "ack",
        "res",
      ]) {
        assert.ok(
          (outcomes.get(k) ?? 0) > 0,
          `no "${k}" answer in the run: ${JSON.stringify(Object.fromEntries(outcomes))}`,
        );
      }
      // No connection was dropped, none got a second answer to any frame, and all still answer in order.
      for (const [i, c] of conns.entries()) await c.assertUsable(`after-fuzz-${i}`);
      for (const c of conns)
        for (const p of c.pushes)
          assert.ok(
            (p.t === "notify" && typeof p.seq === "number") || (p.t === "gnotify" && typeof p.groupSeq === "number"),
            JSON.stringify(p),
          );

      // Every gateway instance is the same process as before, alive and ready.
      for (const [i, id] of gatewayIds.entries()) {
        const pid = platform.pid(id);
        assert.equal(pid, pidsBefore[i], `${id} was restarted`);
        assert.doesNotThrow(() => process.kill(pid, 0), `${id} (pid ${pid}) is not running`);
        const res = await fetch(
          `http://${platform.spec.local.bindAddress}:${platform.spec.local.ports.gateway + i}/readyz`,
          { signal: AbortSignal.timeout(5000) },
        );
        const body = (await res.json()) as { status?: string };
        assert.equal(res.status, 200, `${id} /readyz: ${JSON.stringify(body)}`);
        assert.equal(body.status, "ready");
      }

      // And a normal send from one client to another is still delivered.
      const [from, to] = [user(0), user(1)];
      const sender = new ImClient({ url: platform.wsUrl, token: from.token });
      const receiver = new ImClient({ url: platform.wsUrl, token: to.token });
      clients.push(sender, receiver);
      await Promise.all([sender.connect(), receiver.connect()]);
      const body = `after the fuzz ${seed} ${Date.now()}`;
      const delivered = new Promise<WireMessage>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("the message was not delivered within 20 s")), 20_000);
        receiver.on("message", (m) => {
          if (m.body !== body) return;
          clearTimeout(timer);
          resolve(m);
        });
      });
      const ack = await sender.send({ kind: "user", id: to.userId }, body);
      assert.equal(ack.duplicate, false);
      const m = await delivered;
      assert.equal(m.from, from.userId);
      assert.equal(m.messageId, ack.messageId);
      assert.deepEqual(m.to, { kind: "user", id: to.userId });
      for (const c of conns) c.ws.close();
    });
  });
}
